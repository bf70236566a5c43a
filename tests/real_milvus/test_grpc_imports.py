"""The gRPC client against a real Milvus 2.3.5: real imports, real failures, real errors, sync and async."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from pymilvus import Collection

from airflow_provider_milvus import BulkInsertState
from airflow_provider_milvus import exceptions as exc
from airflow_provider_milvus.client import AsyncMilvusImportClient, MilvusImportClient
from airflow_provider_milvus.settings import MilvusSettings, parse_settings
from tests.milvus_server.data import (
    write_malformed_json,
    write_numpy_files,
    write_row_json,
    write_unknown_field_json,
    write_wrong_dim_json,
)
from tests.milvus_server.server import MilvusServer

pytestmark = pytest.mark.milvus
WAIT = 120.0


def grpc_settings(server: MilvusServer, **extra: Any) -> MilvusSettings:
    return parse_settings(host=server.uri, extra={"protocol": "grpc", "timeout": 10} | extra)


def wait_sync(client: MilvusImportClient, job_id: str) -> tuple[BulkInsertState, list[str]]:
    """Poll until terminal; returns the final state and the state names seen."""
    seen: list[str] = []
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        state = client.get_import_state(job_id)
        if not seen or seen[-1] != state.state_name:
            seen.append(state.state_name)
        if state.is_terminal:
            return state, seen
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} did not end within {WAIT} s; seen {seen}")


async def wait_async(client: AsyncMilvusImportClient, job_id: str) -> BulkInsertState:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        state = await client.get_import_state(job_id)
        if state.is_terminal:
            return state
        await asyncio.sleep(0.3)
    raise AssertionError(f"job {job_id} did not end within {WAIT} s")


def test_row_json_import_completes_with_its_rows(
    running_milvus_server: MilvusServer, import_collection: Collection, data_dir: Path
) -> None:
    path = write_row_json(data_dir / "rows.json", 1000)
    client = MilvusImportClient(grpc_settings(running_milvus_server))
    try:
        job = client.start_import(import_collection.name, [path])
        assert job.isdigit()
        state, seen = wait_sync(client, job)
    finally:
        client.close()
    assert state.succeeded, state
    assert state.row_count == 1000 and state.progress == 100
    assert state.collection_name == import_collection.name and state.partition_name == "_default"
    assert state.files == [path]
    assert state.create_timestamp > 0 and state.create_time_str
    assert seen[-1] == "Completed"
    import_collection.flush()
    assert import_collection.num_entities == 1000


def test_numpy_import_completes_over_the_async_client(
    running_milvus_server: MilvusServer, import_collection: Collection, data_dir: Path
) -> None:
    paths = write_numpy_files(data_dir / "batch", 2000)

    async def run() -> BulkInsertState:
        client = AsyncMilvusImportClient(grpc_settings(running_milvus_server))
        try:
            job = await client.start_import(import_collection.name, paths, "_default")
            return await wait_async(client, job)
        finally:
            await client.aclose()

    state = asyncio.run(run())
    assert state.succeeded and state.row_count == 2000
    assert sorted(state.files) == sorted(paths)
    import_collection.flush()
    assert import_collection.num_entities == 2000


@pytest.mark.parametrize(
    ("writer", "reason"),
    [
        (lambda d: str(d / "missing.json"), "no such file or directory"),
        (
            lambda d: write_unknown_field_json(d / "unknown.json"),
            "the field 'wrong' is not defined in collection schema",
        ),
        (lambda d: write_wrong_dim_json(d / "dim4.json"), "array size 4 doesn't equal to vector dimension 8"),
        (lambda d: write_malformed_json(d / "broken.json"), "failed to parse row value"),
    ],
    ids=["missing-file", "unknown-field", "wrong-dimension", "malformed-json"],
)
def test_failed_imports_carry_the_servers_reason(
    running_milvus_server: MilvusServer, import_collection: Collection, data_dir: Path, writer: Any, reason: str
) -> None:
    client = MilvusImportClient(grpc_settings(running_milvus_server))
    try:
        job = client.start_import(import_collection.name, [writer(data_dir)])
        state, _ = wait_sync(client, job)
    finally:
        client.close()
    assert state.failed and state.state_name == "Failed"
    assert reason in state.failed_reason
    assert state.infos["failed_reason"] == state.failed_reason


def test_unknown_task_id_is_a_clear_not_found(running_milvus_server: MilvusServer) -> None:
    client = MilvusImportClient(grpc_settings(running_milvus_server))
    try:
        with pytest.raises(exc.MilvusImportJobNotFoundError) as caught:
            client.get_import_state("123456789")
    finally:
        client.close()
    text = str(caught.value)
    assert "job 123456789" in text and running_milvus_server.uri.split("//")[1] in text
    assert "key not found" in text and not caught.value.retryable


def test_list_by_collection_finds_the_jobs(
    running_milvus_server: MilvusServer, import_collection: Collection, data_dir: Path
) -> None:
    client = MilvusImportClient(grpc_settings(running_milvus_server))
    try:
        first = client.start_import(import_collection.name, [write_row_json(data_dir / "a.json", 100)])
        second = client.start_import(import_collection.name, [write_row_json(data_dir / "b.json", 100, start=100)])
        states = client.list_import_states(import_collection.name)
        wait_sync(client, first)
        wait_sync(client, second)
        assert {s.task_id for s in client.list_import_states(import_collection.name)} == {first, second}
    finally:
        client.close()
    assert {s.task_id for s in states} == {first, second}
    assert all(s.collection_name == import_collection.name for s in states)


def test_call_errors_quote_the_server(
    running_milvus_server: MilvusServer, import_collection: Collection, data_dir: Path
) -> None:
    client = MilvusImportClient(grpc_settings(running_milvus_server, timeout=5))
    try:
        with pytest.raises(exc.MilvusImportRequestError, match="partition not found"):
            client.start_import(import_collection.name, [write_row_json(data_dir / "p.json", 10)], "no_such_partition")
        two = [write_row_json(data_dir / "x.json", 10), write_row_json(data_dir / "y.json", 10)]
        with pytest.raises(exc.MilvusImportRequestError):
            client.start_import(import_collection.name, two)
        # Milvus 2.3.5 retries a missing collection on its side ("attempt #4: ..."), then says why.
        with pytest.raises(exc.MilvusImportRequestError, match="collection not found"):
            client.start_import("no_such_collection", [write_row_json(data_dir / "z.json", 10)])
    finally:
        client.close()


def test_auto_detects_grpc_on_milvus_23(running_milvus_server: MilvusServer) -> None:
    client = MilvusImportClient(parse_settings(host=running_milvus_server.uri))
    try:
        assert client.resolve_protocol() == "grpc"
        assert isinstance(client.list_import_states(), list)
    finally:
        client.close()


def test_nothing_listens_is_retryable(running_milvus_server: MilvusServer) -> None:
    client = MilvusImportClient(parse_settings(host="http://127.0.0.1:9", extra={"protocol": "grpc", "timeout": 3}))
    try:
        with pytest.raises(exc.MilvusImportRetryableError):
            client.get_import_state("1")
    finally:
        client.close()


def test_a_real_2_3_server_has_no_two_phase_imports_and_says_so(running_milvus_server: MilvusServer) -> None:
    """The commit probe answers 404 on 2.3 (no v2 routes): no two-phase, and commit/abort say why."""
    client = MilvusImportClient(grpc_settings(running_milvus_server))
    try:
        assert client.supports_two_phase() is False
        for call in (client.commit_import, client.abort_import):
            with pytest.raises(exc.MilvusImportError, match="no two-phase imports"):
                call("448761313698322011")
    finally:
        client.close()
