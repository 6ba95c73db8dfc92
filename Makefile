# The two commands of README.md. Both install what they need into .venv from the pinned requirements first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck bench install clean

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(PY) -m backend.devstack run

test: $(STAMP)
	$(PY) -m backend.devstack exec -- $(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(PY) -m backend.devstack exec -- $(VENV)/bin/mypy

bench: $(STAMP)
	$(PY) -m backend.devstack exec -- $(PY) -m pytest tests/benchmarks -p no:cacheprovider -s --benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
