"""Hooks of the Milvus provider."""
