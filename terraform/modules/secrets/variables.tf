variable "name_prefix" {
  description = "Prefix of every secret name, e.g. zixly/production"
  type        = string
}

variable "secrets" {
  description = "Secret key => description; each becomes <name_prefix>/<key>"
  type        = map(string)
  default = {
    "secret-key"            = "ZIXLY_SECRET_KEY: Fernet key encrypting OAuth tokens at rest"
    "database-url"          = "ZIXLY_DATABASE_URL: postgresql+psycopg URL with the RDS credentials"
    "xero-client-secret"    = "ZIXLY_XERO_CLIENT_SECRET"
    "xero-webhook-key"      = "ZIXLY_XERO_WEBHOOK_KEY"
    "hubspot-client-secret" = "ZIXLY_HUBSPOT_CLIENT_SECRET"
    "shopify-client-secret" = "ZIXLY_SHOPIFY_CLIENT_SECRET"
    "asana-client-secret"   = "ZIXLY_ASANA_CLIENT_SECRET"
  }
}

variable "kms_key_arn" {
  description = "KMS key encrypting the secrets; null uses the AWS-managed key"
  type        = string
  default     = null
}

variable "recovery_window_in_days" {
  description = "Days a deleted secret can still be restored (0 deletes at once: local only)"
  type        = number
  default     = 30
}

variable "tags" {
  description = "Tags for every resource"
  type        = map(string)
  default     = {}
}
