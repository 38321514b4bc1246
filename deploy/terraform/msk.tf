# With use_msk = true, Kafka runs on Amazon MSK instead of Strimzi: the EKS overlay then gets the
# MSK bootstrap servers (output k8s_overlay_env) and the Strimzi resources are left out
# (deploy/k8s/components/msk, see deploy/README.md).
#
# Clients authenticate with SASL/SCRAM-SHA-512 over TLS, as on Strimzi's tls listener, one user
# per client (the KafkaUsers of deploy/k8s/base/kafka/users.yaml plus an admin for the Jobs):
# the services keep one configuration for both. MSK keeps SCRAM users in Secrets Manager
# secrets named AmazonMSK_*, encrypted with a customer-managed key. Their ACLs are set by the
# Job deploy/k8s/components/msk/acls-job.yaml; with msk_acls_enforced (after that Job ran) a
# request no ACL allows is refused (allow.everyone.if.no.acl.found=false).

locals {
  msk_users = var.use_msk ? toset([
    "careplan-admin", "provider-schedule", "care-plan", "insurance-processor", "eventbridge-sink",
    "keda-kafka-lag-reader",
  ]) : toset([])
}

resource "aws_security_group" "msk" {
  count = var.use_msk ? 1 : 0

  name        = "${var.name}-msk"
  description = "Kafka brokers reachable from the EKS nodes only"
  vpc_id      = module.vpc.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "msk_from_nodes" {
  # SASL/SCRAM over TLS only: MSK's plaintext (9092) and mTLS (9094) listeners stay closed.
  for_each = var.use_msk ? { sasl_scram = 9096 } : {}

  security_group_id            = aws_security_group.msk[0].id
  description                  = "Kafka ${each.key} listener from the EKS worker nodes"
  referenced_security_group_id = module.eks.node_security_group_id
  ip_protocol                  = "tcp"
  from_port                    = each.value
  to_port                      = each.value
}

resource "aws_cloudwatch_log_group" "msk" {
  count = var.use_msk ? 1 : 0

  name              = "/aws/msk/${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.platform.arn
}

resource "aws_msk_configuration" "this" {
  count = var.use_msk ? 1 : 0

  name           = var.name
  kafka_versions = [var.msk_kafka_version]
  # Until the ACL Job has run, nothing may be denied (the admin user cannot set ACLs without
  # an ACL that lets it); afterwards msk_acls_enforced closes every resource no ACL opens.
  server_properties = <<-PROPERTIES
    auto.create.topics.enable=false
    allow.everyone.if.no.acl.found=${var.msk_acls_enforced ? "false" : "true"}
  PROPERTIES
}

resource "random_password" "msk_user" {
  for_each = local.msk_users

  length  = 40
  special = false
}

resource "aws_secretsmanager_secret" "msk_user" {
  # checkov:skip=CKV2_AWS_57:MSK reads SCRAM credentials from these secrets; rotate with `terraform apply -replace='random_password.msk_user["care-plan"]'`, after which External Secrets and Reloader restart the service (deploy/README.md).
  for_each = local.msk_users

  # MSK accepts only secrets whose name starts with AmazonMSK_ and whose key is a CMK.
  name                    = "AmazonMSK_${var.name}_${each.key}"
  description             = "SCRAM credentials of the Kafka user ${each.key} on MSK"
  kms_key_id              = aws_kms_key.platform.arn
  recovery_window_in_days = 7
}

resource "aws_secretsmanager_secret_version" "msk_user" {
  for_each = local.msk_users

  secret_id     = aws_secretsmanager_secret.msk_user[each.key].id
  secret_string = jsonencode({ username = each.key, password = random_password.msk_user[each.key].result })
}

resource "aws_msk_scram_secret_association" "this" {
  count = var.use_msk ? 1 : 0

  cluster_arn     = aws_msk_cluster.this[0].arn
  secret_arn_list = [for secret in aws_secretsmanager_secret.msk_user : secret.arn]

  depends_on = [aws_secretsmanager_secret_version.msk_user]
}

resource "aws_msk_cluster" "this" {
  count = var.use_msk ? 1 : 0

  cluster_name           = var.name
  kafka_version          = var.msk_kafka_version
  number_of_broker_nodes = length(local.azs)

  broker_node_group_info {
    instance_type   = var.msk_instance_type
    client_subnets  = module.vpc.private_subnets
    security_groups = [aws_security_group.msk[0].id]
    storage_info {
      ebs_storage_info {
        volume_size = var.msk_volume_size
      }
    }
  }

  encryption_info {
    encryption_at_rest_kms_key_arn = aws_kms_key.platform.arn
    encryption_in_transit {
      client_broker = "TLS"
      in_cluster    = true
    }
  }

  client_authentication {
    unauthenticated = false
    sasl {
      scram = true
      iam   = false
    }
  }

  configuration_info {
    arn      = aws_msk_configuration.this[0].arn
    revision = aws_msk_configuration.this[0].latest_revision
  }

  logging_info {
    broker_logs {
      cloudwatch_logs {
        enabled   = true
        log_group = aws_cloudwatch_log_group.msk[0].name
      }
    }
  }
}
