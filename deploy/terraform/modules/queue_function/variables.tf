variable "platform" {
  description = "What every function of the platform shares: name prefix, partition, the platform KMS key, the VPC and private subnets, log retention and reserved concurrency (null reserves none)."
  type = object({
    name_prefix                    = string
    partition                      = string
    kms_key_arn                    = string
    vpc_id                         = string
    subnet_ids                     = list(string)
    log_retention_days             = number
    reserved_concurrent_executions = number
  })
}

variable "package" {
  description = "The function's Python package: the zip holds source_dir, the handler is <package>.handler.handler."
  type        = string
}

variable "source_dir" {
  description = "Folder zipped as the function's code (the package's src folder)."
  type        = string
}

variable "title" {
  description = "The function's name for people (\"Clinic Operations\"), in its security group's description."
  type        = string
}

variable "description" {
  description = "What the function does, shown in the Lambda console."
  type        = string
}

variable "queue" {
  description = "The SQS queue that feeds the function (its dead-letter queue is set by the queue's redrive policy)."
  type = object({
    arn                        = string
    visibility_timeout_seconds = number
  })
}

variable "event_source_mapping" {
  description = "The queue's EventSourceMapping entry of deploy/eventbridge/queues.json: the function's name and its batching."
  type = object({
    FunctionName                   = string
    BatchSize                      = number
    MaximumBatchingWindowInSeconds = number
  })
}

variable "environment" {
  description = "Environment variables of the function (LOG_LEVEL is set here)."
  type        = map(string)
}

variable "egress_description" {
  description = "Why the function's security group lets HTTPS out: the AWS APIs it reaches."
  type        = string
}

variable "statements" {
  description = "The calls the function itself makes, as IAM statements; the event source mapping's SQS calls, the platform key and the function's logs are granted here."
  type = list(object({
    sid       = string
    actions   = list(string)
    resources = list(string)
  }))
}
