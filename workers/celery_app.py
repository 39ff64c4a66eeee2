"""The Celery app factory: ``celeryconfig`` plus the deployment's settings.

The API never builds a Celery app (it pushes task messages itself, atomically with the
record: ``tasks.jobs.messages``); workers, Flower and the tests do."""

from __future__ import annotations

from typing import TypeVar

from celery import Celery

from gateway.queues import MAX_PRIORITY, PRIORITY_SEP
from gateway.settings import Settings

AppT = TypeVar("AppT", bound=Celery)


def make_celery(
    settings: Settings, app_class: type[AppT] = Celery, main: str = "llm_gateway"
) -> AppT:
    """A Celery app configured from ``celeryconfig`` plus deployment settings."""
    app: AppT = app_class(main, broker=settings.redis_url, set_as_current=False)
    app.config_from_object("celeryconfig")
    # kombu's Redis transport, able to close a connection Redis dropped (workers.broker).
    app.conf.broker_transport = "workers.broker:Transport"
    app.conf.broker_transport_options = {
        "visibility_timeout": settings.visibility_timeout_seconds,
        "queue_order_strategy": "priority",
        "priority_steps": list(range(MAX_PRIORITY + 1)),
        "sep": PRIORITY_SEP,
        "health_check_interval": 25,
    }
    app.conf.broker_pool_limit = 32
    # So that plain ``celery -A workers worker -Q llm.<instance>`` runs the right pool too.
    app.conf.worker_pool = "threads"
    app.conf.worker_concurrency = settings.worker_concurrency
    return app
