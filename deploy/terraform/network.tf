module "vpc" {
  # checkov:skip=CKV_TF_1:Registry module pinned to an exact release version: the Terraform registry never re-publishes a version, and a git commit source would bypass the registry the platform standardises on.
  source  = "terraform-aws-modules/vpc/aws"
  version = "5.21.0"

  name = var.name
  cidr = var.vpc_cidr
  azs  = local.azs

  public_subnets   = [for i, _ in local.azs : cidrsubnet(var.vpc_cidr, 8, i)]
  private_subnets  = [for i, _ in local.azs : cidrsubnet(var.vpc_cidr, 4, i + 1)]
  database_subnets = [for i, _ in local.azs : cidrsubnet(var.vpc_cidr, 8, i + 200)]

  create_database_subnet_group = true
  enable_nat_gateway           = true
  single_nat_gateway           = var.single_nat_gateway
  one_nat_gateway_per_az       = !var.single_nat_gateway
  enable_dns_hostnames         = true
  enable_dns_support           = true

  enable_flow_log                                 = true
  create_flow_log_cloudwatch_log_group            = true
  create_flow_log_cloudwatch_iam_role             = true
  flow_log_cloudwatch_log_group_retention_in_days = var.log_retention_days
  flow_log_cloudwatch_log_group_kms_key_id        = aws_kms_key.platform.arn

  # Where the AWS Load Balancer Controller places internet-facing and internal load balancers.
  public_subnet_tags = {
    "kubernetes.io/role/elb" = 1
  }
  private_subnet_tags = {
    "kubernetes.io/role/internal-elb" = 1
  }
}

module "eks" {
  # checkov:skip=CKV_TF_1:Registry module pinned to an exact release version: the Terraform registry never re-publishes a version, and a git commit source would bypass the registry the platform standardises on.
  source  = "terraform-aws-modules/eks/aws"
  version = "20.37.2"

  cluster_name    = var.name
  cluster_version = var.kubernetes_version

  vpc_id     = module.vpc.vpc_id
  subnet_ids = module.vpc.private_subnets

  cluster_endpoint_private_access      = true
  cluster_endpoint_public_access       = length(var.cluster_endpoint_public_access_cidrs) > 0
  cluster_endpoint_public_access_cidrs = var.cluster_endpoint_public_access_cidrs

  # IRSA: the OIDC provider that lets a Kubernetes service account assume an IAM role.
  enable_irsa                              = true
  enable_cluster_creator_admin_permissions = true

  # Kubernetes secrets encrypted with the platform key.
  create_kms_key = false
  cluster_encryption_config = {
    provider_key_arn = aws_kms_key.platform.arn
    resources        = ["secrets"]
  }
  cluster_enabled_log_types = ["api", "audit", "authenticator", "controllerManager", "scheduler"]

  cluster_addons = {
    coredns                = {}
    kube-proxy             = {}
    # Without enableNetworkPolicy the VPC CNI ignores NetworkPolicies: our default-deny and the
    # policies Strimzi generates would be accepted by the API server and enforced by nothing.
    vpc-cni = {
      before_compute       = true
      configuration_values = jsonencode({ enableNetworkPolicy = "true" })
    }
    eks-pod-identity-agent = {}
    aws-ebs-csi-driver = {
      service_account_role_arn = module.ebs_csi_irsa.iam_role_arn
    }
  }

  eks_managed_node_groups = {
    default = {
      instance_types = var.node_instance_types
      min_size       = var.node_min_size
      max_size       = var.node_max_size
      desired_size   = var.node_desired_size
      ami_type       = "AL2023_x86_64_STANDARD"
      # Instance metadata only with a token, one hop away: pods cannot reach the node role's
      # credentials (they use IRSA). So no pod may need IMDS: the AWS Load Balancer Controller
      # would read the VPC id and region there and crash-loop ("failed to introspect vpcID"),
      # after which its Service webhook rejects every Service. deploy/README.md therefore
      # installs it with region and vpcId (outputs region and vpc_id); a test checks both.
      metadata_options = {
        http_endpoint               = "enabled"
        http_tokens                 = "required"
        http_put_response_hop_limit = 1
      }
    }
  }
}
