# Where the resources of the two functions lived before modules/queue_function built them:
# an existing deployment keeps them (and the logs in the log groups) instead of replacing them.

moved {
  from = aws_cloudwatch_log_group.clinic_operations
  to   = module.clinic_operations.aws_cloudwatch_log_group.this
}

moved {
  from = aws_security_group.clinic_operations
  to   = module.clinic_operations.aws_security_group.this
}

moved {
  from = aws_vpc_security_group_egress_rule.clinic_operations_https
  to   = module.clinic_operations.aws_vpc_security_group_egress_rule.https
}

moved {
  from = aws_lambda_function.clinic_operations
  to   = module.clinic_operations.aws_lambda_function.this
}

moved {
  from = aws_lambda_event_source_mapping.clinic_operations
  to   = module.clinic_operations.aws_lambda_event_source_mapping.this
}

moved {
  from = aws_iam_role.clinic_operations
  to   = module.clinic_operations.aws_iam_role.this
}

moved {
  from = aws_iam_role_policy.clinic_operations
  to   = module.clinic_operations.aws_iam_role_policy.this
}

moved {
  from = aws_iam_role_policy_attachment.clinic_operations_vpc
  to   = module.clinic_operations.aws_iam_role_policy_attachment.managed["vpc"]
}

moved {
  from = aws_iam_role_policy_attachment.clinic_operations_xray
  to   = module.clinic_operations.aws_iam_role_policy_attachment.managed["xray"]
}

moved {
  from = aws_cloudwatch_log_group.patient_notifications
  to   = module.patient_notifications.aws_cloudwatch_log_group.this
}

moved {
  from = aws_security_group.patient_notifications
  to   = module.patient_notifications.aws_security_group.this
}

moved {
  from = aws_vpc_security_group_egress_rule.patient_notifications_https
  to   = module.patient_notifications.aws_vpc_security_group_egress_rule.https
}

moved {
  from = aws_lambda_function.patient_notifications
  to   = module.patient_notifications.aws_lambda_function.this
}

moved {
  from = aws_lambda_event_source_mapping.patient_notifications
  to   = module.patient_notifications.aws_lambda_event_source_mapping.this
}

moved {
  from = aws_iam_role.patient_notifications
  to   = module.patient_notifications.aws_iam_role.this
}

moved {
  from = aws_iam_role_policy.patient_notifications
  to   = module.patient_notifications.aws_iam_role_policy.this
}

moved {
  from = aws_iam_role_policy_attachment.patient_notifications_vpc
  to   = module.patient_notifications.aws_iam_role_policy_attachment.managed["vpc"]
}

moved {
  from = aws_iam_role_policy_attachment.patient_notifications_xray
  to   = module.patient_notifications.aws_iam_role_policy_attachment.managed["xray"]
}
