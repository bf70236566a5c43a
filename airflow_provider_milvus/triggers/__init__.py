"""Triggers of the Milvus provider."""
