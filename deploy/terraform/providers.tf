provider "aws" {
  region = var.region

  default_tags {
    tags = local.tags
  }
}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

# Exactly the zones asked for, and only while they are available: the plan fails rather than
# spread the platform over a zone nobody chose.
data "aws_availability_zones" "available" {
  state = "available"

  filter {
    name   = "zone-name"
    values = var.availability_zones
  }
}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  azs        = sort(data.aws_availability_zones.available.names)

  tags = merge(var.tags, {
    "app.kubernetes.io/part-of" = "managed-care-plan"
    "managed-by"                = "terraform"
  })

  # The long-running services: one ECR repository and one Kubernetes Deployment each.
  service_images = ["provider-schedule", "care-plan", "insurance-processor", "eventbridge-sink"]
}
