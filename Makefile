# The README's two commands: `make demo` and `make test`. Both install what is missing first.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
UV_VERSION := 0.13.8
BOOTSTRAP := .careplan/bootstrap
UV := $(shell command -v uv 2>/dev/null || echo $(BOOTSTRAP)/bin/uv)
RUN := $(UV) run --frozen
PYTEST_ARGS ?=

.PHONY: help install deploy-tools browser conformance demo tracing test test-unit test-integration test-tracing test-random mutation mutation-smoke up down status lint format bench bench-tracing bench-tracing-pairs bench-tracing-side-by-side bench-calls chaos clean images push lambda-packages

help: ## Show the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*## "}{printf "  make %-17s %s\n",$$1,$$2}'

$(BOOTSTRAP)/bin/uv:
	@echo "Installing uv $(UV_VERSION) into $(BOOTSTRAP)"
	$(PYTHON) -m venv $(BOOTSTRAP)
	$(BOOTSTRAP)/bin/pip install --quiet "uv==$(UV_VERSION)"

.venv/.installed: $(if $(filter $(BOOTSTRAP)/bin/uv,$(UV)),$(BOOTSTRAP)/bin/uv) pyproject.toml uv.lock $(wildcard */*/pyproject.toml) $(wildcard */pyproject.toml)
	$(UV) sync --frozen --all-packages --compile-bytecode --python $(PYTHON)
	@touch $@

# Bytecode compiled ahead: where PYTHONDONTWRITEBYTECODE is set (this machine sets it) no
# import ever caches one, and every process compiled each module it imports again: a service
# took 5-12 s from start to consuming instead of ~1.6 s (make chaos). The workspace's own
# sources too (editable installs, outside site-packages); up-to-date files are skipped.
install: .venv/.installed ## Install the virtualenv, the packages and the Kafka jars
	$(RUN) python -m compileall -q -j 0 libs services devstack
	$(RUN) careplan install

deploy-tools: ## Install the offline deployment checkers (kustomize, checkov, ...) into .careplan/tools
	bash deploy/checks/install-tools.sh

browser: ## Headless Chromium for the browser tests (docs, event-flow page): Debian's package, when missing
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)

tracing: install ## Start the platform with Jaeger (built from its Go module once: minutes)
	$(RUN) careplan up --with tracing

demo: install ## Start the platform and play the booking story
	$(RUN) careplan up
	$(RUN) careplan demo

up: install ## Start the platform (idempotent)
	$(RUN) careplan up

down: .venv/.installed ## Stop everything `up` started
	$(RUN) careplan down

status: .venv/.installed ## Show what runs and where
	$(RUN) careplan status

lint: .venv/.installed ## ruff and mypy --strict
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy

test: install deploy-tools browser lint ## Lint, then unit, integration and end-to-end tests on a real broker and database
	$(RUN) pytest $(PYTEST_ARGS)
	$(MAKE) mutation-smoke

TEST_OFFSET = $(or $(CAREPLAN_TEST_PORT_OFFSET),10000)

test-random: install deploy-tools browser ## The whole suite in a random order (the seed is printed: --random-order-seed=N repeats it)
	$(RUN) pytest --random-order-bucket=global $(PYTEST_ARGS)

mutation: install ## mutmut over both services' domain/ and eventing's outbox, relay, inbox, consumer: score and survivors
	CAREPLAN_TEST_SHARED_PLATFORM=1 $(RUN) python tools/mutation.py; status=$$?; \
	  CAREPLAN_STATE_DIR=.careplan/test-$(TEST_OFFSET) CAREPLAN_PORT_OFFSET=$(TEST_OFFSET) \
	  $(RUN) careplan down >/dev/null; exit $$status

mutation-smoke: .venv/.installed ## `make mutation` sized down for `make test`: Provider Schedule's decisions only
	$(RUN) python tools/mutation.py --area provider_schedule.domain --mutants 'provider_schedule.domain.decisions.*'

test-tracing: install ## Build Jaeger, then read a booking's trace back from it (`careplan trace`)
	$(RUN) careplan install --with tracing
	CAREPLAN_REQUIRE_JAEGER=1 $(RUN) pytest tests/e2e/test_jaeger_trace.py $(PYTEST_ARGS)

test-unit: .venv/.installed ## Unit tests only (no infrastructure)
	$(RUN) pytest tests/unit $(PYTEST_ARGS)

images: ## Build every image with docker buildx bake (needs a Docker engine)
	bash deploy/images.sh build

lambda-packages: .venv/.installed ## The two Lambda functions with their dependencies, for Terraform's zips (deploy/terraform/.build)
	bash deploy/lambda_packages.sh

push: ## Push the four service images: make push REGISTRY=<registry> [TAG=<tag>]
	bash deploy/images.sh push "$(REGISTRY)"

format: .venv/.installed ## Apply ruff's fixes and formatting
	$(RUN) ruff check --fix .
	$(RUN) ruff format .

# The booking benchmarks measure a platform of their own, started from empty state every time.
# One that kept earlier runs' rows (outbox history purged an hour after publishing, autovacuum
# of 300+ MB tables in the middle of a run) cost 15-20 % more CPU per booking and fell into
# two modes from one run to the next (README, Measured).
BOOKING_BENCH := CAREPLAN_STATE_DIR=.careplan/bench-booking CAREPLAN_PORT_OFFSET=4000

define fresh_booking_platform
	-$(BOOKING_BENCH) $(RUN) careplan down
	rm -rf .careplan/bench-booking
	$(BOOKING_BENCH) $(RUN) careplan up --only care-plan --only provider-schedule
endef

bench: install ## Run the benchmarks under bench/ (they print their figures)
	$(RUN) python bench/outbox_relay.py
	$(RUN) python bench/search.py
	$(RUN) python bench/request_cost.py
	@# The broker of the benchmark's own platform, not of the user's `make demo` one: left
	@# running it took ~2.4 % of a core from whatever ran next (fresh_booking_platform stops it).
	$(BOOKING_BENCH) $(RUN) careplan up --only kafka
	$(BOOKING_BENCH) $(RUN) python bench/insurance_processor.py
	$(fresh_booking_platform)
	$(BOOKING_BENCH) $(RUN) python bench/booking.py
	$(BOOKING_BENCH) $(RUN) careplan down

conformance: install browser ## schemathesis --checks all against both APIs, many examples, a random seed
	CAREPLAN_CONFORMANCE_EXAMPLES=$${CAREPLAN_CONFORMANCE_EXAMPLES:-100} CAREPLAN_CONFORMANCE_SEED= \
	  $(RUN) pytest tests/e2e/test_api_conformance.py $(PYTEST_ARGS)

bench-tracing: install ## Booking figures with tracing off, at 10 % and at 100 % sampling
	$(fresh_booking_platform)
	$(BOOKING_BENCH) $(RUN) python bench/booking.py --rates 100 200 --seconds 15 --sampling off 0.1 1
	$(BOOKING_BENCH) $(RUN) careplan down

bench-tracing-pairs: install ## Tracing's throughput cost at capacity: off against 10 %, fresh platforms, alternating pairs
	$(BOOKING_BENCH) $(RUN) python bench/tracing_pairs.py --pairs 3 --rate 400 --seconds 20 --sampling 0.1
	$(BOOKING_BENCH) $(RUN) careplan down

bench-tracing-side-by-side: install ## Tracing's throughput cost at capacity, two platforms at once on the same cores: off/off (the method's spread), 10 % as deployed (no statement spans), 10 % with them
	$(RUN) python bench/tracing_side_by_side.py --runs 2 --sampling off
	OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=asyncpg $(RUN) python bench/tracing_side_by_side.py --runs 4 --sampling 0.1
	OTEL_PYTHON_DISABLED_INSTRUMENTATIONS= $(RUN) python bench/tracing_side_by_side.py --runs 4 --sampling 0.1

bench-calls: install ## Python calls per booking with tracing off, on unsampled, at 10 % (a count steal moves far less than CPU)
	$(fresh_booking_platform)
	$(BOOKING_BENCH) $(RUN) python bench/call_counts.py --sampling off 0 0.1
	$(BOOKING_BENCH) $(RUN) careplan down

chaos: install ## Booking load while every part is SIGKILLed, 1 then 2 replicas; prints the checks
	$(RUN) python bench/chaos.py --replicas 1 2 --rolling
	@# Passed: the platform it leaves (2 replicas, a broker at ~13 % of a core) would take CPU
	@# from whatever is measured next. Failed, make stops before this and leaves it to inspect.
	$(RUN) careplan down

clean: down ## Stop the platform (and any test platform) and remove local state
	for dir in .careplan/test-*; do [ -d "$$dir" ] && CAREPLAN_STATE_DIR=$$dir \
	  CAREPLAN_PORT_OFFSET=$${dir##*-} $(RUN) careplan down || true; done
	-$(BOOKING_BENCH) $(RUN) careplan down
	rm -rf .careplan/local .careplan/test-* .careplan/bench-booking
