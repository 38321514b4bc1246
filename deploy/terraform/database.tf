# PostgreSQL on Amazon RDS: one database `careplan`, one schema per service (provider_schedule,
# care_plan), created by each service's Alembic migrations from its init container.

resource "aws_security_group" "database" {
  name        = "${var.name}-database"
  description = "PostgreSQL reachable from the EKS nodes only"
  vpc_id      = module.vpc.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "database_from_nodes" {
  security_group_id            = aws_security_group.database.id
  description                  = "PostgreSQL from the EKS worker nodes"
  referenced_security_group_id = module.eks.node_security_group_id
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
}

resource "aws_db_parameter_group" "postgres" {
  name   = "${var.name}-postgres${split(".", var.db_engine_version)[0]}"
  family = "postgres${split(".", var.db_engine_version)[0]}"

  # Clients must use TLS (the EKS overlay's DATABASE_URL asks for ssl=verify-full).
  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }
  parameter {
    name  = "log_min_duration_statement"
    value = "500"
  }
  parameter {
    name  = "log_statement"
    value = "ddl"
  }
}

resource "aws_iam_role" "rds_monitoring" {
  name               = "${var.name}-rds-monitoring"
  assume_role_policy = data.aws_iam_policy_document.rds_monitoring_assume.json
}

data "aws_iam_policy_document" "rds_monitoring_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["monitoring.rds.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy_attachment" "rds_monitoring" {
  role       = aws_iam_role.rds_monitoring.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}

resource "aws_db_instance" "postgres" {
  identifier     = var.name
  engine         = "postgres"
  engine_version = var.db_engine_version
  instance_class = var.db_instance_class
  db_name        = "careplan"
  username       = "careplan"

  # RDS keeps the master password in Secrets Manager and rotates it; it never enters the state.
  manage_master_user_password   = true
  master_user_secret_kms_key_id = aws_kms_key.platform.key_id

  allocated_storage     = var.db_allocated_storage
  max_allocated_storage = var.db_max_allocated_storage
  storage_type          = "gp3"
  storage_encrypted     = true
  kms_key_id            = aws_kms_key.platform.arn

  multi_az               = var.db_multi_az
  db_subnet_group_name   = module.vpc.database_subnet_group_name
  vpc_security_group_ids = [aws_security_group.database.id]
  publicly_accessible    = false
  parameter_group_name   = aws_db_parameter_group.postgres.name

  backup_retention_period   = var.db_backup_retention_days
  backup_window             = "02:00-03:00"
  maintenance_window        = "sun:03:30-sun:04:30"
  copy_tags_to_snapshot     = true
  delete_automated_backups  = false
  deletion_protection       = var.deletion_protection
  skip_final_snapshot       = false
  final_snapshot_identifier = "${var.name}-final"

  auto_minor_version_upgrade          = true
  iam_database_authentication_enabled = true
  enabled_cloudwatch_logs_exports     = ["postgresql", "upgrade"]
  performance_insights_enabled        = true
  performance_insights_kms_key_id     = aws_kms_key.platform.arn
  monitoring_interval                 = 60
  monitoring_role_arn                 = aws_iam_role.rds_monitoring.arn
}

# The certificate authorities of RDS in the region: the services verify the server's certificate
# and host name (DATABASE_URL ?ssl=verify-full, PGSSLROOTCERT), so a man in the middle with any
# other certificate is refused. Published by AWS, fetched over HTTPS at apply time.
data "http" "rds_ca_bundle" {
  url = "https://truststore.pki.rds.amazonaws.com/${var.region}/${var.region}-bundle.pem"

  lifecycle {
    postcondition {
      condition     = self.status_code == 200 && strcontains(self.response_body, "BEGIN CERTIFICATE")
      error_message = "The RDS CA bundle of ${var.region} could not be fetched."
    }
  }
}

# Where the database is and whom to trust, for External Secrets to build DATABASE_URL and the CA
# file (not secret, but kept next to the credentials so that one ExternalSecret reads everything).
resource "aws_secretsmanager_secret" "database_connection" {
  # checkov:skip=CKV2_AWS_57:Holds host, port and database name only, no credential to rotate; the password lives in the RDS-managed secret, which RDS rotates.
  name                    = "${var.name}/database-connection"
  description             = "Host, port and database name of the ${var.name} PostgreSQL"
  kms_key_id              = aws_kms_key.platform.arn
  recovery_window_in_days = 7
}

resource "aws_secretsmanager_secret_version" "database_connection" {
  secret_id = aws_secretsmanager_secret.database_connection.id
  secret_string = jsonencode({
    host      = aws_db_instance.postgres.address
    port      = tostring(aws_db_instance.postgres.port)
    dbname    = aws_db_instance.postgres.db_name
    ca_bundle = data.http.rds_ca_bundle.response_body
  })
}

# The X-API-KEY the two APIs accept (CONTRACT.md section 4).
resource "random_password" "api_key" {
  length  = 40
  special = false
}

resource "aws_secretsmanager_secret" "api_key" {
  # checkov:skip=CKV2_AWS_57:A shared API key changes with the clients that use it; rotate with `terraform apply -replace=random_password.api_key` (deploy/README.md) rather than on a Lambda schedule.
  name                    = "${var.name}/api-key"
  description             = "X-API-KEY accepted by provider-schedule and care-plan"
  kms_key_id              = aws_kms_key.platform.arn
  recovery_window_in_days = 7
}

resource "aws_secretsmanager_secret_version" "api_key" {
  secret_id     = aws_secretsmanager_secret.api_key.id
  secret_string = random_password.api_key.result
}

# The passwords of the per-service database roles (eventing/sql/service_roles.sql): each
# service's own login, limited to its schema, and the owner of that schema that runs its
# migrations. The migration Jobs create the roles with the master user and these passwords;
# the services get only their own (External Secrets, deploy/k8s/components/eks).
resource "random_password" "database_role" {
  for_each = toset(["provider_schedule", "provider_schedule_owner", "care_plan", "care_plan_owner"])

  length  = 40
  special = false
}

resource "aws_secretsmanager_secret" "database_roles" {
  # checkov:skip=CKV2_AWS_57:Rotate with `terraform apply -replace='random_password.database_role["care_plan"]'` and a rerun of the migration Job, which sets the new password (deploy/README.md); a rotation Lambda would have to know the roles' grants.
  name                    = "${var.name}/database-roles"
  description             = "Passwords of the per-service PostgreSQL roles of ${var.name}"
  kms_key_id              = aws_kms_key.platform.arn
  recovery_window_in_days = 7
}

resource "aws_secretsmanager_secret_version" "database_roles" {
  secret_id     = aws_secretsmanager_secret.database_roles.id
  secret_string = jsonencode({ for role, password in random_password.database_role : role => password.result })
}
