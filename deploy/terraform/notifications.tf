# Patient Notifications: a zip of services/patient_notifications/src, like Clinic Operations (its
# only dependency, boto3, is in the python3.11 runtime). It reads confirmed-care-plan-events-queue
# through the event source mapping of queues.json, records what it sends in the
# patient-notifications table (conditional writes: a redelivered message sends nothing twice)
# and sends through SES from the identity below.

locals {
  notifications_queue   = one([for name, mapping in local.event_source_mappings : name if mapping.FunctionName == "patient-notifications"])
  notifications_mapping = local.event_source_mappings[local.notifications_queue]
  notifications_table   = local.tables["patient-notifications"].TableName
}

resource "aws_sesv2_email_identity" "notifications" {
  email_identity = var.notification_sender_domain
}

data "archive_file" "patient_notifications" {
  type        = "zip"
  source_dir  = "${path.module}/../../services/patient_notifications/src"
  output_path = "${path.module}/.build/patient-notifications.zip"
  excludes    = ["**/__pycache__/**", "**/*.pyc"]
}

resource "aws_cloudwatch_log_group" "patient_notifications" {
  name              = "/aws/lambda/${local.notifications_mapping.FunctionName}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.platform.arn
}

resource "aws_security_group" "patient_notifications" {
  name        = "${var.name}-patient-notifications"
  description = "Patient Notifications function: HTTPS out to AWS APIs only"
  vpc_id      = module.vpc.vpc_id
}

resource "aws_vpc_security_group_egress_rule" "patient_notifications_https" {
  security_group_id = aws_security_group.patient_notifications.id
  description       = "HTTPS to DynamoDB, SQS, SES and CloudWatch through the NAT gateway"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_lambda_function" "patient_notifications" {
  # checkov:skip=CKV_AWS_116:Invoked synchronously by the SQS event source mapping: failed records go back to the queue and, after MaxReceiveCount, to its dead-letter queue; a function DLQ only applies to asynchronous invocations.
  # checkov:skip=CKV_AWS_272:Code signing needs an AWS Signer profile and a signed artifact pipeline; the zip is built from the reviewed repository by this configuration (archive_file), so there is no unsigned third-party upload path to guard.
  function_name = local.notifications_mapping.FunctionName
  description   = "Tells patients that a booking was confirmed or cancelled, through SES"
  role          = aws_iam_role.patient_notifications.arn
  runtime       = "python3.11"
  handler       = "patient_notifications.handler.handler"
  architectures = ["arm64"]

  filename         = data.archive_file.patient_notifications.output_path
  source_code_hash = data.archive_file.patient_notifications.output_base64sha256

  memory_size = 256
  # A sixth of the queue's visibility timeout, as for Clinic Operations; the handler's claim
  # lease (10 s) is no longer than this, so a redelivery never meets a live claim of its own.
  timeout                        = floor(local.queues[local.notifications_queue].VisibilityTimeout / 6)
  reserved_concurrent_executions = var.lambda_reserved_concurrency
  kms_key_arn                    = aws_kms_key.platform.arn

  environment {
    variables = {
      NOTIFICATIONS_TABLE             = aws_dynamodb_table.this[local.notifications_table].name
      NOTIFICATION_SENDER             = "bookings@${aws_sesv2_email_identity.notifications.email_identity}"
      NOTIFICATION_RECIPIENT_TEMPLATE = var.notification_recipient_template
      LOG_LEVEL                       = "INFO"
    }
  }

  vpc_config {
    subnet_ids         = module.vpc.private_subnets
    security_group_ids = [aws_security_group.patient_notifications.id]
  }

  tracing_config {
    mode = "Active"
  }

  logging_config {
    log_format = "JSON"
    log_group  = aws_cloudwatch_log_group.patient_notifications.name
  }
}

resource "aws_lambda_event_source_mapping" "patient_notifications" {
  event_source_arn                   = aws_sqs_queue.this[local.notifications_queue].arn
  function_name                      = aws_lambda_function.patient_notifications.arn
  batch_size                         = local.notifications_mapping.BatchSize
  maximum_batching_window_in_seconds = local.notifications_mapping.MaximumBatchingWindowInSeconds
  # Only the failed records of a batch are retried (the handler returns batchItemFailures).
  function_response_types = ["ReportBatchItemFailures"]
}
