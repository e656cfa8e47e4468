variable "name" {
  description = "Queue name; the dead-letter queue is <name>-dlq"
  type        = string
}

variable "max_receive_count" {
  description = "Receives before a message moves to the dead-letter queue"
  type        = number
  default     = 3

  validation {
    condition     = var.max_receive_count >= 1 && var.max_receive_count <= 1000
    error_message = "The max_receive_count must be between 1 and 1000."
  }
}

variable "visibility_timeout_seconds" {
  description = "How long a received message stays hidden; longer than the longest job step"
  type        = number
  default     = 300
}

variable "message_retention_seconds" {
  description = "How long an unreceived message is kept (default 4 days)"
  type        = number
  default     = 345600
}

variable "dlq_retention_seconds" {
  description = "How long dead letters are kept for inspection and redrive (default 14 days, the maximum)"
  type        = number
  default     = 1209600
}

variable "tags" {
  description = "Tags for every resource"
  type        = map(string)
  default     = {}
}
