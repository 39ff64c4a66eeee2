"""The job record and everything that moves it: stores, leases, terminal events, the
Celery wire message, submission, execution, and the API's completion hub."""
