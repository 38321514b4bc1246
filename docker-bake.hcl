# The images of the platform, all from the one Dockerfile: a target per deployable, which differ
# only in their build arguments. `make images` runs `docker buildx bake` (group "default"),
# `make push REGISTRY=...` runs `docker buildx bake --push services` (deploy/README.md, "Images").

# Where the images go: "docker.io" names them careplan/<name> locally; for ECR, the registry that
# `terraform output -raw ecr_registry` prints.
variable "REGISTRY" {
  default = "docker.io"
}

# The release; deploy/k8s/base/kustomization.yaml (images:) names the same tag.
variable "TAG" {
  default = "0.1.0"
}

# The EKS nodes are x86_64 (deploy/terraform, node_instance_types).
variable "PLATFORM" {
  default = "linux/amd64"
}

group "default" {
  targets = ["services", "lambda-local"]
}

# The four long-running services: an ECR repository each (deploy/terraform/ecr.tf).
group "services" {
  targets = ["provider-schedule", "care-plan", "insurance-processor", "eventbridge-sink"]
}

# Local only (compose): in AWS these are Lambda zips, see the Dockerfile's lambda-local stage.
group "lambda-local" {
  targets = ["clinic-operations-local", "patient-notifications-local"]
}

target "_common" {
  context    = "."
  dockerfile = "Dockerfile"
  platforms  = ["${PLATFORM}"]
}

target "_service" {
  inherits = ["_common"]
  target   = "runtime"
}

target "_lambda-local" {
  inherits = ["_common"]
  target   = "lambda-local"
}

target "provider-schedule" {
  inherits = ["_service"]
  args     = { PACKAGES = "provider-schedule", APP_MODULE = "provider_schedule", HTTP_PORT = "8090" }
  tags     = ["${REGISTRY}/careplan/provider-schedule:${TAG}"]
}

target "care-plan" {
  inherits = ["_service"]
  args     = { PACKAGES = "care-plan", APP_MODULE = "care_plan", HTTP_PORT = "8080" }
  tags     = ["${REGISTRY}/careplan/care-plan:${TAG}"]
}

target "insurance-processor" {
  inherits = ["_service"]
  args = {
    PACKAGES   = "insurance-processor"
    APP_MODULE = "insurance_processor"
    HTTP_PORT  = "8081"
    STATE_DIR  = "/var/lib/insurance-processor"
  }
  tags = ["${REGISTRY}/careplan/insurance-processor:${TAG}"]
}

target "eventbridge-sink" {
  inherits = ["_service"]
  args     = { PACKAGES = "eventbridge-sink", APP_MODULE = "eventbridge_sink", HTTP_PORT = "8082" }
  tags     = ["${REGISTRY}/careplan/eventbridge-sink:${TAG}"]
}

target "clinic-operations-local" {
  inherits = ["_lambda-local"]
  args     = { PACKAGES = "clinic-operations devstack" }
  tags     = ["${REGISTRY}/careplan/clinic-operations-local:${TAG}"]
}

target "patient-notifications-local" {
  inherits = ["_lambda-local"]
  args     = { PACKAGES = "patient-notifications devstack" }
  tags     = ["${REGISTRY}/careplan/patient-notifications-local:${TAG}"]
}
