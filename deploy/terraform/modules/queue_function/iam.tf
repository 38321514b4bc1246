# Least privilege: the role may do exactly the function's job. "Exactly" is tested, not
# remembered: tests/unit/deploy/test_iam.py compares this grant, with the call's statements, to
# the calls the function made in the tests (deploy/terraform/aws-api-calls.json).

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "this" {
  name               = "${var.platform.name_prefix}-${var.event_source_mapping.FunctionName}"
  assume_role_policy = data.aws_iam_policy_document.assume.json
}

data "aws_iam_policy_document" "this" {
  # What the SQS event source mapping does with the execution role (the Lambda documentation's
  # list); the function itself never calls SQS.
  statement {
    sid       = "ReadItsQueue"
    actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"]
    resources = [var.queue.arn]
  }
  # The queue, and what the function writes, are encrypted with the platform key.
  statement {
    sid       = "DecryptQueueAndTable"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.platform.kms_key_arn]
  }
  statement {
    sid       = "WriteItsLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.this.arn}:*"]
  }
  dynamic "statement" {
    for_each = var.statements
    content {
      sid       = statement.value.sid
      actions   = statement.value.actions
      resources = statement.value.resources
    }
  }
}

resource "aws_iam_role_policy" "this" {
  name   = var.event_source_mapping.FunctionName
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.this.json
}

# ENIs in the VPC and X-Ray segments: AWS managed policies scoped by AWS to exactly that, which
# the function's vpc_config and Active tracing require.
resource "aws_iam_role_policy_attachment" "managed" {
  for_each = {
    vpc  = "service-role/AWSLambdaVPCAccessExecutionRole"
    xray = "AWSXRayDaemonWriteAccess"
  }

  role       = aws_iam_role.this.name
  policy_arn = "arn:${var.platform.partition}:iam::aws:policy/${each.value}"
}
