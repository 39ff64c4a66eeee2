#!/usr/bin/env bash
# The test servers that do not come from PyPI: Azurite, Azure Storage's emulator, from npm at
# the version tests/support/azurite/package-lock.json pins (moto and the GCS emulator are
# dev dependencies in the Python lock). Idempotent: fast when the lock has not changed.
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

dir=tests/support/azurite
stamp="$dir/node_modules/.installed-$(sha256sum "$dir/package-lock.json" | cut -c1-16)"
if [ ! -f "$stamp" ] || [ ! -x "$dir/node_modules/.bin/azurite-blob" ]; then
  # --ignore-scripts: nothing from the registry runs at install time.
  npm ci --prefix "$dir" --no-audit --no-fund --ignore-scripts --loglevel=error
  touch "$stamp"
fi
