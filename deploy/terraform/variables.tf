variable "region" {
  description = "AWS region of every resource."
  type        = string
  default     = "eu-west-1"
}

variable "name" {
  description = "Prefix of resource names (cluster, database, roles)."
  type        = string
  default     = "careplan"
}

variable "tags" {
  description = "Extra tags on every resource."
  type        = map(string)
  default     = {}
}

variable "availability_zones" {
  description = "Availability zones (of var.region) for subnets, nodes, brokers and the database standby."
  type        = list(string)
  default     = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]

  validation {
    condition     = length(var.availability_zones) >= 2 && length(var.availability_zones) <= 6
    error_message = "Use between 2 and 6 availability zones."
  }
}

variable "vpc_cidr" {
  description = "CIDR block of the VPC."
  type        = string
  default     = "10.40.0.0/16"
}

variable "single_nat_gateway" {
  description = "One NAT gateway for all zones (cheaper) instead of one per zone (zone-resilient)."
  type        = bool
  default     = false
}

variable "kubernetes_version" {
  # Inside EKS standard support: deploy/versions.json holds the dated end of support that
  # tests/unit/deploy/test_versions.py checks (past it EKS bills extended support per hour).
  description = "EKS control plane version; tests/unit/deploy validates the manifests against it."
  type        = string
  default     = "1.35"
}

variable "cluster_endpoint_public_access_cidrs" {
  description = "CIDRs allowed to reach the public EKS API endpoint; empty makes the endpoint private."
  type        = list(string)
  default     = []
}

variable "node_instance_types" {
  description = "Instance types of the managed node group."
  type        = list(string)
  default     = ["m6i.xlarge"]
}

variable "node_min_size" {
  description = "Minimum nodes in the managed node group."
  type        = number
  default     = 3
}

variable "node_max_size" {
  description = "Maximum nodes in the managed node group."
  type        = number
  default     = 6
}

variable "node_desired_size" {
  description = "Nodes the managed node group starts with."
  type        = number
  default     = 3
}

variable "db_instance_class" {
  description = "RDS instance class of the PostgreSQL database."
  type        = string
  default     = "db.m6g.large"
}

variable "db_engine_version" {
  # The major version only: RDS applies minor upgrades itself (auto_minor_version_upgrade), and
  # a pinned minor would then be older than the running one, so a later `terraform apply`
  # (the teardown's included) would try a downgrade that RDS refuses.
  description = "PostgreSQL major version on RDS; RDS keeps the minor version current."
  type        = string
  default     = "17"

  validation {
    condition     = can(regex("^[0-9]+$", var.db_engine_version))
    error_message = "Give the major version only (e.g. \"17\"): minor versions are upgraded by RDS."
  }
}

variable "db_allocated_storage" {
  description = "Initial storage of the database, in GiB."
  type        = number
  default     = 50
}

variable "db_max_allocated_storage" {
  description = "Upper bound of storage autoscaling, in GiB."
  type        = number
  default     = 500
}

variable "db_multi_az" {
  description = "Run a synchronous standby in a second availability zone."
  type        = bool
  default     = true
}

variable "db_backup_retention_days" {
  description = "Days of automated backups (point-in-time recovery window)."
  type        = number
  default     = 14

  validation {
    condition     = var.db_backup_retention_days >= 1 && var.db_backup_retention_days <= 35
    error_message = "Backups must stay on: between 1 and 35 days."
  }
}

variable "deletion_protection" {
  description = "Protect the database and the DynamoDB table from deletion; set false before `terraform destroy`."
  type        = bool
  default     = true
}

variable "use_msk" {
  description = "Run Kafka on Amazon MSK instead of Strimzi inside the cluster."
  type        = bool
  default     = false
}

variable "msk_acls_enforced" {
  description = "Refuse MSK requests no ACL allows; set after the ACL Job ran once (deploy/README.md)."
  type        = bool
  default     = true
}

variable "msk_kafka_version" {
  description = "Kafka version of the MSK cluster (when use_msk)."
  type        = string
  default     = "3.9.x"
}

variable "msk_instance_type" {
  description = "Broker instance type of the MSK cluster (when use_msk)."
  type        = string
  default     = "kafka.m7g.large"
}

variable "msk_volume_size" {
  description = "EBS volume per MSK broker, in GiB (when use_msk)."
  type        = number
  default     = 100
}

variable "lambda_reserved_concurrency" {
  # Unreserved by default: AWS keeps 10 executions of the account's pool unreserved, and new
  # accounts often have a pool of 10, so reserving any of it fails `terraform apply` there.
  description = "Reserved concurrent executions of the Clinic Operations function; null reserves none."
  type        = number
  default     = null
}

variable "log_retention_days" {
  description = "Retention of the CloudWatch log groups this configuration creates."
  type        = number
  default     = 365
}

variable "ingress_host" {
  description = "Public host name of the APIs (the Ingress rule and TLS certificate)."
  type        = string
  default     = "careplan.example.com"
}

variable "acm_certificate_arn" {
  description = "ACM certificate for ingress_host, used by the ALB; issue it beforehand (see deploy/README.md)."
  type        = string
  default     = ""
}

variable "kubernetes_namespace" {
  description = "Namespace of the platform (deploy/k8s/base sets the same)."
  type        = string
  default     = "careplan"
}

variable "notification_sender_domain" {
  # SES sends only from a verified identity: Terraform creates it, and its DKIM records must be
  # published in the domain's DNS (aws sesv2 get-email-identity lists them) before SES sends.
  description = "Domain the Patient Notifications function sends from (bookings@<domain>); verified as an SES identity."
  type        = string
}

variable "notification_recipient_template" {
  # The contract carries no e-mail address: the address is derived from the patient id. Point it
  # at the mailbox scheme (or relay) that reaches patients; an SES account still in the sandbox
  # only delivers to verified recipients.
  description = "Recipient address of a patient, with {patient_id} replaced by the patient's id."
  type        = string
}
