# Zixly on AWS: the blob bucket, secrets, RDS PostgreSQL (also the job queue) and ECS Fargate services.
# The VPC, load balancer and image registry are inputs (they are usually shared).

locals {
  name = "zixly-${var.environment}"

  # Secrets injected into every container, by environment variable name.
  secret_env = {
    ZIXLY_SECRET_KEY            = module.secrets.secret_arns["secret-key"]
    ZIXLY_DATABASE_URL          = module.secrets.secret_arns["database-url"]
    ZIXLY_XERO_CLIENT_SECRET    = module.secrets.secret_arns["xero-client-secret"]
    ZIXLY_XERO_WEBHOOK_KEY      = module.secrets.secret_arns["xero-webhook-key"]
    ZIXLY_HUBSPOT_CLIENT_SECRET = module.secrets.secret_arns["hubspot-client-secret"]
    ZIXLY_SHOPIFY_CLIENT_SECRET = module.secrets.secret_arns["shopify-client-secret"]
    ZIXLY_ASANA_CLIENT_SECRET   = module.secrets.secret_arns["asana-client-secret"]
  }
}

module "storage" {
  source = "../../modules/storage"

  bucket_name = "${local.name}-blobs-${var.bucket_suffix}"
  kms_key_arn = var.kms_key_arn
}

module "secrets" {
  source = "../../modules/secrets"

  name_prefix = "zixly/${var.environment}"
  kms_key_arn = var.kms_key_arn
}

module "database" {
  source = "../../modules/database"

  identifier                 = local.name
  vpc_id                     = var.vpc_id
  subnet_ids                 = var.private_subnet_ids
  allowed_security_group_ids = [module.service.tasks_security_group_id]
  instance_class             = var.db_instance_class
  kms_key_arn                = var.kms_key_arn
}

module "service" {
  source = "../../modules/service"

  name                       = local.name
  region                     = var.region
  image                      = var.image
  vpc_id                     = var.vpc_id
  private_subnet_ids         = var.private_subnet_ids
  ingress_security_group_ids = var.ingress_security_group_ids
  target_group_arns          = var.target_group_arns
  runner_count               = var.runner_count
  blob_url                   = module.storage.blob_url
  public_url                 = var.public_url
  environment                = var.app_environment
  secret_env                 = local.secret_env
  secrets_read_policy_json   = module.secrets.read_policy_json
  task_policy_json = {
    blobs   = module.storage.read_write_policy_json
    secrets = module.secrets.read_policy_json
  }
}
