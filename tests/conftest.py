"""Shared fixtures: the REST v2 / Zilliz Cloud emulator and the real Milvus 2.3.5 server."""

from __future__ import annotations

import os

os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

from tests.emulator.fixtures import *  # noqa: F403
from tests.milvus_server.fixtures import *  # noqa: F403
