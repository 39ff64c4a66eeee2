"""Job kinds, the job record and its store, and how jobs are put on queues."""
