"""Batches: many enhancement jobs submitted at once, one record and one webhook."""
