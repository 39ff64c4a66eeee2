"""Queue topology: the task names, queue names and priority layout every part agrees on.

The API pushes messages onto these queues, workers consume them, the CLI starts workers
for them and the deploy manifests name them; this module is the one place they are spelt.
"""

from __future__ import annotations

#: The one task every provider and tools queue carries: the message holds only a job id.
RUN_JOB_TASK = "llm.run_job"
#: Webhook deliveries: the message holds a delivery target (a job or batch id).
DELIVER_WEBHOOK_TASK = "llm.deliver_webhook"
#: Every provider instance has a queue of its own, ``llm.<instance>``.
INSTANCE_QUEUE_PREFIX = "llm."
# Tool jobs run beside provider queues on their own queue.
TOOLS_QUEUE = "llm.tools"
# Webhook deliveries have their own queue: a slow receiver never holds a provider slot.
WEBHOOKS_QUEUE = "llm.webhooks"
# API priorities: 0 (lowest) .. 9 (highest). Kombu's Redis transport runs 0 first.
MAX_PRIORITY = 9
# kombu's separator between a queue name and its priority (``broker_transport_options.sep``).
PRIORITY_SEP = ":"


def instance_queue(instance: str) -> str:
    """The queue of provider instance ``instance``."""
    return f"{INSTANCE_QUEUE_PREFIX}{instance}"


def queue_key(queue: str, celery_priority: int) -> str:
    """The Redis list a message of this priority lives in (kombu's ``_q_for_pri``)."""
    return f"{queue}{PRIORITY_SEP}{celery_priority}" if celery_priority else queue
