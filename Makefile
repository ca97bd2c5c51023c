# Xueji developer commands. Needs GNU make and Python 3.11 or newer; everything else goes into .venv.
#
#   make run     set up, migrate, load the demo province and serve on http://127.0.0.1:$(PORT)/graphql
#   make test    set up and run the whole test suite (PYTEST_ARGS="-k login -x" to narrow it)
#   make lint    ruff check, ruff format --check, mypy backend

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# Loopback unless given on the command line (make run HOST=0.0.0.0); an inherited HOST variable is ignored.
HOST := 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=
BENCH_ARGS ?=

VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# python3.11 when it is there, else python3; either must be 3.11 or newer.
PYTHON ?= $(shell for p in python3.11 python3; do \
	if $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1; then command -v $$p; break; fi; \
	done)

.PHONY: help venv migrate demo run test lint ruff mypy schema bench migration clean

help:
	@echo "make run        set up, migrate, load demo data, serve on $(HOST):$(PORT) (PORT=...)"
	@echo "make test       run the test suite (PYTEST_ARGS=...)"
	@echo "make lint       ruff check, ruff format --check, mypy backend ('make ruff' for ruff only)"
	@echo "make venv       create .venv and install the project with its dev tools"
	@echo "make migrate    apply database migrations (xueji db upgrade)"
	@echo "make demo       load the demo province (idempotent)"
	@echo "make schema     write frontend-schema/schema.graphql"
	@echo "make bench      run the scripts in bench/ (BENCH_ARGS=...)"
	@echo "make migration m=\"add foo\"   autogenerate an Alembic revision"
	@echo "make clean      remove .venv, caches and build output (keeps var/)"

$(BIN)/python:
	@if [ -z "$(PYTHON)" ] || ! $(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then \
		echo "Python 3.11 or newer is required (found: $(or $(PYTHON),none); set PYTHON=...)" >&2; exit 1; fi
	@echo "creating $(VENV) with $(PYTHON) ($$($(PYTHON) --version))"
	$(PYTHON) -m venv $(VENV)

# Reinstall only when pyproject.toml changed since the last install. The filter drops pip's notes about
# this machine's missing local index folders; pip's own exit status still decides.
$(STAMP): pyproject.toml | $(BIN)/python
	{ $(BIN)/python -m pip install -q -e '.[dev]' 2>&1; } | { grep -v 'is ignored: it is neither a file nor a directory' || true; }
	@touch $@

venv: $(STAMP)

migrate: venv
	$(BIN)/xueji db upgrade

demo: migrate
	$(BIN)/xueji demo load

run: demo
	$(BIN)/xueji serve --host $(HOST) --port $(PORT)

# The graphql-ws client that tests/realtime/test_third_party_client.py drives with Node, as locked.
NODE_CLIENT := tests/realtime/node
$(NODE_CLIENT)/node_modules/.package-lock.json: $(NODE_CLIENT)/package-lock.json
	npm ci --prefix $(NODE_CLIENT) --no-audit --no-fund
	@touch $@

# Tests build their own databases in temporary folders; XUEJI_VAR_DIR points anything that reads the
# settings at a throw-away folder too, so var/ (the local database and secret) never matters.
test: venv $(NODE_CLIENT)/node_modules/.package-lock.json
	@echo "$(BIN)/pytest $(PYTEST_ARGS)"
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	XUEJI_VAR_DIR="$$tmp" $(BIN)/pytest $(PYTEST_ARGS)

ruff: venv
	@status=0; \
	echo "$(BIN)/ruff check ."; $(BIN)/ruff check . || status=1; \
	echo "$(BIN)/ruff format --check ."; $(BIN)/ruff format --check . || status=1; \
	exit $$status

mypy: venv
	$(BIN)/mypy backend

lint: venv
	@status=0; \
	$(MAKE) --no-print-directory ruff || status=1; \
	$(MAKE) --no-print-directory mypy || status=1; \
	exit $$status

schema: venv
	$(BIN)/xueji schema export

bench: venv
	@for script in bench/*.py; do echo "== $$script"; $(BIN)/python "$$script" $(BENCH_ARGS); done

migration: migrate
	@if [ -z "$(m)" ]; then echo 'usage: make migration m="what changed"' >&2; exit 1; fi
	$(BIN)/python -c "from backend.migrate import make_revision; make_revision('$(m)')"

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build dist *.egg-info
	rm -rf $(NODE_CLIENT)/node_modules
	find . -path ./.git -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
