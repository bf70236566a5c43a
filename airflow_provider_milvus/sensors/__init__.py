"""Sensors of the Milvus provider."""
