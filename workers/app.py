"""The worker-side Celery app: registers the job task and wires runtime start/stop to
Celery's signals."""

from __future__ import annotations

import threading
import warnings
from typing import Any

import structlog
from celery import Celery, Task
from celery.exceptions import CPendingDeprecationWarning, Reject
from celery.signals import (
    celeryd_after_setup,
    celeryd_init,
    setup_logging,
    worker_process_init,
    worker_shutdown,
)
from kombu.exceptions import OperationalError as KombuOperationalError
from redis.exceptions import RedisError

from gateway import tracing
from gateway.logs import configure_logging
from gateway.queues import DELIVER_WEBHOOK_TASK, RUN_JOB_TASK
from gateway.settings import Settings
from tasks.jobs.execution import JobRunner
from workers.celery_app import make_celery
from workers.runtime import WorkerRuntime

log = structlog.get_logger(__name__)

# Running tasks are deliberately not cancelled on a lost broker connection (celeryconfig):
# Celery would otherwise warn, on every connection loss, that its default changes in 6.0.
warnings.filterwarnings(
    "ignore", category=CPendingDeprecationWarning, module="celery.worker.consumer.consumer"
)


class GatewayCelery(Celery):  # type: ignore[misc]
    """A Celery app that owns the worker's runtime (the one allowed piece of global state).
    The runtime is built on first use, after start-up, never at import."""

    gateway_settings: Settings
    # The pool's thread count as the worker was started (``--concurrency``), once known.
    pool_threads: int | None = None
    _runtime: WorkerRuntime | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._runtime_lock = threading.Lock()

    @property
    def runtime(self) -> WorkerRuntime:
        if self._runtime is None:
            with self._runtime_lock:
                if self._runtime is None:
                    self._runtime = WorkerRuntime(self.gateway_settings, threads=self.pool_threads)
        return self._runtime

    def reset_runtime(self) -> None:
        self._runtime = None

    def close_runtime(self) -> None:
        if self._runtime is not None:
            self._runtime.close()
            self._runtime = None


def create_app(settings: Settings | None = None) -> GatewayCelery:
    """A worker app with the job task registered."""
    settings = settings or Settings()
    app = make_celery(settings, GatewayCelery)
    app.gateway_settings = settings
    _register_tasks(app)
    return app


def _register_tasks(app: GatewayCelery) -> None:
    @app.task(name=RUN_JOB_TASK, bind=True, max_retries=None, shared=False)  # type: ignore[untyped-decorator]
    def run_job(self: Task, job_id: str) -> None:
        """Run one delivery of a job. Only the id travels; the record holds the rest."""
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(
            job_id=job_id, request_id=self.request.get("request_id"), task_id=self.request.id
        )
        # The queue it came from: a job delivered from its instance's own queue has its
        # first provider call admitted with its claim (``tasks.loops.first_calls``).
        delivery = self.request.delivery_info or {}
        try:
            run_delivery(app.runtime.runner, job_id, delivery.get("routing_key"))
        finally:
            structlog.contextvars.clear_contextvars()

    @app.task(name=DELIVER_WEBHOOK_TASK, bind=True, max_retries=None, shared=False)  # type: ignore[untyped-decorator]
    def deliver_webhook(self: Task, target: str) -> None:
        """One attempt at a webhook delivery ("job:<id>" or "batch:<id>"); retries are
        scheduled in Redis (``tasks.webhooks.deliveries``), never through Celery."""
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(webhook=target, task_id=self.request.id)
        try:
            app.runtime.webhooks.deliver(target)
        except (RedisError, KombuOperationalError) as exc:
            # Not recorded: the delivery's lease lapses and the pump hands it out again.
            log.error("webhook_store_unavailable", error=type(exc).__name__)
        finally:
            structlog.contextvars.clear_contextvars()


def run_delivery(runner: JobRunner, job_id: str, queue: str | None = None) -> None:
    """Run a delivery; a store or broker failure puts the message back instead of losing it.

    Retries and waits never go through Celery: the runner hands the job back to the
    deferred set (``tasks.jobs.job_scripts``). If anything else escapes, the job's lease lapses and
    the reaper re-queues it.
    """
    try:
        runner.run(job_id, queue)
    except (RedisError, KombuOperationalError) as exc:
        log.error("store_unavailable_requeueing", error=type(exc).__name__)
        raise Reject(exc, requeue=True) from None


app = create_app()


def _app_of(sender: Any) -> GatewayCelery:
    candidate = getattr(sender, "app", None)
    return candidate if isinstance(candidate, GatewayCelery) else app


@setup_logging.connect  # type: ignore[untyped-decorator]
def _configure_logging(**_: Any) -> None:
    settings = app.gateway_settings
    configure_logging(settings.log_level, settings.log_json)


@celeryd_after_setup.connect  # type: ignore[untyped-decorator]
def _start_heartbeat(sender: str, instance: Any, **_: Any) -> None:
    owner = _app_of(instance)
    # Before the runtime is built: it sizes its Redis pool for the threads the pool runs,
    # which ``--concurrency`` sets whatever ``LLM_GATEWAY_WORKER_CONCURRENCY`` says.
    if isinstance(instance.concurrency, int):
        owner.pool_threads = instance.concurrency
    queues = sorted(instance.app.amqp.queues.consume_from or [])
    disabled = owner.runtime.start(sender, list(queues))
    if disabled:
        # Before the consumer starts: a disabled instance's jobs stay queued for a worker
        # that has its credentials.
        instance.app.amqp.queues.deselect(disabled)
    served = [q for q in queues if q not in disabled]
    log.info("worker_started", hostname=sender, queues=served, disabled=disabled)


@celeryd_init.connect  # type: ignore[untyped-decorator]
def _start_tracing(**_: Any) -> None:
    # First of the worker's signals: before the runtime builds its provider clients (the
    # httpx instrumentation wraps clients made after it) and before the first task.
    tracing.setup("llm-gateway-worker", celery=True)


@worker_process_init.connect  # type: ignore[untyped-decorator]
def _fresh_runtime_after_fork(**_: Any) -> None:
    # Connections must not be shared across fork (prefork pool); threads pool never forks.
    app.reset_runtime()


@worker_shutdown.connect  # type: ignore[untyped-decorator]
def _close_runtime(sender: Any = None, **_: Any) -> None:
    _app_of(sender).close_runtime()
