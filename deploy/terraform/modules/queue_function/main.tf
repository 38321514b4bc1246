# A Python Lambda function fed by one SQS queue: its zip, log group, security group, the event
# source mapping with partial batch responses, and a role that may do exactly its job. The queue
# and its dead-letter queue come from deploy/eventbridge/queues.json (eventbridge.tf), the one
# definition `careplan up` applies locally too.

data "archive_file" "this" {
  type        = "zip"
  source_dir  = var.source_dir
  output_path = "${path.root}/.build/${var.event_source_mapping.FunctionName}.zip"
  excludes    = ["**/__pycache__/**", "**/*.pyc"]
}

resource "aws_cloudwatch_log_group" "this" {
  name              = "/aws/lambda/${var.event_source_mapping.FunctionName}"
  retention_in_days = var.platform.log_retention_days
  kms_key_id        = var.platform.kms_key_arn
}

resource "aws_security_group" "this" {
  name        = "${var.platform.name_prefix}-${var.event_source_mapping.FunctionName}"
  description = "${var.title} function: HTTPS out to AWS APIs only"
  vpc_id      = var.platform.vpc_id
}

resource "aws_vpc_security_group_egress_rule" "https" {
  security_group_id = aws_security_group.this.id
  description       = var.egress_description
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_lambda_function" "this" {
  # checkov:skip=CKV_AWS_116:Invoked synchronously by the SQS event source mapping: failed records go back to the queue and, after MaxReceiveCount, to its dead-letter queue; a function DLQ only applies to asynchronous invocations.
  # checkov:skip=CKV_AWS_272:Code signing needs an AWS Signer profile and a signed artifact pipeline; the zip is built from the reviewed repository by this configuration (archive_file), so there is no unsigned third-party upload path to guard.
  function_name = var.event_source_mapping.FunctionName
  description   = var.description
  role          = aws_iam_role.this.arn
  runtime       = "python3.11"
  handler       = "${var.package}.handler.handler"
  architectures = ["arm64"]

  filename         = data.archive_file.this.output_path
  source_code_hash = data.archive_file.this.output_base64sha256

  memory_size = 256
  # A sixth of the queue's visibility timeout (60 s -> 10 s), as AWS recommends for SQS event
  # sources, so that a batch still running is not delivered again meanwhile; the figure is the
  # one deploy/eventbridge/README.md states (a test compares them). Patient Notifications' claim
  # lease (10 s) is no longer than this, so a redelivery never meets a live claim of its own.
  timeout                        = floor(var.queue.visibility_timeout_seconds / 6)
  reserved_concurrent_executions = var.platform.reserved_concurrent_executions
  kms_key_arn                    = var.platform.kms_key_arn

  environment {
    variables = merge(var.environment, { LOG_LEVEL = "INFO" })
  }

  vpc_config {
    subnet_ids         = var.platform.subnet_ids
    security_group_ids = [aws_security_group.this.id]
  }

  tracing_config {
    mode = "Active"
  }

  logging_config {
    log_format = "JSON"
    log_group  = aws_cloudwatch_log_group.this.name
  }
}

resource "aws_lambda_event_source_mapping" "this" {
  event_source_arn                   = var.queue.arn
  function_name                      = aws_lambda_function.this.arn
  batch_size                         = var.event_source_mapping.BatchSize
  maximum_batching_window_in_seconds = var.event_source_mapping.MaximumBatchingWindowInSeconds
  # Only the failed records of a batch are retried (the handler returns batchItemFailures).
  function_response_types = ["ReportBatchItemFailures"]
}
