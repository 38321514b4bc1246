# One customer-managed key for the platform's data at rest: EKS secrets, RDS, SQS, DynamoDB,
# Lambda environment, ECR, CloudWatch logs, Secrets Manager and (with use_msk) MSK.
resource "aws_kms_key" "platform" {
  description             = "${var.name} platform data at rest"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms.json
}

resource "aws_kms_alias" "platform" {
  name          = "alias/${var.name}"
  target_key_id = aws_kms_key.platform.key_id
}

data "aws_iam_policy_document" "kms" {
  # checkov:skip=CKV_AWS_109:The account root statement is the standard key administration statement; without it the key becomes unmanageable. Permissions are still granted per principal by IAM policies.
  # checkov:skip=CKV_AWS_111:Same statement: a key policy's "*" resource means this key only.
  # checkov:skip=CKV_AWS_356:Same statement: in a key policy "*" is this key, nothing else.
  statement {
    sid       = "AccountAdministration"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  # EventBridge encrypts the bus with this key and what it delivers to the encrypted queues.
  # DescribeKey is documented as required for a bus with a customer-managed key: without it
  # delivery to the queues fails, and nothing shows it but a metric.
  statement {
    sid       = "EventBridgeToEncryptedQueues"
    actions   = ["kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }

  statement {
    sid       = "CloudWatchLogs"
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${var.region}.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${var.region}:${local.account_id}:*"]
    }
  }
}
