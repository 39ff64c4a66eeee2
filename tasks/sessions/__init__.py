"""Conversation sessions: the record, the stores, and the context window a job sees."""
