variable "environment" {
  description = "Environment name (production, staging)"
  type        = string
  default     = "production"
}

variable "region" {
  description = "AWS region (Sydney keeps client data in Australia)"
  type        = string
  default     = "ap-southeast-2"
}

variable "image" {
  description = "The Zixly image to run, pinned by tag or digest"
  type        = string
}

variable "vpc_id" {
  description = "VPC for the database and the tasks"
  type        = string
}

variable "private_subnet_ids" {
  description = "Private subnets in at least two availability zones"
  type        = list(string)
}

variable "ingress_security_group_ids" {
  description = "Security groups (load balancer, Prometheus) allowed to reach the tasks"
  type        = list(string)
  default     = []
}

variable "target_group_arns" {
  description = "webhook/dashboard => load balancer target group ARN"
  type        = map(string)
  default     = {}
}

variable "public_url" {
  description = "External base URL of the webhook listener (vendor webhooks, OAuth redirects)"
  type        = string
}

variable "bucket_suffix" {
  description = "Suffix making the blob bucket name globally unique (e.g. the account id)"
  type        = string
}

variable "kms_key_arn" {
  description = "Customer-managed KMS key for the bucket, secrets and database; null uses AWS-managed keys"
  type        = string
  default     = null
}

variable "db_instance_class" {
  description = "RDS instance class"
  type        = string
  default     = "db.t4g.medium"
}

variable "runner_count" {
  description = "Runner tasks"
  type        = number
  default     = 2
}

variable "app_environment" {
  description = "Extra plain ZIXLY_* settings (vendor client ids, scopes, …)"
  type        = map(string)
  default     = {}
}
