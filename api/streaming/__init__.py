"""Relaying job streams (``tasks.jobs.stream``) to clients as server-sent events."""
