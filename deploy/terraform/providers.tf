provider "aws" {
  region = var.region

  default_tags {
    tags = local.tags
  }
}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_availability_zones" "available" {
  state = "available"
}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  azs        = slice(data.aws_availability_zones.available.names, 0, var.availability_zone_count)

  tags = merge(var.tags, {
    "app.kubernetes.io/part-of" = "managed-care-plan"
    "managed-by"                = "terraform"
  })

  # The long-running services: one ECR repository and one Kubernetes Deployment each.
  service_images = ["provider-schedule", "care-plan", "insurance-processor", "eventbridge-sink"]
}
