variable "region" {
  description = "Region LocalStack reports"
  type        = string
  default     = "ap-southeast-2"
}

variable "localstack_endpoint" {
  description = "LocalStack edge endpoint (the compose stack publishes it on 127.0.0.1:4566)"
  type        = string
  default     = "http://localhost:4566"
}
