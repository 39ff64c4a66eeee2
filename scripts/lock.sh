#!/usr/bin/env bash
# Refresh the lock files from pyproject.toml's ranges (`make lock`). Every install — bootstrap,
# CI, the Docker image — installs exactly what these files pin, with hashes.
#
#   requirements.txt      the gateway with every provider SDK (the `all` extra), plus the
#                         build backend (the Docker image installs this one)
#   requirements-dev.txt  requirements.txt's pins + the dev tools (bootstrap and CI)
#   requirements-checkov.txt  checkov alone (scripts/test_deps.sh's .venv-checkov)
#
# A lock cannot leave an extra out: an install with fewer provider SDKs (only the types you
# run) is `pip install 'llm-gateway[oci]'` from the package index, resolved, unhashed.
#
# requirements-dev.txt is resolved with requirements.txt as a constraint, so a package both files pin has the
# same version in both. Upgrade one package only: `scripts/lock.sh --upgrade-package redis`.
# After a refresh: run `bash .ci/run`, then commit pyproject.toml and requirements*.txt together.
set -euo pipefail
cd "$(dirname "$0")/.."

UV=.venv/bin/uv
if [ ! -x "$UV" ]; then
  echo "lock: $UV is missing; run scripts/bootstrap.sh first (uv is a locked dev tool)" >&2
  exit 1
fi
common=(--generate-hashes --universal --python-version 3.11 --quiet "$@")
# The files' header names `make lock` (--custom-compile-command), not this machine's command line.
"$UV" pip compile pyproject.toml requirements-build.in --extra all "${common[@]}" \
  --custom-compile-command "make lock" -o requirements.txt
"$UV" pip compile pyproject.toml requirements-build.in --extra all --extra dev \
  --constraint requirements.txt "${common[@]}" \
  --custom-compile-command "make lock" -o requirements-dev.txt
# checkov's own lock (it cannot share the gateway's: it pins an older `packaging`).
"$UV" pip compile requirements-checkov.in "${common[@]}" \
  --custom-compile-command "make lock" -o requirements-checkov.txt
echo "lock: requirements.txt, requirements-dev.txt and requirements-checkov.txt refreshed" >&2
