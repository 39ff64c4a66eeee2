"""The ``enhancement`` job kind: request, steps, checkpoint, deterministic checks, and the
pipeline that runs them."""
