# The two commands of the README. Both install what they need first (scripts/bootstrap.sh).
.PHONY: up test test-deps lint bootstrap bench lock

bootstrap:
	@bash scripts/bootstrap.sh

## Run the whole local stack (Redis, emulator, API, workers, Flower) and a demo job per provider.
up: bootstrap
	.venv/bin/llm-gateway up

## Run the test suite (starts its own redis-server, emulator, API, Celery workers and local object stores).
test: bootstrap test-deps
	.venv/bin/python -m pytest

## The test servers that do not come from PyPI (Azurite, from npm).
test-deps:
	@bash scripts/test_deps.sh

## ruff (lint + format check) and mypy on the packages.
lint: bootstrap
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy

bench: bootstrap
	.venv/bin/python bench/gateway_bench.py all

## Refresh requirements.txt and requirements-dev.txt from pyproject.toml's ranges (then: bash .ci/run, commit both).
lock: bootstrap
	@bash scripts/lock.sh
