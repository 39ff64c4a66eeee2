"""Celery settings for I/O-bound LLM calls that must not be lost.

Values that depend on the deployment (broker URL, visibility timeout) are applied from
``gateway.settings.Settings`` in ``workers.celery_app.make_celery``.
"""

# A message is acknowledged only after the job has finished; a worker that dies mid-call
# leaves it unacknowledged, and the broker delivers it again.
task_acks_late = True
task_reject_on_worker_lost = True
# Each pool slot reserves at most one message: nothing sits prefetched behind a slow call.
worker_prefetch_multiplier = 1
# The job record in Redis is the result store; Celery results would duplicate it.
task_ignore_result = True
task_store_errors_even_if_ignored = False

task_serializer = "json"
result_serializer = "json"
accept_content = ["json"]
task_default_queue = "llm.default"
task_create_missing_queues = True

broker_connection_retry_on_startup = True
broker_connection_max_retries = None
# On a lost broker connection the running calls carry on: a thread cannot be stopped (the
# threads pool raises "does not implement kill_job" for each), and a call already made is
# paid for, so its reply is recorded once Redis is back. A re-delivered copy of its
# message finds the job's lease alive (or the job finished) and does nothing.
worker_cancel_long_running_tasks_on_connection_loss = False

# Task events cost three extra Redis publishes per job (about 1 ms of worker CPU). Flower
# switches them on in the workers it watches (its --enable-events default), so they are
# paid only while someone is monitoring; "task-sent" events from the API are never needed.
worker_send_task_events = False
task_send_sent_event = False

worker_hijack_root_logger = False
worker_redirect_stdouts = False
