# Patient Notifications (modules/queue_function, like Clinic Operations): it reads
# confirmed-care-plan-events-queue through the event source mapping of queues.json, records what
# it sends in the patient-notifications table (conditional writes: a redelivered message sends
# nothing twice) and sends through SES from the identity below.

locals {
  notifications_queue = one([for name, mapping in local.event_source_mappings : name if mapping.FunctionName == "patient-notifications"])
  notifications_table = local.tables["patient-notifications"].TableName
}

resource "aws_sesv2_email_identity" "notifications" {
  email_identity = var.notification_sender_domain
}

module "patient_notifications" {
  source = "./modules/queue_function"

  platform             = local.function_platform
  package              = "patient_notifications"
  source_dir           = "${path.module}/.build/functions/patient_notifications"
  title                = "Patient Notifications"
  description          = "Tells patients that a booking was confirmed or cancelled, through SES"
  queue                = aws_sqs_queue.this[local.notifications_queue]
  event_source_mapping = local.event_source_mappings[local.notifications_queue]
  egress_description   = "HTTPS to DynamoDB, SQS, SES and CloudWatch through the NAT gateway"

  environment = {
    NOTIFICATIONS_TABLE             = aws_dynamodb_table.this[local.notifications_table].name
    NOTIFICATION_SENDER             = "bookings@${aws_sesv2_email_identity.notifications.email_identity}"
    NOTIFICATION_RECIPIENT_TEMPLATE = var.notification_recipient_template
  }
  # Claims and sent marks are conditional updates: no read, no put, no delete.
  statements = [
    {
      sid       = "RecordNotifications"
      actions   = ["dynamodb:UpdateItem"]
      resources = [aws_dynamodb_table.this[local.notifications_table].arn]
    },
    {
      sid       = "SendFromItsIdentity"
      actions   = ["ses:SendEmail"]
      resources = [aws_sesv2_email_identity.notifications.arn]
    },
  ]
}
