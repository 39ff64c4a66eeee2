"""Provider adapters, the model router and the normalized chat types."""
