variable "name" {
  description = "Cluster name and prefix of every resource, e.g. zixly-production"
  type        = string
}

variable "region" {
  description = "AWS region (for the log driver)"
  type        = string
}

variable "image" {
  description = "The Zixly image (one image, every process), e.g. <account>.dkr.ecr.<region>.amazonaws.com/zixly:1.2.3"
  type        = string
}

variable "vpc_id" {
  description = "VPC of the tasks"
  type        = string
}

variable "private_subnet_ids" {
  description = "Private subnets the tasks run in (outbound through NAT)"
  type        = list(string)
}

variable "ingress_security_group_ids" {
  description = "Security groups (load balancer, Prometheus) allowed to reach the tasks' ports"
  type        = list(string)
  default     = []
}

variable "target_group_arns" {
  description = "Process name (webhook, dashboard) => load balancer target group ARN"
  type        = map(string)
  default     = {}
}

variable "webhook_count" {
  description = "Webhook listener tasks"
  type        = number
  default     = 2
}

variable "runner_count" {
  description = "Runner tasks (they share the PostgreSQL queue)"
  type        = number
  default     = 2
}

variable "dashboard_count" {
  description = "Dashboard tasks"
  type        = number
  default     = 1
}

variable "blob_url" {
  description = "ZIXLY_BLOB_URL (s3://bucket/prefix)"
  type        = string
}

variable "public_url" {
  description = "ZIXLY_PUBLIC_URL: the webhook listener's external base URL"
  type        = string
}

variable "environment" {
  description = "Extra plain ZIXLY_* settings (not secrets)"
  type        = map(string)
  default     = {}
}

variable "secret_env" {
  description = "Environment variable => Secrets Manager ARN injected at start (e.g. ZIXLY_SECRET_KEY)"
  type        = map(string)
  default     = {}
}

variable "secrets_read_policy_json" {
  description = "IAM policy document letting the execution role read the secret_env secrets"
  type        = string
}

variable "task_policy_json" {
  description = "Policy name => IAM policy document for the app itself (blobs, queue, secrets backend)"
  type        = map(string)
  default     = {}
}

variable "log_retention_days" {
  description = "CloudWatch retention of the JSON logs"
  type        = number
  default     = 90
}

variable "tags" {
  description = "Tags for every resource"
  type        = map(string)
  default     = {}
}
