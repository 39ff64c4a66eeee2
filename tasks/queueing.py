"""The Celery app factory, and ``JobDispatcher`` for sending a job through Celery's own
publisher (the API pushes messages atomically with the record instead: ``task_messages``)."""

from __future__ import annotations

from typing import Any, TypeVar

from celery import Celery

from gateway.settings import Settings
from tasks.task_messages import MAX_PRIORITY, PRIORITY_SEP, RUN_JOB_TASK

__all__ = ["RUN_JOB_TASK", "JobDispatcher", "make_celery"]


AppT = TypeVar("AppT", bound=Celery)


def make_celery(
    settings: Settings, app_class: type[AppT] = Celery, main: str = "llm_gateway"
) -> AppT:
    """A Celery app configured from ``celeryconfig`` plus deployment settings."""
    app: AppT = app_class(main, broker=settings.redis_url, set_as_current=False)
    app.config_from_object("celeryconfig")
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


class JobDispatcher:
    """Sends a job id to a queue. Only the id travels; the record is the source of truth."""

    def __init__(self, celery: Celery) -> None:
        self._celery = celery

    def dispatch(self, job_id: str, queue: str, priority: int, request_id: str | None) -> None:
        headers: dict[str, Any] = {"request_id": request_id} if request_id else {}
        self._celery.send_task(
            RUN_JOB_TASK,
            args=[job_id],
            queue=queue,
            priority=MAX_PRIORITY - priority,
            headers=headers,
        )
