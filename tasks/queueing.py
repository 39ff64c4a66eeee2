"""The Celery app factory and ``JobDispatcher``, which puts job ids on provider queues."""

from __future__ import annotations

from typing import Any, TypeVar

from celery import Celery

from gateway.settings import Settings

RUN_JOB_TASK = "llm.run_job"
# Tool jobs run beside provider queues on their own queue.
TOOLS_QUEUE = "llm.tools"
# API priorities: 0 (lowest) .. 9 (highest). Kombu's Redis transport runs 0 first.
MAX_PRIORITY = 9
# The API publishes on its event loop: at most ~0.15 s of retrying before the submission
# fails with 503 (and the record is marked failed), instead of Celery's default ~0.6 s.
PUBLISH_RETRY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.05, "interval_max": 0.1}


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
        "sep": ":",
        "health_check_interval": 25,
    }
    app.conf.broker_pool_limit = 32
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
            retry=True,
            retry_policy=PUBLISH_RETRY,
        )
