#!/usr/bin/env bash
# `make images` and `make push`: the images of docker-bake.hcl, built by `docker buildx bake`.
#
#   deploy/images.sh build             every image, loaded into the local engine
#   deploy/images.sh push <registry>   the four services, pushed to <registry> (ECR: log in first,
#                                      deploy/README.md "Images"); TAG=... overrides the release tag
#
# Without a Docker engine (as on the CI runner) it says so and exits 2: nothing is skipped silently.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

fail() { printf 'images: %s\n' "$*" >&2; exit 2; }

command -v docker >/dev/null 2>&1 \
  || fail "no 'docker' on PATH: building the images needs a Docker engine with buildx"
docker info >/dev/null 2>&1 \
  || fail "'docker info' failed: no Docker engine is reachable (start one, or set DOCKER_HOST)"
docker buildx version >/dev/null 2>&1 \
  || fail "'docker buildx' is missing: install the buildx plugin (docker buildx bake)"

case "${1:-}" in
  build)
    exec docker buildx bake --file docker-bake.hcl --load
    ;;
  push)
    registry="${2:-}"
    [[ -n "$registry" ]] || fail "push needs a registry: make push REGISTRY=<registry>"
    REGISTRY="$registry" exec docker buildx bake --file docker-bake.hcl --push services
    ;;
  *)
    fail "usage: deploy/images.sh build | push <registry>"
    ;;
esac
