"""Fixtures of the end-to-end tests: the real Milvus server and real Airflow services.

The session ``milvus_server`` waits (``MILVUS_TEST_LOCK_TIMEOUT``) for a server of another session.
"""

from __future__ import annotations

from tests.airflow_env.fixtures import *  # noqa: F403
from tests.milvus_server.fixtures import *  # noqa: F403
