# Two commands do all set-up: `make run` and `make test`. uv is installed into .ci/.uv (no global
# site-packages touched) and builds .venv from the lock file.
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.9
UV := .ci/.uv/bin/uv
VENV := .venv
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON := $(shell command -v $(PYTHON))

.PHONY: run test test-container lint format bench fuzz soak install clean

$(UV):
	$(PYTHON) -m pip install --quiet --disable-pip-version-check --target .ci/.uv uv==$(UV_VERSION)

$(VENV)/.installed: $(UV) pyproject.toml uv.lock
	$(UV) sync --locked --compile-bytecode
	touch $@

install: $(VENV)/.installed

run: install
	$(VENV)/bin/chatd serve

test: install
	$(VENV)/bin/python -m pytest

# Builds the Dockerfile's image and runs it alone, then compose.yaml's stack, with podman (no
# Docker daemon or registry needed: tests/container); removes all it made. A few minutes.
test-container: install
	$(VENV)/bin/python -m pytest tests/container

lint: install
	$(VENV)/bin/ruff check src tests bench examples
	$(VENV)/bin/ruff format --check src tests bench examples
	$(VENV)/bin/mypy
	$(VENV)/bin/hadolint Dockerfile

format: install
	$(VENV)/bin/ruff format src tests bench examples
	$(VENV)/bin/ruff check --fix src tests bench examples

bench: install
	bash bench/install-tools
	$(VENV)/bin/python -m bench

# schemathesis, long: >= 10,000 generated requests against both APIs' schema (make test runs a
# bounded one).
fuzz: install
	$(VENV)/bin/python -m tests.fuzz

# 60 s of mixed load (200 HTTP connections, 200 WebSocket clients) on each database: zero
# errors, p99 reported, server RSS flat (docs/reliability.md).
soak: install
	$(VENV)/bin/python -m bench.soak --database sqlite
	$(VENV)/bin/python -m bench.soak --database postgresql

clean:
	rm -rf $(VENV) .ci/.uv .pytest_cache .mypy_cache .ruff_cache
