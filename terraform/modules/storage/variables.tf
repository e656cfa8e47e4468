variable "bucket_name" {
  description = "Globally unique bucket name"
  type        = string
}

variable "archive_after_days" {
  description = "Days after which objects move to the archive storage class"
  type        = number
  default     = 90
}

variable "archive_storage_class" {
  description = "Storage class objects are archived to"
  type        = string
  default     = "GLACIER_IR"
}

variable "expire_after_days" {
  description = "Days after which objects (and old versions) are deleted; 2557 days = 7 years"
  type        = number
  default     = 2557

  validation {
    condition     = var.expire_after_days >= 2557
    error_message = "Business records are kept for at least 7 years (2557 days)."
  }
}

variable "kms_key_arn" {
  description = "KMS key for SSE-KMS; null uses S3-managed keys (SSE-S3, AES256)"
  type        = string
  default     = null
}

variable "force_destroy" {
  description = "Allow destroying a non-empty bucket (local/test environments only)"
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags for every resource"
  type        = map(string)
  default     = {}
}
