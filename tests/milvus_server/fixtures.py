"""Pytest fixtures for a real Milvus 2.3 server; use ``from tests.milvus_server.fixtures import *`` in conftest."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pymilvus import Collection, connections

from tests.milvus_server.data import create_import_collection, drop_collection, unique_collection_name
from tests.milvus_server.server import MilvusServer, MilvusServerError

__all__ = [
    "data_dir",
    "import_collection",
    "milvus_server",
    "milvus_uri",
    "pymilvus_alias",
    "running_milvus_server",
]


class _Shared:
    """One server per process even if these fixtures are registered by several conftest modules.

    Each registration is its own session fixture; a second server could not bind the ports.
    """

    server: MilvusServer | None = None
    users: int = 0


@pytest.fixture(scope="session")
def milvus_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MilvusServer]:
    """Start one real Milvus server for the session (fails, never skips, if it cannot start)."""
    if _Shared.server is None:
        # Another session on this machine may own the one Milvus server: wait for it (bounded).
        lock_timeout = float(os.environ.get("MILVUS_TEST_LOCK_TIMEOUT", "600"))
        server = MilvusServer(tmp_path_factory.mktemp("milvus-server"), lock_timeout=lock_timeout)
        try:
            server.start()
        except MilvusServerError as exc:
            pytest.fail(f"Real Milvus server could not start (these tests must not be skipped):\n{exc}", pytrace=False)
        _Shared.server = server
    server = _Shared.server
    _Shared.users += 1
    try:
        yield server
    finally:
        _Shared.users -= 1
        if _Shared.users == 0:
            _Shared.server = None
            server.stop()


@pytest.fixture
def running_milvus_server(milvus_server: MilvusServer) -> Iterator[MilvusServer]:
    """The session server, guaranteed up before the test and started again after it if a test stopped it."""
    if not milvus_server.running:
        milvus_server.start()
    yield milvus_server
    if not milvus_server.running:
        milvus_server.start()


@pytest.fixture(scope="session")
def milvus_uri(milvus_server: MilvusServer) -> str:
    """URI of the session server, ``http://127.0.0.1:19530``."""
    return milvus_server.uri


@pytest.fixture
def pymilvus_alias(running_milvus_server: MilvusServer) -> Iterator[str]:
    """A pymilvus connection alias to the session server, disconnected after the test."""
    alias = f"test_{uuid.uuid4().hex[:8]}"
    connections.connect(alias=alias, host=running_milvus_server.host, port=str(running_milvus_server.port), timeout=30)
    try:
        yield alias
    finally:
        connections.disconnect(alias)


@pytest.fixture
def import_collection(running_milvus_server: MilvusServer, pymilvus_alias: str) -> Iterator[Collection]:
    """A fresh, uniquely named import collection (``id`` INT64 pk, ``vec`` FLOAT_VECTOR(8)), dropped after."""
    name = unique_collection_name()
    collection = create_import_collection(pymilvus_alias, name)
    try:
        yield collection
    finally:
        if not running_milvus_server.running:
            running_milvus_server.start()
        drop_collection(pymilvus_alias, name)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """An absolute directory for import files (the server reads them from the local filesystem)."""
    path = (tmp_path / "import-files").resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path
