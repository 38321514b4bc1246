# Least privilege: each workload gets one role that may do exactly its job. "Exactly" is tested,
# not remembered: the integration and end-to-end tests record every AWS call each deployable
# makes (tests/support/aws_calls), the recording is deploy/terraform/aws-api-calls.json, and
# tests/unit/deploy/test_iam.py fails when a role lacks a recorded call or allows one never made.
# The Lambda functions' roles are built by modules/queue_function (lambda.tf, notifications.tf).

# --- EventBridge sink (IRSA) -----------------------------------------------------------------

data "aws_iam_policy_document" "eventbridge_sink" {
  # DescribeEventBus is the sink's readiness check: without it the pods never become Ready, a
  # rollout (maxUnavailable 0) stalls and the PodDisruptionBudget blocks node drains.
  statement {
    sid       = "PutEventsOnThePlatformBus"
    actions   = ["events:PutEvents", "events:DescribeEventBus"]
    resources = [for bus in aws_cloudwatch_event_bus.this : bus.arn]
  }
  statement {
    sid       = "EncryptForTheBusKey"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [aws_kms_key.platform.arn]
  }
}

resource "aws_iam_policy" "eventbridge_sink" {
  name        = "${var.name}-eventbridge-sink"
  description = "events:PutEvents and DescribeEventBus on the ${var.name} bus, nothing else"
  policy      = data.aws_iam_policy_document.eventbridge_sink.json
}

module "eventbridge_sink_irsa" {
  # checkov:skip=CKV_TF_1:Registry module pinned to an exact release version: the Terraform registry never re-publishes a version, and a git commit source would bypass the registry the platform standardises on.
  source  = "terraform-aws-modules/iam/aws//modules/iam-role-for-service-accounts-eks"
  version = "5.55.0"

  role_name = "${var.name}-eventbridge-sink"
  role_policy_arns = {
    put_events = aws_iam_policy.eventbridge_sink.arn
  }
  oidc_providers = {
    main = {
      provider_arn               = module.eks.oidc_provider_arn
      namespace_service_accounts = ["${var.kubernetes_namespace}:eventbridge-sink"]
    }
  }
}

# --- External Secrets: reads the platform's secrets (and MSK's users), nothing else ----------------------

module "external_secrets_irsa" {
  # checkov:skip=CKV_TF_1:Registry module pinned to an exact release version: the Terraform registry never re-publishes a version, and a git commit source would bypass the registry the platform standardises on.
  source  = "terraform-aws-modules/iam/aws//modules/iam-role-for-service-accounts-eks"
  version = "5.55.0"

  role_name                      = "${var.name}-external-secrets"
  attach_external_secrets_policy = true
  external_secrets_secrets_manager_arns = concat([
    aws_db_instance.postgres.master_user_secret[0].secret_arn,
    aws_secretsmanager_secret.database_connection.arn,
    aws_secretsmanager_secret.database_roles.arn,
    aws_secretsmanager_secret.api_key.arn,
  ], [for secret in aws_secretsmanager_secret.msk_user : secret.arn])
  external_secrets_kms_key_arns                      = [aws_kms_key.platform.arn]
  external_secrets_ssm_parameter_arns                = []
  external_secrets_secrets_manager_create_permission = false
  oidc_providers = {
    main = {
      provider_arn               = module.eks.oidc_provider_arn
      namespace_service_accounts = ["${var.kubernetes_namespace}:external-secrets"]
    }
  }
}

# --- Cluster add-ons -------------------------------------------------------------------------

module "ebs_csi_irsa" {
  # checkov:skip=CKV_TF_1:Registry module pinned to an exact release version: the Terraform registry never re-publishes a version, and a git commit source would bypass the registry the platform standardises on.
  source  = "terraform-aws-modules/iam/aws//modules/iam-role-for-service-accounts-eks"
  version = "5.55.0"

  role_name             = "${var.name}-ebs-csi"
  attach_ebs_csi_policy = true
  ebs_csi_kms_cmk_ids   = [aws_kms_key.platform.arn]
  oidc_providers = {
    main = {
      provider_arn               = module.eks.oidc_provider_arn
      namespace_service_accounts = ["kube-system:ebs-csi-controller-sa"]
    }
  }
}

module "load_balancer_controller_irsa" {
  # checkov:skip=CKV_TF_1:Registry module pinned to an exact release version: the Terraform registry never re-publishes a version, and a git commit source would bypass the registry the platform standardises on.
  source  = "terraform-aws-modules/iam/aws//modules/iam-role-for-service-accounts-eks"
  version = "5.55.0"

  role_name                              = "${var.name}-aws-load-balancer-controller"
  attach_load_balancer_controller_policy = true
  oidc_providers = {
    main = {
      provider_arn               = module.eks.oidc_provider_arn
      namespace_service_accounts = ["kube-system:aws-load-balancer-controller"]
    }
  }
}
