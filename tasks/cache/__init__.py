"""The response cache: exact-match completions, keyed by tenant and normalized request."""
