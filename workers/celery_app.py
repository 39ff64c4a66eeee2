"""The Celery app factory: ``celeryconfig`` plus the deployment's settings.

The API never builds a Celery app (it pushes task messages itself, atomically with the
record: ``tasks.jobs.messages``); workers, Flower and the tests do."""

from __future__ import annotations

from typing import Any, TypeVar
from urllib.parse import quote

from celery import Celery

from gateway.queues import MAX_PRIORITY, PRIORITY_SEP
from gateway.redis_connect import RedisEndpoint
from gateway.settings import Settings

AppT = TypeVar("AppT", bound=Celery)


def make_celery(
    settings: Settings, app_class: type[AppT] = Celery, main: str = "llm_gateway"
) -> AppT:
    """A Celery app configured from ``celeryconfig`` plus deployment settings."""
    endpoint = RedisEndpoint.from_settings(settings)
    options: dict[str, Any] = {
        "visibility_timeout": settings.visibility_timeout_seconds,
        "queue_order_strategy": "priority",
        "priority_steps": list(range(MAX_PRIORITY + 1)),
        "sep": PRIORITY_SEP,
        "health_check_interval": 25,
    }
    if endpoint.uses_sentinel:
        broker = sentinel_broker_url(endpoint)
        # kombu's Sentinel transport: it asks the Sentinels for the master on each
        # (re)connect, as the gateway's own clients do (gateway.redis_connect).
        transport = "workers.broker:SentinelTransport"
        options["master_name"] = endpoint.master
        options["sentinel_kwargs"] = endpoint.sentinel_kwargs()
    else:
        broker = settings.redis_url
        # kombu's Redis transport, able to close a connection Redis dropped (workers.broker).
        transport = "workers.broker:Transport"
    app: AppT = app_class(main, broker=broker, set_as_current=False)
    app.config_from_object("celeryconfig")
    app.conf.broker_transport = transport
    app.conf.broker_transport_options = options
    app.conf.broker_pool_limit = 32
    # So that plain ``celery -A workers worker -Q llm.<instance>`` runs the right pool too.
    app.conf.worker_pool = "threads"
    app.conf.worker_concurrency = settings.worker_concurrency
    return app


def sentinel_broker_url(endpoint: RedisEndpoint) -> str:
    """kombu's form: ``sentinel://[user:password@]host:port/db`` per Sentinel, joined by
    ``;``. The credentials and database are the data nodes' (from ``REDIS_URL``); the
    Sentinels' own password travels in ``sentinel_kwargs``."""
    node = endpoint.data_node_kwargs()
    user = quote(str(node.get("username") or ""), safe="")
    password = quote(str(node.get("password") or ""), safe="")
    auth = f"{user}:{password}@" if user or password else ""
    db = int(node.get("db") or 0)
    return ";".join(f"sentinel://{auth}{host}:{port}/{db}" for host, port in endpoint.sentinels)
