output "cluster_name" {
  description = "ECS cluster"
  value       = module.service.cluster_name
}

output "task_definition_arns" {
  description = "Process => task definition ARN"
  value       = module.service.task_definition_arns
}

output "database_address" {
  description = "RDS host name"
  value       = module.database.address
}

output "database_master_secret_arn" {
  description = "RDS-managed master credentials (build the database-url secret from them)"
  value       = module.database.master_user_secret_arn
}

output "blob_url" {
  description = "ZIXLY_BLOB_URL"
  value       = module.storage.blob_url
}

output "secret_arns" {
  description = "Secret key => ARN (put the values out-of-band)"
  value       = module.secrets.secret_arns
}
