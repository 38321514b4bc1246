# Clinic Operations: a zip of services/clinic_operations/src. Its only dependency, boto3, is part
# of the python3.11 Lambda runtime, so the archive holds our code alone (no image registry, no
# build step); the function is invoked by the SQS event source mapping of queues.json.

locals {
  clinic_operations_queue   = one([for name, mapping in local.event_source_mappings : name if mapping.FunctionName == "clinic-operations"])
  clinic_operations_mapping = local.event_source_mappings[local.clinic_operations_queue]
  clinic_visits_table       = local.tables["clinic-visits"].TableName
}

data "archive_file" "clinic_operations" {
  type        = "zip"
  source_dir  = "${path.module}/../../services/clinic_operations/src"
  output_path = "${path.module}/.build/clinic-operations.zip"
  excludes    = ["**/__pycache__/**", "**/*.pyc"]
}

resource "aws_cloudwatch_log_group" "clinic_operations" {
  name              = "/aws/lambda/${local.clinic_operations_mapping.FunctionName}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.platform.arn
}

resource "aws_security_group" "clinic_operations" {
  name        = "${var.name}-clinic-operations"
  description = "Clinic Operations function: HTTPS out to AWS APIs only"
  vpc_id      = module.vpc.vpc_id
}

resource "aws_vpc_security_group_egress_rule" "clinic_operations_https" {
  security_group_id = aws_security_group.clinic_operations.id
  description       = "HTTPS to DynamoDB, SQS and CloudWatch through the NAT gateway"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_lambda_function" "clinic_operations" {
  # checkov:skip=CKV_AWS_116:Invoked synchronously by the SQS event source mapping: failed records go back to the queue and, after MaxReceiveCount, to its dead-letter queue; a function DLQ only applies to asynchronous invocations.
  # checkov:skip=CKV_AWS_272:Code signing needs an AWS Signer profile and a signed artifact pipeline; the zip is built from the reviewed repository by this configuration (archive_file), so there is no unsigned third-party upload path to guard.
  function_name = local.clinic_operations_mapping.FunctionName
  description   = "Creates clinic visits for on-site bookings (CONTRACT.md section 5)"
  role          = aws_iam_role.clinic_operations.arn
  runtime       = "python3.11"
  handler       = "clinic_operations.handler.handler"
  architectures = ["arm64"]

  filename         = data.archive_file.clinic_operations.output_path
  source_code_hash = data.archive_file.clinic_operations.output_base64sha256

  memory_size = 256
  # A sixth of the queue's visibility timeout (60 s -> 10 s), as AWS recommends for SQS event
  # sources, so that a batch still running is not delivered again meanwhile; the figure is the
  # one deploy/eventbridge/README.md states (a test compares them).
  timeout                        = floor(local.queues[local.clinic_operations_queue].VisibilityTimeout / 6)
  reserved_concurrent_executions = var.lambda_reserved_concurrency
  kms_key_arn                    = aws_kms_key.platform.arn

  environment {
    variables = {
      CLINIC_VISITS_TABLE = aws_dynamodb_table.this[local.clinic_visits_table].name
      LOG_LEVEL           = "INFO"
    }
  }

  vpc_config {
    subnet_ids         = module.vpc.private_subnets
    security_group_ids = [aws_security_group.clinic_operations.id]
  }

  tracing_config {
    mode = "Active"
  }

  logging_config {
    log_format = "JSON"
    log_group  = aws_cloudwatch_log_group.clinic_operations.name
  }
}

resource "aws_lambda_event_source_mapping" "clinic_operations" {
  event_source_arn                   = aws_sqs_queue.this[local.clinic_operations_queue].arn
  function_name                      = aws_lambda_function.clinic_operations.arn
  batch_size                         = local.clinic_operations_mapping.BatchSize
  maximum_batching_window_in_seconds = local.clinic_operations_mapping.MaximumBatchingWindowInSeconds
  # Only the failed records of a batch are retried (the handler returns batchItemFailures).
  function_response_types = ["ReportBatchItemFailures"]
}
