# Developer entry points for codeinterview.  Needs only python3 (>= 3.11) on PATH.
#
#   make run                     install (if needed), migrate, serve on 127.0.0.1:8000 (SQLite)
#   make run HOST=0.0.0.0 PORT=9000
#   make test                    install with dev extras, run the suite against PostgreSQL
#   make test PYTEST_ARGS="-x -k storage"
#   make install / install-dev   only (re)create the venv and install the project
#   make lint                    ruff (lint and format check) and mypy --strict on the package
#   make clean                   remove the venv, the local SQLite files and caches
#
# The venv is reinstalled only when pyproject.toml is newer than its stamp file.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
HOST = 127.0.0.1
PORT = 8000
PYTEST_ARGS ?=

VENV_PY := $(VENV)/bin/python
VENV_BIN := $(VENV)/bin
STAMP_RUN := $(VENV)/.stamp-install
STAMP_DEV := $(VENV)/.stamp-install-dev
PIP := $(VENV_PY) -m pip --disable-pip-version-check --no-input

.PHONY: help install install-dev run migrate serve test lint clean

help:
	@echo "make run      install, migrate and serve on $(HOST):$(PORT) (override: make run HOST=0.0.0.0 PORT=9000)"
	@echo "make test     install dev extras and run the tests (PYTEST_ARGS=..., TEST_DATABASE_URL=...)"
	@echo "make install  create $(VENV) and install the project (install-dev: with the dev extras)"
	@echo "make lint     ruff and mypy --strict"
	@echo "make clean    remove $(VENV), local SQLite files and caches"

$(VENV_PY):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "codeinterview needs Python >= 3.11; $(PYTHON) is " + sys.version.split()[0] + " (use make PYTHON=python3.11 ...)")'
	$(PYTHON) -m venv $(VENV)

$(STAMP_RUN): pyproject.toml | $(VENV_PY)
	$(PIP) install -e .
	@touch $@

$(STAMP_DEV): pyproject.toml | $(VENV_PY)
	$(PIP) install -e '.[dev]'
	@touch $@ $(STAMP_RUN)

install: $(STAMP_RUN)

install-dev: $(STAMP_DEV)

migrate: $(STAMP_RUN)
	$(VENV_BIN)/codeinterview migrate

serve: $(STAMP_RUN)
	exec $(VENV_BIN)/codeinterview serve --host '$(HOST)' --port '$(PORT)'

run: migrate
	exec $(VENV_BIN)/codeinterview serve --host '$(HOST)' --port '$(PORT)'

test: $(STAMP_DEV)
	VENV='$(abspath $(VENV))' bash scripts/test.sh $(PYTEST_ARGS)

lint: $(STAMP_DEV)
	$(VENV_BIN)/ruff check codeinterview
	$(VENV_BIN)/ruff format --check codeinterview
	$(VENV_BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .ruff_cache .mypy_cache build dist *.egg-info
	rm -f codeinterview.db codeinterview.db-journal codeinterview.db-wal codeinterview.db-shm codeinterview.db.secret_key
	find . -name __pycache__ -type d -not -path './.git/*' -prune -exec rm -rf {} +
