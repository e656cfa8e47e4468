output "bucket_name" {
  description = "Name of the bucket"
  value       = aws_s3_bucket.this.id
}

output "bucket_arn" {
  description = "ARN of the bucket"
  value       = aws_s3_bucket.this.arn
}

output "blob_url" {
  description = "Value for ZIXLY_BLOB_URL"
  value       = "s3://${aws_s3_bucket.this.id}/zixly"
}

output "read_write_policy_json" {
  description = "IAM policy document granting blob read/write, for the app's task role"
  value       = data.aws_iam_policy_document.read_write.json
}
