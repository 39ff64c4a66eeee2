#!/usr/bin/env bash
# Install what the gateway needs on a fresh machine: the Debian packages (python3 with venv,
# make, redis-server) and a virtualenv with exactly the locked dependencies
# (requirements-dev.txt, hashes checked) and the project itself. Idempotent: fast when
# already done, and it repairs what an interrupted or failed run left behind.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"

# --- Debian packages: whatever is missing, in one apt-get run (root only) ----------------
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v make >/dev/null 2>&1 || missing+=(make)
if ! command -v "$PYTHON" >/dev/null 2>&1; then
  missing+=(python3 python3-venv)
elif ! "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1; then
  # Debian splits ensurepip out of python3: without it `python3 -m venv` leaves a .venv
  # with a python but no pip.
  missing+=(python3-venv)
fi
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "bootstrap: installing ${missing[*]}" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "${missing[@]}" >/dev/null
  else
    echo "bootstrap: missing ${missing[*]}; install them (e.g. apt-get install ${missing[*]})" >&2
    exit 1
  fi
fi

# --- The interpreter: the version pyproject.toml's requires-python allows ------------------
requires=$(sed -n 's/^requires-python *= *"\(.*\)"/\1/p' pyproject.toml)
# Plain comparisons of release numbers (">=3.11,<3.14"): no packaging module, and it runs
# on any python3 however old, so an old one gets this message rather than a traceback.
fits='
import sys
ops = {">=": "__ge__", "<=": "__le__", ">": "__gt__", "<": "__lt__", "==": "__eq__", "!=": "__ne__"}
def fits(spec):
    for clause in filter(None, (c.strip() for c in spec.split(","))):
        op = next(o for o in sorted(ops, key=len, reverse=True) if clause.startswith(o))
        want = tuple(int(p) for p in clause[len(op):].strip().split(".") if p != "*")
        if not getattr(sys.version_info[: len(want)], ops[op])(want):
            return False
    return True
sys.exit(0 if fits(sys.argv[1]) else 1)
'
python_fits() { "$1" -c "$fits" "$requires" >/dev/null 2>&1; }

# A usable venv: its python fits and can run pip. `python3 -m venv` without ensurepip, or
# interrupted, leaves .venv/bin/python without pip; every later run would then fail with
# "No module named pip" until someone deleted .venv by hand.
venv_usable() {
  [ -x .venv/bin/python ] && python_fits .venv/bin/python \
    && .venv/bin/python -m pip --version >/dev/null 2>&1
}

if ! venv_usable; then
  if [ -e .venv ] || [ -L .venv ]; then
    echo "bootstrap: .venv is half-built or too old (no pip, or not Python $requires): rebuilding" >&2
    rm -rf .venv
  fi
  if ! python_fits "$PYTHON"; then
    version=$("$PYTHON" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])' 2>&1 || true)
    echo "bootstrap: $PYTHON is Python $version; llm-gateway needs Python $requires" \
      "(pyproject.toml). Point PYTHON at one: PYTHON=python3.11 bash scripts/bootstrap.sh" >&2
    exit 1
  fi
  "$PYTHON" -m venv .venv
fi

# --- The locked dependencies and the project ----------------------------------------------
# Re-install when the lock or the project's metadata changes (entry points, package list).
# The stamp is written last: an install that fails or is interrupted leaves none, so the
# next run installs again.
stamp=.venv/.installed-$(cat requirements-dev.txt pyproject.toml | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ]; then
  rm -f .venv/.installed-*
  # --require-hashes: every package, transitive ones included, must be pinned and match its
  # hash. --no-deps on the project: its dependencies are exactly the lock's, nothing resolved.
  .venv/bin/python -m pip install -q --disable-pip-version-check --require-hashes \
    -r requirements-dev.txt
  .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps \
    --no-build-isolation -e .
  touch "$stamp"
fi
