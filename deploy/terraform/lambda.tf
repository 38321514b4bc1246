# The functions behind the bus, each a zip of what `make lambda-packages` (deploy/lambda_packages.sh)
# puts in .build/functions/<package>: the function, the telemetry library and the versions uv.lock
# pins (no image registry; AWS patches the managed runtime). Each is invoked by the SQS event
# source mapping of queues.json and built by modules/queue_function; this file holds Clinic
# Operations, notifications.tf Patient Notifications.

locals {
  # What every function shares: the platform's key, network, log retention and concurrency.
  function_platform = {
    name_prefix                    = var.name
    partition                      = local.partition
    kms_key_arn                    = aws_kms_key.platform.arn
    vpc_id                         = module.vpc.vpc_id
    subnet_ids                     = module.vpc.private_subnets
    log_retention_days             = var.log_retention_days
    reserved_concurrent_executions = var.lambda_reserved_concurrency
  }

  clinic_operations_queue = one([for name, mapping in local.event_source_mappings : name if mapping.FunctionName == "clinic-operations"])
  clinic_visits_table     = local.tables["clinic-visits"].TableName
}

module "clinic_operations" {
  source = "./modules/queue_function"

  platform             = local.function_platform
  package              = "clinic_operations"
  source_dir           = "${path.module}/.build/functions/clinic_operations"
  title                = "Clinic Operations"
  description          = "Creates clinic visits for on-site bookings (CONTRACT.md section 5)"
  queue                = aws_sqs_queue.this[local.clinic_operations_queue]
  event_source_mapping = local.event_source_mappings[local.clinic_operations_queue]
  egress_description   = "HTTPS to DynamoDB, SQS and CloudWatch through the NAT gateway"

  environment = {
    CLINIC_VISITS_TABLE = aws_dynamodb_table.this[local.clinic_visits_table].name
  }
  statements = [
    {
      sid       = "WriteClinicVisits"
      actions   = ["dynamodb:PutItem", "dynamodb:UpdateItem"]
      resources = [aws_dynamodb_table.this[local.clinic_visits_table].arn]
    },
  ]
}
