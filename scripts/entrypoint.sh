#!/bin/sh
# The image's entrypoint: log what starts, wait (bounded) until Redis answers when a
# Redis URL is set, then exec the command so it receives the container's signals
# (a worker's warm shutdown on SIGTERM). Compose starts every service through it;
# Kubernetes manifests set `command:`, which replaces it.
#
#   LLM_GATEWAY_ENTRYPOINT_REDIS_WAIT_SECONDS  how long to wait for Redis (default 30,
#                                              0: do not wait)
set -eu

if [ "$#" -eq 0 ]; then
  set -- llm-gateway api
fi
wait_seconds="${LLM_GATEWAY_ENTRYPOINT_REDIS_WAIT_SECONDS:-30}"
echo "llm-gateway-entrypoint: starting $1" >&2

if [ -n "${LLM_GATEWAY_REDIS_URL:-}" ] && [ "$wait_seconds" != "0" ]; then
  # The redis client of the image itself (no redis-cli in a slim image). A PING every
  # half second until it answers or the time is up; the URL is never printed (it may
  # carry a password).
  python -c '
import sys, time
import redis
deadline = time.monotonic() + float(sys.argv[1])
client = redis.Redis.from_url(sys.argv[2], socket_connect_timeout=2, socket_timeout=2)
while True:
    try:
        client.ping()
        break
    except redis.RedisError as exc:
        if time.monotonic() >= deadline:
            sys.exit("llm-gateway-entrypoint: Redis did not answer within %ss (%s)"
                     % (sys.argv[1], type(exc).__name__))
        time.sleep(0.5)
' "$wait_seconds" "$LLM_GATEWAY_REDIS_URL"
fi

exec "$@"
