"""Job kinds: what a completion, tool or enhancement job does and writes back."""
