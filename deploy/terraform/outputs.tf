locals {
  ecr_registry = "${local.account_id}.dkr.ecr.${var.region}.amazonaws.com"

  kafka_bootstrap_servers = var.use_msk ? aws_msk_cluster.this[0].bootstrap_brokers_sasl_scram : "careplan-kafka-bootstrap:9093"

  # Exactly the keys of deploy/k8s/components/eks/terraform-outputs.env (a test compares them).
  k8s_overlay_env = {
    AWS_REGION                = var.region
    AUTH_ISSUER               = local.auth_issuer
    AUTH_AUDIENCE             = aws_cognito_user_pool_client.api.id
    ECR_REGISTRY              = local.ecr_registry
    KAFKA_BOOTSTRAP_SERVERS   = local.kafka_bootstrap_servers
    EVENTBRIDGE_SINK_ROLE_ARN = module.eventbridge_sink_irsa.iam_role_arn
    EXTERNAL_SECRETS_ROLE_ARN = module.external_secrets_irsa.iam_role_arn
    DB_MASTER_SECRET_ARN      = aws_db_instance.postgres.master_user_secret[0].secret_arn
    DB_CONNECTION_SECRET_NAME = aws_secretsmanager_secret.database_connection.name
    DB_ROLES_SECRET_NAME      = aws_secretsmanager_secret.database_roles.name
    API_KEY_SECRET_NAME       = aws_secretsmanager_secret.api_key.name
    KMS_KEY_ARN               = aws_kms_key.platform.arn
    INGRESS_HOST              = var.ingress_host
    ACM_CERTIFICATE_ARN       = var.acm_certificate_arn
  }
}

# The region, the IRSA roles of the sink and External Secrets and the Kafka bootstrap servers are
# read from here only: one output per value.
output "k8s_overlay_env" {
  description = "Contents of deploy/k8s/components/eks/terraform-outputs.env."
  value       = join("\n", concat(["# Written by terraform output -raw k8s_overlay_env"], [for key in sort(keys(local.k8s_overlay_env)) : "${key}=${local.k8s_overlay_env[key]}"], [""]))
}

output "vpc_id" {
  description = "VPC of the cluster, for the AWS Load Balancer Controller (vpcId)."
  value       = module.vpc.vpc_id
}

output "cluster_name" {
  description = "EKS cluster name, for aws eks update-kubeconfig."
  value       = module.eks.cluster_name
}

output "ecr_registry" {
  description = "Registry host the images are pushed to."
  value       = local.ecr_registry
}

output "ecr_repositories" {
  description = "Repository URL of each service image."
  value       = { for name, repo in aws_ecr_repository.service : name => repo.repository_url }
}

output "load_balancer_controller_role_arn" {
  description = "IAM role of the AWS Load Balancer Controller's service account."
  value       = module.load_balancer_controller_irsa.iam_role_arn
}

output "database_endpoint" {
  description = "RDS PostgreSQL endpoint."
  value       = aws_db_instance.postgres.endpoint
}

output "event_bus_arns" {
  description = "EventBridge bus ARNs by name."
  value       = { for name, bus in aws_cloudwatch_event_bus.this : name => bus.arn }
}

output "queue_urls" {
  description = "SQS queue URLs by name (dead-letter queues and the rules' undelivered-events queue included)."
  value = merge(
    { for name, queue in aws_sqs_queue.this : name => queue.url },
    { for name, queue in aws_sqs_queue.dead_letter : queue.name => queue.url },
    { (aws_sqs_queue.eventbridge_dead_letter.name) = aws_sqs_queue.eventbridge_dead_letter.url },
  )
}

output "tables" {
  description = "DynamoDB table names by name (clinic visits, patient notifications)."
  value       = { for name, table in aws_dynamodb_table.this : name => table.name }
}

output "lambda_functions" {
  description = "Names of the Lambda functions behind the bus, by Python package."
  value = {
    clinic_operations     = module.clinic_operations.function_name
    patient_notifications = module.patient_notifications.function_name
  }
}
