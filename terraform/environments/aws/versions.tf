terraform {
  required_version = ">= 1.6"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.0"
    }
  }

  # State in S3 with native locking: terraform init -backend-config=backend.hcl
  # (bucket, key, region, use_lockfile = true, encrypt = true).
  backend "s3" {}
}

# Credentials come from the environment (AWS_PROFILE, SSO, or the CI role).
provider "aws" {
  region = var.region

  default_tags {
    tags = {
      project     = "zixly"
      environment = var.environment
    }
  }
}
