# The clinic-visits table of deploy/eventbridge/tables.json, keyed by bookingId.
resource "aws_dynamodb_table" "this" {
  # checkov:skip=CKV2_AWS_16:The table is on-demand (BillingMode PAY_PER_REQUEST in tables.json); capacity auto scaling applies to provisioned tables only.
  for_each = local.tables

  name         = each.value.TableName
  billing_mode = each.value.BillingMode
  hash_key     = one([for key in each.value.KeySchema : key.AttributeName if key.KeyType == "HASH"])
  range_key    = try(one([for key in each.value.KeySchema : key.AttributeName if key.KeyType == "RANGE"]), null)

  dynamic "attribute" {
    for_each = each.value.AttributeDefinitions
    content {
      name = attribute.value.AttributeName
      type = attribute.value.AttributeType
    }
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.platform.arn
  }

  deletion_protection_enabled = var.deletion_protection
}
