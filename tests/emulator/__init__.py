"""Emulator of the Milvus RESTful v2 and Zilliz Cloud import APIs, for tests and benchmarks."""
