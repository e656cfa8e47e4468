# What LocalStack (community) can emulate: the blob bucket and the secrets.
# The database is the compose stack's PostgreSQL; ECS runs as docker-compose.

module "storage" {
  source = "../../modules/storage"

  bucket_name   = "zixly-blobs-local"
  force_destroy = true
}

module "secrets" {
  source = "../../modules/secrets"

  name_prefix             = "zixly/local"
  recovery_window_in_days = 0
}
