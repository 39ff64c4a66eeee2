"""Worker runtime: the Celery app, its tasks, and the per-process resources they use.

``celery -A workers worker -Q llm.<instance>`` finds ``app`` here.
"""

from workers.app import app

__all__ = ["app"]
