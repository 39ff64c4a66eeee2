# syntax=docker/dockerfile:1
#
# One image for every llm-gateway role (api, worker, flower, emulator, downstream).
# The role is chosen by the command; the default is the HTTP API.
#
#   docker build -t llm-gateway:local .
#   docker run --rm -p 8080:8080 llm-gateway:local                # API
#   docker run --rm llm-gateway:local celery -A workers worker -Q llm.openai ...
#
# Both stages start from one base image pinned by digest (the same bytes on every
# build; a tag moves under you). To move to a newer python:3.11-slim, look its digest
# up (`docker buildx imagetools inspect python:3.11-slim`), replace it in both FROM
# lines and in Dockerfile.dev, and rebuild: CI's scan then judges the new base.

# ---------------------------------------------------------------------------
# builder: install the project and its dependencies into a self-contained venv
# ---------------------------------------------------------------------------
FROM python:3.11-slim@sha256:9c900dea9e8fb7e16277c179b555cc72d29a352dbc33cff48ad5a0412fd5bfc7 AS builder

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH="/opt/venv/bin:${PATH}"

WORKDIR /src

# The venv lives at the same path in both stages so console-script shebangs
# stay valid after the copy.
RUN python -m venv "${VIRTUAL_ENV}"

# Exactly the locked dependencies, every hash checked (requirements.txt, `make lock`:
# the `all` extra, every provider SDK), in a layer of their own so a code change does not
# reinstall them. Then the project itself with --no-deps: nothing is resolved at build time,
# so an image built next year is the same.
COPY requirements.txt requirements.txt
RUN pip install --no-cache-dir --require-hashes -r requirements.txt

COPY . .
RUN pip install --no-cache-dir --no-deps --no-build-isolation . \
    && test -x "${VIRTUAL_ENV}/bin/llm-gateway" \
    && test -x "${VIRTUAL_ENV}/bin/celery"

# ---------------------------------------------------------------------------
# runtime: slim base + the venv + config/ (providers, tools), running as uid 10001
# ---------------------------------------------------------------------------
FROM python:3.11-slim@sha256:9c900dea9e8fb7e16277c179b555cc72d29a352dbc33cff48ad5a0412fd5bfc7 AS runtime

LABEL org.opencontainers.image.title="llm-gateway" \
      org.opencontainers.image.description="FastAPI gateway + Celery workers for LLM provider calls"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH="/opt/venv/bin:${PATH}" \
    LLM_GATEWAY_HOST=0.0.0.0 \
    LLM_GATEWAY_PORT=8080 \
    LLM_GATEWAY_PROVIDERS_FILE=/app/config/providers.yaml \
    LLM_GATEWAY_TOOLS_FILE=/app/config/tools.yaml

RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid 10001 --home-dir /app \
       --no-create-home --shell /usr/sbin/nologin app

WORKDIR /app

# The settings' default config paths point next to the source tree, which the
# installed packages do not have: the ENV above points them at /app/config.
# Code and config stay owned by root (read-only for the app user); nothing is
# written under /app, so the container also runs with a read-only root fs.
COPY --from=builder /opt/venv /opt/venv
COPY config/ /app/config/
COPY scripts/entrypoint.sh /usr/local/bin/llm-gateway-entrypoint

USER 10001:10001

EXPOSE 8080

# python:3.11-slim has no curl/wget: probe the API liveness endpoint with the
# standard library. Non-API roles override or disable this check.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; port = os.environ.get('LLM_GATEWAY_PORT', '8080'); sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:' + port + '/health', timeout=4).status == 200 else 1)"]

# Waits (bounded) for Redis, then execs the command: the role's process is PID 1's
# child of `init` or the container's PID 1 itself and gets the signals. Kubernetes'
# `command:` replaces it (the probes and restarts do its job there).
ENTRYPOINT ["llm-gateway-entrypoint"]
CMD ["llm-gateway", "api"]
