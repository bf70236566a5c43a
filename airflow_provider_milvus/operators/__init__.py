"""Operators of the Milvus provider."""
