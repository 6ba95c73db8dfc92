# The two commands of README.md. Both install what they need into .venv from the pinned requirements first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

FRONTEND_STAMP := frontend/node_modules/.installed
FRONTEND_BUILD := static/app/manifest.json
FRONTEND_SRC := $(shell find frontend/src -type f 2>/dev/null) frontend/vite.config.ts frontend/tsconfig.json

.PHONY: run test lint typecheck bench install clean frontend flower celery agent api-types

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .  # the `ec` command into $(VENV)/bin
	@touch $(STAMP)

# The designer (frontend/): npm installs exactly package-lock.json; the build is redone when a source changes.
$(FRONTEND_STAMP): frontend/package.json frontend/package-lock.json
	cd frontend && npm ci --no-audit --no-fund --loglevel=error
	@touch $(FRONTEND_STAMP)

$(FRONTEND_BUILD): $(FRONTEND_STAMP) $(FRONTEND_SRC)
	cd frontend && npm run --silent build -- --logLevel warn

frontend: $(FRONTEND_BUILD)

install: $(STAMP) $(FRONTEND_BUILD)

run: $(STAMP) $(FRONTEND_BUILD)
	$(PY) -m backend.devstack run

# Vitest (stores, graph transforms) first: seconds, and it fails before the minutes of the Python suite.
test: $(STAMP) $(FRONTEND_BUILD)
	cd frontend && npm test --silent
	$(PY) -m backend.devstack exec -- $(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP) $(FRONTEND_STAMP)
	$(PY) -m backend.devstack exec -- $(VENV)/bin/mypy
	cd frontend && npm run --silent typecheck

bench: $(STAMP)
	$(PY) -m backend.devstack exec -- $(PY) -m pytest tests/benchmarks -p no:cacheprovider -s --benchmarks

# Celery's own tools against the stack `make run` started (its broker, from .data/run/stack.json): Flower on
# http://127.0.0.1:5555 (an operator's tool: it shows task arguments, so it listens on this machine only), and
# Celery's command line, e.g. make celery ARGS="inspect active_queues".
flower: $(STAMP)
	$(PY) -m celery -A backend flower --address=127.0.0.1 --port=5555

celery: $(STAMP)
	$(PY) -m celery -A backend $(ARGS)

# Another node on this machine, joining the stack `make run` started (its database and broker, from
# .data/run/stack.json): `make agent NODE=n2 CPUS=2`. CPUS=0 reports the machine's CPU count. Its slots are strict,
# as a production node's (OVERSUBSCRIBE=1 allows more, as `make run`'s own node does).
NODE ?=
CPUS ?= 0
OVERSUBSCRIBE ?= 0
agent: $(STAMP)
	@test -n "$(NODE)" || { echo "name the node: make agent NODE=n2 [CPUS=2]" >&2; exit 2; }
	ELASTICCODE_NODE_NAME=$(NODE) ELASTICCODE_NODE_CPUS=$(CPUS) ELASTICCODE_NODE_OVERSUBSCRIBE=$(OVERSUBSCRIBE) \
		$(PY) manage.py agent

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache frontend/node_modules static/app

# The designer's API types (frontend/src/api/schema.gen.ts) from the API's OpenAPI schema, as /api/schema/ serves it;
# tests/test_openapi.py fails when they are stale. The schema needs settings, not servers: the URLs are never dialled.
api-types: $(STAMP)
	DATABASE_URL=postgres://schema@127.0.0.1:1/schema REDIS_URL=redis://127.0.0.1:1/0 DJANGO_SETTINGS_MODULE=backend.settings.test \
		$(PY) -m backend.api.types frontend/src/api/schema.gen.ts
