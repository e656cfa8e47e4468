variable "identifier" {
  description = "RDS instance identifier, e.g. zixly-production"
  type        = string
}

variable "vpc_id" {
  description = "VPC of the database"
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets (at least two availability zones)"
  type        = list(string)
}

variable "allowed_security_group_ids" {
  description = "Security groups allowed to connect on 5432 (the app services)"
  type        = list(string)
  default     = []
}

variable "engine_version" {
  description = "PostgreSQL major version"
  type        = string
  default     = "15"
}

variable "instance_class" {
  description = "RDS instance class"
  type        = string
  default     = "db.t4g.medium"
}

variable "db_name" {
  description = "Database created at launch"
  type        = string
  default     = "zixly"
}

variable "username" {
  description = "Master user name (its password lives in Secrets Manager, managed by RDS)"
  type        = string
  default     = "zixly"
}

variable "allocated_storage_gb" {
  description = "Initial storage"
  type        = number
  default     = 50
}

variable "max_allocated_storage_gb" {
  description = "Storage autoscaling ceiling"
  type        = number
  default     = 500
}

variable "multi_az" {
  description = "Standby in a second availability zone"
  type        = bool
  default     = true
}

variable "backup_retention_days" {
  description = "Days of automated backups (point-in-time recovery window)"
  type        = number
  default     = 14

  validation {
    condition     = var.backup_retention_days >= 7 && var.backup_retention_days <= 35
    error_message = "Keep between 7 and 35 days of automated backups."
  }
}

variable "deletion_protection" {
  description = "Refuse to delete the instance"
  type        = bool
  default     = true
}

variable "kms_key_arn" {
  description = "KMS key for storage encryption; null uses the AWS-managed RDS key"
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags for every resource"
  type        = map(string)
  default     = {}
}
