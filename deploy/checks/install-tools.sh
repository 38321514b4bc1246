#!/usr/bin/env bash
# Installs, into .careplan/tools/ (gitignored), every tool the offline deployment checks
# (tests/unit/deploy/) need. Idempotent: a tool already at its pinned version is left alone.
#
#   bin/kustomize      sigs.k8s.io/kustomize/kustomize/v5, built from the Go module proxy
#   venv/              kubernetes-validate (bundled k8s schemas, offline), python-hcl2, jsonschema
#   checkov-venv/      checkov (its pins clash with the workspace and with python-hcl2:
#                      it ships the fork bc-python-hcl2 under the same module name `hcl2`)
#   compose-venv/      docker-compose 1.29 (validates a compose file without an engine; it needs
#                      PyYAML<6 and jsonschema<4, which clash with both other venvs)
#   strimzi-crds/      the Kafka, KafkaNodePool, KafkaTopic and KafkaUser CRDs of the Strimzi release the
#                      manifests target, generated from io.strimzi:api by io.strimzi:crd-generator
#                      (both from Maven Central; see deploy/checks/strimzi-crds/pom.xml). Needs
#                      Maven and a Java 21+ runtime (the generator's class files are Java 21).
#
# Usage: deploy/checks/install-tools.sh            (from anywhere inside the repository)
set -euo pipefail

KUSTOMIZE_VERSION="v5.7.1"
CHECKOV_VERSION="3.3.30"
KUBERNETES_VALIDATE_VERSION="1.37.0"
PYTHON_HCL2_VERSION="8.1.4"
JSONSCHEMA_VERSION="4.25.1"
DOCKER_COMPOSE_VERSION="1.29.2"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TOOLS="${CAREPLAN_TOOLS_DIR:-$ROOT/.careplan/tools}"
mkdir -p "$TOOLS/bin"
STAMP_DIR="$TOOLS/stamps"
mkdir -p "$STAMP_DIR"

log() { printf '[install-tools] %s\n' "$*" >&2; }

need() {
  command -v "$1" >/dev/null 2>&1 || { log "missing '$1' on PATH: $2"; exit 1; }
}
need go "kustomize is built with the Go toolchain"
# uv from PATH, else the one the Makefile bootstraps into .careplan/bootstrap.
if ! command -v uv >/dev/null 2>&1 && [[ -x "$ROOT/.careplan/bootstrap/bin/uv" ]]; then
  PATH="$ROOT/.careplan/bootstrap/bin:$PATH"
fi
need uv "the Python tool venvs are made with uv"
need mvn "the Strimzi CRDs are generated from Maven Central artifacts"

# A stamp records what was installed, so that a rerun with unchanged pins does nothing and a
# changed pin reinstalls.
stamp_ok() { [[ -f "$STAMP_DIR/$1" && "$(cat "$STAMP_DIR/$1")" == "$2" ]]; }
stamp_set() { printf '%s' "$2" >"$STAMP_DIR/$1"; }

# --- kustomize -------------------------------------------------------------------------------
if stamp_ok kustomize "$KUSTOMIZE_VERSION" && [[ -x "$TOOLS/bin/kustomize" ]]; then
  log "kustomize $KUSTOMIZE_VERSION already installed"
else
  log "building kustomize $KUSTOMIZE_VERSION"
  GOBIN="$TOOLS/bin" GOFLAGS="-buildvcs=false" \
    go install "sigs.k8s.io/kustomize/kustomize/v5@${KUSTOMIZE_VERSION}"
  stamp_set kustomize "$KUSTOMIZE_VERSION"
fi

PYTHON="${CAREPLAN_TOOLS_PYTHON:-3.11}"

make_venv() {  # name, stamp value, then the requirements
  local name="$1" want="$2"; shift 2
  if stamp_ok "$name" "$want" && [[ -x "$TOOLS/$name/bin/python" ]]; then
    log "$name already has $want"
    return
  fi
  log "creating $name: $*"
  rm -rf "$TOOLS/$name"
  uv venv --quiet --python "$PYTHON" "$TOOLS/$name"
  "${UV_PIP[@]}" --python "$TOOLS/$name/bin/python" "$@"
  stamp_set "$name" "$want"
}

UV_PIP=(uv pip install --quiet)

# --- kubernetes-validate, python-hcl2 --------------------------------------------------------
make_venv venv "kv=$KUBERNETES_VALIDATE_VERSION hcl2=$PYTHON_HCL2_VERSION js=$JSONSCHEMA_VERSION" \
  "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" \
  "python-hcl2==$PYTHON_HCL2_VERSION" \
  "jsonschema==$JSONSCHEMA_VERSION" \
  "pyyaml>=6"

# --- checkov ---------------------------------------------------------------------------------
make_venv checkov-venv "checkov=$CHECKOV_VERSION" "checkov==$CHECKOV_VERSION"

# --- docker-compose 1.29 ---------------------------------------------------------------------
# PyYAML 5.4.1 ships no wheel for Python 3.11 and its setup.py breaks under Cython 3, so its
# build is constrained to Cython 0.29.
BUILD_CONSTRAINTS="$TOOLS/compose-build-constraints.txt"
printf 'cython<3\n' >"$BUILD_CONSTRAINTS"
UV_PIP=(uv pip install --quiet --build-constraints "$BUILD_CONSTRAINTS")
make_venv compose-venv "docker-compose=$DOCKER_COMPOSE_VERSION" \
  "docker-compose==$DOCKER_COMPOSE_VERSION"

# --- Strimzi CRDs ----------------------------------------------------------------------------
POM="$ROOT/deploy/checks/strimzi-crds/pom.xml"
STRIMZI_STAMP="$(sha256sum "$POM" | cut -c1-16)"
CRDS="$TOOLS/strimzi-crds"

find_java21() {
  local candidate major
  for candidate in "${JAVA_HOME:+$JAVA_HOME/bin/java}" "$(command -v java || true)" /usr/lib/jvm/*/bin/java; do
    [[ -n "$candidate" && -x "$candidate" ]] || continue
    major="$("$candidate" -XshowSettings:properties -version 2>&1 \
      | sed -n 's/^ *java\.specification\.version = \([0-9]*\).*/\1/p')"
    if [[ -n "$major" && "$major" -ge 21 ]]; then
      printf '%s' "$candidate"
      return 0
    fi
  done
  return 1
}

if stamp_ok strimzi-crds "$STRIMZI_STAMP" && [[ -s "$CRDS/043-Crd-kafkatopic.yaml" ]] \
  && [[ -s "$CRDS/044-Crd-kafkauser.yaml" ]]; then
  log "Strimzi CRDs already generated"
else
  JAVA="$(find_java21)" || { log "no Java 21+ runtime found (JAVA_HOME, PATH, /usr/lib/jvm)"; exit 1; }
  log "generating Strimzi CRDs with $JAVA"
  rm -rf "$CRDS" && mkdir -p "$CRDS"
  mvn -q -B -Dstyle.color=never -f "$POM" dependency:build-classpath -Dmdep.outputFile="$CRDS/classpath.txt" >&2
  CLASSPATH_JARS="$(cat "$CRDS/classpath.txt")"
  # The arguments of Strimzi's own build (api/pom.xml of the same release).
  "$JAVA" -cp "$CLASSPATH_JARS" io.strimzi.crdgenerator.CrdGenerator \
    --label app:strimzi --label strimzi.io/crd-install:true --target-kube 1.16+ \
    --crd-api-version v1 --api-versions v1beta2,v1 --storage-version v1beta2 --yaml \
    "io.strimzi.api.kafka.model.kafka.Kafka=$CRDS/040-Crd-kafka.yaml" \
    "io.strimzi.api.kafka.model.nodepool.KafkaNodePool=$CRDS/045-Crd-kafkanodepool.yaml" >&2
  "$JAVA" -cp "$CLASSPATH_JARS" io.strimzi.crdgenerator.CrdGenerator \
    --label app:strimzi --label strimzi.io/crd-install:true --target-kube 1.16+ \
    --crd-api-version v1 --api-versions v1alpha1,v1beta1,v1beta2,v1 --storage-version v1beta2 --yaml \
    "io.strimzi.api.kafka.model.topic.KafkaTopic=$CRDS/043-Crd-kafkatopic.yaml" \
    "io.strimzi.api.kafka.model.user.KafkaUser=$CRDS/044-Crd-kafkauser.yaml" >&2
  stamp_set strimzi-crds "$STRIMZI_STAMP"
fi

log "tools ready in $TOOLS"
"$TOOLS/bin/kustomize" version >&2
"$TOOLS/checkov-venv/bin/checkov" --version >&2
"$TOOLS/compose-venv/bin/docker-compose" version --short >&2
"$TOOLS/venv/bin/python" -c 'import kubernetes_validate, hcl2; print("kubernetes-validate + python-hcl2 ok")' >&2
ls "$CRDS"/*.yaml >&2
