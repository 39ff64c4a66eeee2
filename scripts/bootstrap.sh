#!/usr/bin/env bash
# Install what the gateway needs on a fresh machine: redis-server (Debian package) and a
# virtualenv with exactly the locked dependencies (requirements/dev.txt, hashes checked) and
# the project itself. Idempotent: fast when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v redis-server >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "bootstrap: installing redis-server" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  else
    echo "bootstrap: redis-server is missing; install it (e.g. apt-get install redis-server)" >&2
    exit 1
  fi
fi

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
# Re-install when the lock or the project's metadata changes (entry points, package list).
stamp=.venv/.installed-$(cat requirements/dev.txt pyproject.toml | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ]; then
  # --require-hashes: every package, transitive ones included, must be pinned and match its
  # hash. --no-deps on the project: its dependencies are exactly the lock's, nothing resolved.
  .venv/bin/python -m pip install -q --disable-pip-version-check --require-hashes \
    -r requirements/dev.txt
  .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps \
    --no-build-isolation -e .
  rm -f .venv/.installed-*
  touch "$stamp"
fi
