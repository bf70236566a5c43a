"""Register the real-Milvus fixtures for this directory (harmless if tests/conftest.py does it too)."""

from __future__ import annotations

from tests.milvus_server.fixtures import *  # noqa: F403
