output "cluster_name" {
  description = "ECS cluster name"
  value       = aws_ecs_cluster.this.name
}

output "service_names" {
  description = "Process => ECS service name"
  value       = { for k, s in aws_ecs_service.this : k => s.name }
}

output "task_definition_arns" {
  description = "Process => task definition ARN (run the webhook one with command python -m db upgrade to migrate)"
  value       = { for k, t in aws_ecs_task_definition.this : k => t.arn }
}

output "tasks_security_group_id" {
  description = "Security group of the tasks (allow it into the database)"
  value       = aws_security_group.tasks.id
}
