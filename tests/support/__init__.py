"""Helpers for tests that run the real stack as processes."""
