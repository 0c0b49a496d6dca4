# Lookout: `make up` starts the local stack, `make test` runs the whole suite against it.
# deploy/local/README.md says what runs where.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
VENV_PYTHON := $(VENV)/bin/python
STACK := $(VENV_PYTHON) deploy/local/stack.py
SCALE ?=
NAME ?=
PYTEST_ARGS ?=
ROWS ?= 10000
TENANTS ?= 10
# Every bench-* target of this file: `make bench` runs them all.
BENCH_TARGETS := $(shell sed -n 's/^\(bench-[a-z0-9-]*\):.*/\1/p' $(firstword $(MAKEFILE_LIST)))

.PHONY: help env up down ps logs status test lint export-contracts seed-analytics bench $(BENCH_TARGETS)

help:
	@echo "make up [SCALE=dashboard=2,...]  start the local stack (installs what is missing)"
	@echo "make down                        stop everything the stack started"
	@echo "make ps | status | logs [NAME=dashboard]"
	@echo "make test [PYTEST_ARGS=tests/stack]  run the suite (starts and stops the stack if needed)"
	@echo "make lint | export-contracts | bench | bench-outbox | bench-identity | bench-ingest | bench-datasource | bench-analytics"
	@echo "make seed-analytics [ROWS=10000 TENANTS=10]  usage for the reports (pipeline ≤ 20,000 rows, else straight)"

# The workspace's environment from the committed lock file (uv itself comes from pip if missing).
# Debian's own python refuses a plain pip install (PEP 668): then install uv past that guard.
env:
	@if uv --version >/dev/null 2>&1; then uv=uv; else \
		$(PYTHON) -m uv --version >/dev/null 2>&1 \
			|| $(PYTHON) -m pip install --quiet uv \
			|| $(PYTHON) -m pip install --quiet --break-system-packages uv; \
		uv="$(PYTHON) -m uv"; \
	fi; \
	$$uv sync --frozen --quiet

up: env
	$(STACK) up --scale '$(SCALE)'

down:
	@if [ -x $(VENV_PYTHON) ]; then $(STACK) down; else echo "no $(VENV): nothing to stop"; fi

ps:
	$(STACK) ps

status:
	$(STACK) status

logs:
	$(STACK) logs $(NAME)

# Reuse a running stack; start one otherwise and stop it afterwards. pytest's exit status is
# make's: 5 (no tests collected) fails too.
test: env
	@started=0; \
	if ! $(STACK) status >/dev/null 2>&1; then \
		if $(STACK) ps >/dev/null 2>&1; then \
			echo "[test] the running stack is not healthy: make up (or make down) first"; \
			$(STACK) status || true; exit 1; \
		fi; \
		started=1; \
		$(STACK) up --scale '$(SCALE)' || { $(STACK) down; exit 1; }; \
	fi; \
	status=0; \
	$(VENV)/bin/pytest $(PYTEST_ARGS) || status=$$?; \
	if [ $$status -eq 5 ]; then echo "[test] pytest collected no tests: failing"; fi; \
	if [ $$started -eq 1 ]; then $(STACK) down || status=$$(( status ? status : 1 )); fi; \
	exit $$status

lint: env
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy --strict libs/*/src

export-contracts: env
	$(VENV)/bin/lookout-contracts-export

bench: $(BENCH_TARGETS)

bench-outbox: env
	$(VENV_PYTHON) bench/outbox.py

bench-dashboard: env
	$(VENV_PYTHON) bench/dashboard.py

bench-identity: env
	$(VENV_PYTHON) bench/identity.py

bench-ingest: env
	$(VENV_PYTHON) bench/ingest.py

bench-datasource: env
	$(VENV_PYTHON) bench/datasource.py

bench-alert: env
	$(VENV_PYTHON) bench/alert.py

bench-analytics: env
	$(VENV_PYTHON) bench/analytics.py

seed-analytics: env
	$(VENV_PYTHON) bench/analytics_seed.py --rows $(ROWS) --tenants $(TENANTS)
