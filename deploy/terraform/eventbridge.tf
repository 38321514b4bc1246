# The EventBridge tail of the platform, built from deploy/eventbridge/*.json: the same files
# `careplan up` applies to moto with devstack.aws_bootstrap, so the local and the cloud rules are
# one definition (tests/unit/deploy/test_terraform.py compares them).

locals {
  eventbridge_dir = "${path.module}/../eventbridge"

  event_buses = { for bus in jsondecode(file("${local.eventbridge_dir}/buses.json")).EventBuses : bus.Name => bus }
  queues      = { for queue in jsondecode(file("${local.eventbridge_dir}/queues.json")).Queues : queue.Name => queue }
  tables      = { for table in jsondecode(file("${local.eventbridge_dir}/tables.json")).Tables : table.TableName => table }
  rule_files  = fileset("${local.eventbridge_dir}/rules", "*.json")
  rules = {
    for file_name in local.rule_files :
    jsondecode(file("${local.eventbridge_dir}/rules/${file_name}")).Name => jsondecode(file("${local.eventbridge_dir}/rules/${file_name}"))
  }

  rule_targets = merge([
    for rule_name, rule in local.rules : {
      for target in rule.Targets : "${rule.Name}/${target.Id}" => merge(target, {
        RuleName     = rule.Name
        EventBusName = rule.EventBusName
      })
    }
  ]...)

  # Every queue with the rules that send to it: its resource policy admits exactly those.
  queue_senders = {
    for queue_name, _ in local.queues : queue_name => [
      for key, target in local.rule_targets : target.RuleName if target.Queue == queue_name
    ]
  }

  event_source_mappings = {
    for name, queue in local.queues : name => queue.EventSourceMapping if try(queue.EventSourceMapping, null) != null
  }
}

resource "aws_cloudwatch_event_bus" "this" {
  for_each = local.event_buses

  name               = each.value.Name
  description        = try(each.value.Description, null)
  kms_key_identifier = aws_kms_key.platform.arn
}

resource "aws_cloudwatch_event_rule" "this" {
  for_each = local.rules

  name           = each.value.Name
  description    = try(each.value.Description, null)
  event_bus_name = aws_cloudwatch_event_bus.this[each.value.EventBusName].name
  event_pattern  = jsonencode(each.value.EventPattern)
  state          = try(each.value.State, "ENABLED")
}

resource "aws_cloudwatch_event_target" "this" {
  for_each = local.rule_targets

  rule           = aws_cloudwatch_event_rule.this[each.value.RuleName].name
  event_bus_name = aws_cloudwatch_event_bus.this[each.value.EventBusName].name
  target_id      = each.value.Id
  arn            = aws_sqs_queue.this[each.value.Queue].arn

  dynamic "input_transformer" {
    for_each = try(each.value.InputTransformer, null) == null ? [] : [each.value.InputTransformer]
    content {
      input_paths    = input_transformer.value.InputPathsMap
      input_template = input_transformer.value.InputTemplate
    }
  }

  retry_policy {
    maximum_event_age_in_seconds = 86400
    maximum_retry_attempts       = 185
  }

  # An event EventBridge cannot deliver (queue policy, KMS key, retries exhausted) is otherwise
  # dropped with nothing to show for it but a metric: keep it for inspection and redrive.
  dead_letter_config {
    arn = aws_sqs_queue.eventbridge_dead_letter.arn
  }
}

resource "aws_sqs_queue" "eventbridge_dead_letter" {
  name                              = "${var.name}-eventbridge-undelivered-dlq"
  message_retention_seconds         = 1209600
  kms_master_key_id                 = aws_kms_key.platform.arn
  kms_data_key_reuse_period_seconds = 300
}

# Only the platform's rules may park their undelivered events here.
data "aws_iam_policy_document" "eventbridge_dead_letter" {
  statement {
    sid       = "AllowThePlatformRules"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.eventbridge_dead_letter.arn]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [for rule in aws_cloudwatch_event_rule.this : rule.arn]
    }
  }
}

resource "aws_sqs_queue_policy" "eventbridge_dead_letter" {
  queue_url = aws_sqs_queue.eventbridge_dead_letter.id
  policy    = data.aws_iam_policy_document.eventbridge_dead_letter.json
}

# --- SQS: one queue per target, each with its dead-letter queue ------------------------------

resource "aws_sqs_queue" "dead_letter" {
  for_each = local.queues

  name                              = each.value.DeadLetterQueue.Name
  message_retention_seconds         = each.value.DeadLetterQueue.MessageRetentionPeriod
  kms_master_key_id                 = aws_kms_key.platform.arn
  kms_data_key_reuse_period_seconds = 300
}

resource "aws_sqs_queue" "this" {
  for_each = local.queues

  name                              = each.value.Name
  visibility_timeout_seconds        = each.value.VisibilityTimeout
  message_retention_seconds         = each.value.MessageRetentionPeriod
  receive_wait_time_seconds         = each.value.ReceiveMessageWaitTimeSeconds
  kms_master_key_id                 = aws_kms_key.platform.arn
  kms_data_key_reuse_period_seconds = 300

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dead_letter[each.key].arn
    maxReceiveCount     = each.value.DeadLetterQueue.MaxReceiveCount
  })
}

resource "aws_sqs_queue_redrive_allow_policy" "dead_letter" {
  for_each = local.queues

  queue_url = aws_sqs_queue.dead_letter[each.key].id
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.this[each.key].arn]
  })
}

# The same policy as devstack.aws_bootstrap.queue_policy: exactly the rules that target a queue
# may send to it.
data "aws_iam_policy_document" "queue" {
  for_each = { for name, senders in local.queue_senders : name => senders if length(senders) > 0 }

  dynamic "statement" {
    for_each = sort(each.value)
    content {
      sid       = "AllowEventBridgeRule${statement.key}"
      actions   = ["sqs:SendMessage"]
      resources = [aws_sqs_queue.this[each.key].arn]
      principals {
        type        = "Service"
        identifiers = ["events.amazonaws.com"]
      }
      condition {
        test     = "ArnEquals"
        variable = "aws:SourceArn"
        values   = [aws_cloudwatch_event_rule.this[statement.value].arn]
      }
    }
  }
}

resource "aws_sqs_queue_policy" "this" {
  for_each = data.aws_iam_policy_document.queue

  queue_url = aws_sqs_queue.this[each.key].id
  policy    = each.value.json
}
