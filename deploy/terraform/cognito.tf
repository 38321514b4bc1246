# Identities: the Cognito user pool whose JWTs the HTTP services verify (AUTH_ISSUER). A user's
# role and the patient or provider it is bound to are custom attributes only an administrator
# writes: the app client may read them and write none, so nobody can promote themselves.

resource "aws_cognito_user_pool" "careplan" {
  name                = var.name
  deletion_protection = "ACTIVE"
  mfa_configuration   = "OPTIONAL"

  software_token_mfa_configuration {
    enabled = true
  }

  admin_create_user_config {
    allow_admin_create_user_only = true
  }

  password_policy {
    minimum_length                   = 12
    require_lowercase                = true
    require_uppercase                = true
    require_numbers                  = true
    require_symbols                  = true
    temporary_password_validity_days = 3
  }

  user_pool_add_ons {
    advanced_security_mode = "ENFORCED"
  }

  dynamic "schema" {
    for_each = toset(["role", "patient_id", "provider_id"])
    content {
      name                = schema.value
      attribute_data_type = "String"
      mutable             = true
      string_attribute_constraints {
        min_length = 1
        max_length = 64
      }
    }
  }
}

resource "aws_cognito_user_pool_client" "api" {
  name                          = "${var.name}-api"
  user_pool_id                  = aws_cognito_user_pool.careplan.id
  generate_secret               = false
  prevent_user_existence_errors = "ENABLED"
  explicit_auth_flows           = ["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]
  read_attributes               = ["email", "custom:role", "custom:patient_id", "custom:provider_id"]
  write_attributes              = []
  access_token_validity         = 60
  id_token_validity             = 60
  refresh_token_validity        = 1

  token_validity_units {
    access_token  = "minutes"
    id_token      = "minutes"
    refresh_token = "days"
  }
}

locals {
  # The iss claim of the pool's tokens; its JWKS is served at <issuer>/.well-known/jwks.json.
  auth_issuer = "https://cognito-idp.${var.region}.amazonaws.com/${aws_cognito_user_pool.careplan.id}"
}
