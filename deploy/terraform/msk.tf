# With use_msk = true, Kafka runs on Amazon MSK instead of Strimzi: the EKS overlay then gets the
# MSK bootstrap servers (output k8s_overlay_env) and the Strimzi resources are left out
# (deploy/k8s/components/msk, see deploy/README.md).

resource "aws_security_group" "msk" {
  count = var.use_msk ? 1 : 0

  name        = "${var.name}-msk"
  description = "Kafka brokers reachable from the EKS nodes only"
  vpc_id      = module.vpc.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "msk_from_nodes" {
  for_each = var.use_msk ? { plaintext = 9092, tls = 9094 } : {}

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

resource "aws_msk_cluster" "this" {
  # checkov:skip=CKV_AWS_81:The services connect with PLAINTEXT exactly like to Strimzi's internal listener (KAFKA_BOOTSTRAP_SERVERS only); the plaintext listener is reachable from the EKS nodes' security group alone, and TLS stays enabled for clients that can use it. In-cluster (broker-to-broker) traffic is TLS.
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
      client_broker = "TLS_PLAINTEXT"
      in_cluster    = true
    }
  }

  client_authentication {
    unauthenticated = true
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
