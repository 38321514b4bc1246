#!/usr/bin/env bash
# The Lambda functions as the python3.11 runtime loads them from /var/task: each function's code,
# the workspace libraries it imports (telemetry) and the third-party versions uv.lock pins, for
# x86_64 Linux. Terraform zips deploy/terraform/.build/functions/<package>/ (lambda.tf,
# notifications.tf). Without this the zip held services/<package>/src alone, and the handlers'
# `import telemetry` (and the OpenTelemetry SDK under it) failed at the first invocation.
#
#   bash deploy/lambda_packages.sh [output folder]      # `make lambda-packages`
set -euo pipefail
cd "$(dirname "$0")/.."
UV=${UV:-.careplan/bootstrap/bin/uv}
OUT=${1:-deploy/terraform/.build/functions}
FUNCTIONS=(clinic-operations patient-notifications)

for project in "${FUNCTIONS[@]}"; do
  package=${project//-/_}
  target="$OUT/$package"
  work=$(mktemp -d)
  "$UV" export --frozen --package "$project" --no-dev --no-editable --no-hashes --no-header \
    --no-annotate -q -o "$work/all.txt"
  # Workspace members (lines naming a folder) go in as wheels: installed from their folders, uv
  # installs them editable, as a .pth file that the runtime never reads.
  grep -v '^\./' "$work/all.txt" > "$work/requirements.txt"
  for member in $(grep '^\./' "$work/all.txt"); do
    "$UV" build -q --wheel --out-dir "$work/wheels" "$member"
  done
  rm -rf "$target"
  "$UV" pip install -q --target "$target" --python-version 3.11 \
    --python-platform x86_64-manylinux2014 --only-binary :all: \
    -r "$work/requirements.txt" "$work"/wheels/*.whl
  rm -rf "$work" "$target/bin"
  echo "$target: $(du -sh "$target" | cut -f1)"
done
