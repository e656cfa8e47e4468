output "secret_arns" {
  description = "Secret key => ARN"
  value       = { for k, s in aws_secretsmanager_secret.this : k => s.arn }
}

output "read_policy_json" {
  description = "IAM policy document allowing these secrets to be read"
  value       = data.aws_iam_policy_document.read.json
}
