"""Sync and async clients against the REST v2 and Zilliz Cloud emulator, over real sockets."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_milvus import exceptions as exc
from airflow_provider_milvus.client import AsyncMilvusImportClient, MilvusImportClient
from airflow_provider_milvus.settings import MilvusSettings, parse_settings
from tests.emulator.server import DEFAULT_API_KEY, DEFAULT_CLUSTER_ID, ImportEmulator

FLAVOURS = ["sync", "async"]


def call(flavour: str, settings: MilvusSettings, method: str, *args: Any) -> Any:
    """Run one client method on a fresh sync or async client, closing it afterwards."""
    if flavour == "sync":
        client = MilvusImportClient(settings)
        try:
            return getattr(client, method)(*args)
        finally:
            client.close()

    async def run() -> Any:
        aclient = AsyncMilvusImportClient(settings)
        try:
            return await getattr(aclient, method)(*args)
        finally:
            await aclient.aclose()

    return asyncio.run(run())


def rest_settings(emulator: ImportEmulator, **extra: Any) -> MilvusSettings:
    return parse_settings(host=emulator.base_url, extra={"protocol": "rest", "timeout": 5} | extra)


def cloud_settings(emulator: ImportEmulator, **extra: Any) -> MilvusSettings:
    return parse_settings(
        host="",
        extra={
            "protocol": "cloud",
            "cloud_endpoint": emulator.base_url,
            "cloud_api_key": DEFAULT_API_KEY,
            "cloud_cluster_id": DEFAULT_CLUSTER_ID,
            "timeout": 5,
        }
        | extra,
    )


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_rest_lifecycle(flavour: str, make_emulator: Callable[..., ImportEmulator]) -> None:
    emulator = make_emulator(mode="rest", speed=0, job_duration=100, rows_per_file=1000)
    settings = rest_settings(emulator)
    job = call(flavour, settings, "start_import", "articles", [["/data/1.parquet"], ["/data/2.parquet"]])
    assert job.isdigit() and int(job) > 2**53
    seen = []
    for _ in range(12):
        state = call(flavour, settings, "get_import_state", job)
        seen.append((state.state_name, state.progress, state.row_count))
        emulator.advance(10)
    assert seen[0][0] == "Pending"
    assert any(name == "Started" for name, _, _ in seen)
    assert seen[-1] == ("Completed", 100, 2000)
    progress = [p for _, p, _ in seen]
    assert progress == sorted(progress)
    final = call(flavour, settings, "get_import_state", job)
    assert final.total_rows == 2000 and final.collection_name == "articles"
    assert final.files == ["/data/1.parquet", "/data/2.parquet"]
    assert [d["state"] for d in final.details] == ["Completed", "Completed"]


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_rest_failed_job_has_the_reason(flavour: str, make_emulator: Callable[..., ImportEmulator]) -> None:
    emulator = make_emulator(mode="rest", speed=0)
    settings = rest_settings(emulator)
    job = call(flavour, settings, "start_import", "c", ["/data/fail.parquet"])
    emulator.fail_job(job, "failed to parse parquet: bad magic")
    state = call(flavour, settings, "get_import_state", job)
    assert state.failed and state.failed_reason == "failed to parse parquet: bad magic"
    assert state.infos["failed_reason"] == state.failed_reason


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_rest_unknown_and_expired_jobs(flavour: str, make_emulator: Callable[..., ImportEmulator]) -> None:
    emulator = make_emulator(mode="rest", speed=0)
    settings = rest_settings(emulator)
    with pytest.raises(exc.MilvusImportJobNotFoundError, match="taskRetention"):
        call(flavour, settings, "get_import_state", "448761313698322011")
    job = call(flavour, settings, "start_import", "c", ["/a.parquet"])
    emulator.expire_job(job)
    with pytest.raises(exc.MilvusImportJobNotFoundError, match=job):
        call(flavour, settings, "get_import_state", job)


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_rest_auth(flavour: str, make_emulator: Callable[..., ImportEmulator]) -> None:
    emulator = make_emulator(mode="rest", speed=0, token="root:Milvus")
    good = rest_settings(emulator, token="root:Milvus")
    job = call(flavour, good, "start_import", "c", ["/a.parquet"])
    assert emulator.requests[-1].header("Authorization") == "Bearer root:Milvus"
    for bad in (rest_settings(emulator, token="root:wrong"), rest_settings(emulator)):
        with pytest.raises(exc.MilvusImportAuthError) as caught:
            call(flavour, bad, "get_import_state", job)
        assert "root:wrong" not in str(caught.value) and not caught.value.retryable


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_rest_forbidden(flavour: str, make_emulator: Callable[..., ImportEmulator]) -> None:
    emulator = make_emulator(mode="rest", speed=0, forbidden=True)
    with pytest.raises(exc.MilvusImportAuthError):
        call(flavour, rest_settings(emulator), "list_import_states")


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_rest_request_timeout_is_408(flavour: str, make_emulator: Callable[..., ImportEmulator]) -> None:
    emulator = make_emulator(mode="rest", speed=0, latency=1.5)
    with pytest.raises(exc.MilvusImportTimeoutError) as caught:
        call(flavour, rest_settings(emulator, timeout=1), "list_import_states")
    assert caught.value.retryable


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_rest_describe_not_routed_falls_back(flavour: str, make_emulator: Callable[..., ImportEmulator]) -> None:
    emulator = make_emulator(mode="rest", speed=0, describe_routed=False)
    settings = rest_settings(emulator)
    job = emulator.create_job("c", [["/a.parquet"]])
    emulator.finish_job(job)
    assert call(flavour, settings, "get_import_state", job).succeeded
    assert emulator.request_count("describe") == 1 and emulator.request_count("get_progress") == 1


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_rest_legacy_quirks(flavour: str, make_emulator: Callable[..., ImportEmulator]) -> None:
    emulator = make_emulator(mode="rest", speed=0, legacy_quirks=True)
    settings = rest_settings(emulator)
    job = call(flavour, settings, "start_import", "c", ["/a.parquet"])
    emulator.finish_job(job)
    state = call(flavour, settings, "get_import_state", job)
    assert state.task_id == job and state.succeeded


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_rest_list_and_database_header(flavour: str, make_emulator: Callable[..., ImportEmulator]) -> None:
    emulator = make_emulator(mode="rest", speed=0, strict_db=True)
    settings = rest_settings(emulator, db_name="analytics")
    jobs = {call(flavour, settings, "start_import", name, ["/a.parquet"]) for name in ("a", "b", "a")}
    states = call(flavour, settings, "list_import_states", "a")
    assert {s.task_id for s in states} <= jobs and len(states) == 2
    assert all(s.collection_name == "a" for s in states)
    job = next(iter(jobs))
    assert call(flavour, settings, "get_import_state", job).task_id == job
    assert emulator.requests[-1].header("DB-Name") == "analytics"


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_cloud_lifecycle_and_paged_list(flavour: str, make_emulator: Callable[..., ImportEmulator]) -> None:
    emulator = make_emulator(mode="cloud", token=DEFAULT_API_KEY, speed=0, job_duration=10, rate_limit=None)
    settings = cloud_settings(emulator)
    job = call(flavour, settings, "start_import", "c", [["s3://bucket/1.parquet"]], None, None, {"access_key": "AK"})
    assert job.startswith("job-")
    assert emulator.requests[-1].json["accessKey"] == "AK"
    assert call(flavour, settings, "get_import_state", job).state_name == "Pending"
    emulator.advance(20)
    assert call(flavour, settings, "get_import_state", job).succeeded
    for i in range(230):
        emulator.create_job(f"bulk{i % 3}", [[f"s3://bucket/{i}.parquet"]])
    states = call(flavour, settings, "list_import_states")
    assert len(states) == 231 and len({s.task_id for s in states}) == 231
    assert emulator.request_count("list") == 3


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_cloud_illegal_api_key(flavour: str, cloud_emulator: ImportEmulator) -> None:
    settings = cloud_settings(cloud_emulator, cloud_api_key="wrong-key-123")
    with pytest.raises(exc.MilvusImportAuthError, match="The apikey is illegal") as caught:
        call(flavour, settings, "get_import_state", "job-0123456789abcdefghij")
    assert "wrong-key-123" not in str(caught.value)


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_cloud_legacy_shape(flavour: str, make_emulator: Callable[..., ImportEmulator]) -> None:
    emulator = make_emulator(mode="cloud", token=DEFAULT_API_KEY, speed=0, legacy_shape=True, job_duration=10)
    settings = cloud_settings(emulator)
    job = emulator.create_job("c", [["s3://bucket/1/"]])
    emulator.advance(5)
    running = call(flavour, settings, "get_import_state", job)
    assert running.state_name == "Started" and 0 < running.progress < 100
    emulator.advance(10)
    assert call(flavour, settings, "get_import_state", job).succeeded


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_cloud_unknown_job(flavour: str, cloud_emulator: ImportEmulator) -> None:
    with pytest.raises(exc.MilvusImportJobNotFoundError):
        call(flavour, cloud_settings(cloud_emulator), "get_import_state", "job-doesnotexist0000000")


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_auto_detects_rest(flavour: str, rest_emulator: ImportEmulator) -> None:
    settings = parse_settings(host=rest_emulator.base_url)
    assert settings.protocol == "auto"
    if flavour == "sync":
        client = MilvusImportClient(settings)
        assert client.resolve_protocol() == "rest"
        client.close()
    else:

        async def detect() -> str:
            aclient = AsyncMilvusImportClient(settings)
            try:
                return await aclient.resolve_protocol()
            finally:
                await aclient.aclose()

        assert asyncio.run(detect()) == "rest"


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_connection_refused_is_retryable(flavour: str) -> None:
    settings = parse_settings(host="http://127.0.0.1:9", extra={"protocol": "rest", "timeout": 2})
    with pytest.raises(exc.MilvusImportConnectionError) as caught:
        call(flavour, settings, "get_import_state", "1")
    assert caught.value.retryable and "http://127.0.0.1:9" in str(caught.value)


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_tls_needs_the_ca(
    flavour: str, make_emulator: Callable[..., ImportEmulator], emulator_tls_cert: tuple[str, str]
) -> None:
    cert, key = emulator_tls_cert
    emulator = make_emulator(mode="rest", speed=0, certfile=cert, keyfile=key)
    assert emulator.base_url.startswith("https://")
    with pytest.raises(exc.MilvusImportConfigError, match="server_ca"):
        call(flavour, rest_settings(emulator), "list_import_states")
    assert call(flavour, rest_settings(emulator, server_ca=cert), "list_import_states") == []
