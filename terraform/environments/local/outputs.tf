output "queue_url" {
  description = "URL of the job queue"
  value       = module.queue.queue_url
}

output "dlq_url" {
  description = "URL of the dead-letter queue"
  value       = module.queue.dlq_url
}

output "blob_url" {
  description = "ZIXLY_BLOB_URL for the compose stack"
  value       = module.storage.blob_url
}

output "secret_arns" {
  description = "Secret key => ARN"
  value       = module.secrets.secret_arns
}
