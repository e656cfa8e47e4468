output "blob_url" {
  description = "ZIXLY_BLOB_URL for the compose stack"
  value       = module.storage.blob_url
}

output "secret_arns" {
  description = "Secret key => ARN"
  value       = module.secrets.secret_arns
}
