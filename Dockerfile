# syntax=docker/dockerfile:1.7
# Every image of the platform, from one file. docker-bake.hcl gives each deployable its build
# arguments and target; `make images` builds them all, `make push REGISTRY=...` pushes the four
# services (deploy/README.md, "Images"). One image by hand, from the repository root:
#   docker build --build-arg PACKAGES=care-plan --build-arg APP_MODULE=care_plan \
#     --build-arg HTTP_PORT=8080 -t careplan/care-plan .
# Both Python stages use the same image, so the venv's interpreter path exists at run time.
FROM ghcr.io/astral-sh/uv:0.13.8 AS uv

# --- builder: resolves nothing, installs exactly what uv.lock pins for the deployable ---------
FROM python:3.11.14-slim-bookworm AS builder
# The workspace packages of the image: "care-plan", or "clinic-operations devstack".
ARG PACKAGES
COPY --from=uv /uv /bin/uv
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /src
# Dependencies first, from the manifests alone, so that a source change keeps this layer. uv
# needs every member's manifest to read the lock, also of members the image does not install.
COPY pyproject.toml uv.lock ./
COPY libs/contract/pyproject.toml libs/contract/
COPY libs/eventing/pyproject.toml libs/eventing/
COPY libs/telemetry/pyproject.toml libs/telemetry/
COPY devstack/pyproject.toml devstack/
COPY services/provider_schedule/pyproject.toml services/provider_schedule/
COPY services/care_plan/pyproject.toml services/care_plan/
COPY services/insurance_processor/pyproject.toml services/insurance_processor/
COPY services/eventbridge_sink/pyproject.toml services/eventbridge_sink/
COPY services/clinic_operations/pyproject.toml services/clinic_operations/
COPY services/patient_notifications/pyproject.toml services/patient_notifications/
# PACKAGES is split on purpose: one --package per word.
RUN --mount=type=cache,target=/root/.cache/uv \
    test -n "${PACKAGES}" \
 && uv sync --frozen --no-dev --no-install-workspace $(printf -- '--package %s ' ${PACKAGES})
# Then the workspace members the packages need, installed as wheels (not editable): the runtime
# stages copy one self-contained virtual environment and no source tree.
COPY libs/ libs/
COPY devstack/ devstack/
COPY services/ services/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable $(printf -- '--package %s ' ${PACKAGES})

# --- lambda-local: LOCAL ONLY, for docker compose -------------------------------------------
# In AWS, Clinic Operations and Patient Notifications are Lambda functions packaged as zips by
# Terraform (archive_file over services/<package>/src): their handlers need nothing beyond boto3,
# a zip deploys without an image registry, and AWS patches the managed python3.11 runtime. This
# target lets compose play what moto does not: the rules bootstrap (python -m
# devstack.aws_bootstrap, which reads deploy/eventbridge like `careplan up` and Terraform) and
# the SQS -> Lambda event source mapping (python -m devstack.lambda_runner), as `careplan up`.
FROM python:3.11.14-slim-bookworm AS lambda-local
RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --no-create-home --shell /usr/sbin/nologin app
COPY --from=builder /app/.venv /app/.venv
COPY deploy/eventbridge/ /app/deploy/eventbridge/
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    LOG_LEVEL=INFO \
    AWS_RESOURCES_DIR=/app/deploy/eventbridge
WORKDIR /app
USER 10001:10001
# The runner polls SQS and the bootstrap exits when done: neither has an endpoint to ask, so
# liveness is the process itself (compose restarts the runner when it exits).
HEALTHCHECK --interval=30s --timeout=3s --retries=3 \
  CMD ["python", "-c", "import os; os.kill(1, 0)"]
CMD ["python", "-m", "devstack.lambda_runner"]

# --- runtime: a long-running service; the same Python, the venv, a non-root user -------------
# No uv, no compiler, no sources.
FROM python:3.11.14-slim-bookworm AS runtime
# The module `python -m` runs, the port of its health endpoints, and the one folder it writes
# (only the Insurance Processor has one: its Quix Streams RocksDB state, a volume in compose and
# Kubernetes).
ARG APP_MODULE
ARG HTTP_PORT=8080
ARG STATE_DIR=""
RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --no-create-home --shell /usr/sbin/nologin app \
 && if [ -n "${STATE_DIR}" ]; then mkdir -p "${STATE_DIR}" && chown 10001:10001 "${STATE_DIR}"; fi
COPY --from=builder /app/.venv /app/.venv
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    APP_MODULE=${APP_MODULE} \
    HTTP_PORT=${HTTP_PORT} \
    STATE_DIR=${STATE_DIR} \
    LOG_LEVEL=INFO
WORKDIR /app
USER 10001:10001
EXPOSE ${HTTP_PORT}
# No curl in a slim image: the interpreter itself asks the liveness endpoint.
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ['HTTP_PORT'] + '/health/live', timeout=2)"]
# An exec-form CMD does not expand build arguments: runpy runs APP_MODULE exactly as
# `python -m $APP_MODULE` would, without a shell between the container and the process.
CMD ["python", "-c", "import os, runpy; runpy.run_module(os.environ['APP_MODULE'], run_name='__main__', alter_sys=True)"]
