"""Signed webhook deliveries (Standard Webhooks) and per-tenant signing secrets."""
