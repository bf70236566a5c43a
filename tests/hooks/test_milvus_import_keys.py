"""MilvusImportHook: whether the server honours idempotency keys (asked with GetVersion, never an import)."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from airflow_provider_milvus.exceptions import MilvusImportConfigError
from airflow_provider_milvus.hooks.milvus_import import MilvusImportHook
from airflow_provider_milvus.protocol.cloud import BucketCredentials
from tests.emulator.grpc_server import MilvusEndpoint
from tests.emulator.server import DEFAULT_API_KEY, ImportEmulator
from tests.reliability.support import cloud_conn


def conn_to(monkeypatch: pytest.MonkeyPatch, base_url: str, protocol: str) -> MilvusImportHook:
    conn = {"conn_type": "milvus", "host": base_url, "extra": {"protocol": protocol, "timeout": 5}}
    monkeypatch.setenv("AIRFLOW_CONN_KEYS", json.dumps(conn))
    return MilvusImportHook("keys")


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
@pytest.mark.parametrize(
    ("profile", "honoured"), [("2.4.0", False), ("2.6-late", False), ("2.6.24", True), ("3.0", False), ("3.0.2", True)]
)
def test_detected_from_the_version_without_importing(
    make_endpoint: Callable[..., MilvusEndpoint],
    monkeypatch: pytest.MonkeyPatch,
    profile: str,
    honoured: bool,
    protocol: str,
) -> None:
    endpoint = make_endpoint(profile, speed=0)
    hook = conn_to(monkeypatch, endpoint.base_url, protocol)
    assert hook.honours_idempotency_keys() is honoured
    assert endpoint.grpc.count("GetVersion") == 1 and endpoint.rest.job_ids == []


def test_a_server_without_grpc_on_its_port_counts_as_not_honouring(
    make_emulator: Callable[..., ImportEmulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A REST-only endpoint (a proxy that speaks HTTP/1.1 only): the probe fails, the search stays."""
    rest = make_emulator(profile="2.6.24", speed=0)
    assert conn_to(monkeypatch, rest.base_url, "rest").honours_idempotency_keys() is False
    assert rest.job_ids == []


def test_zilliz_cloud_is_not_asked(
    make_emulator: Callable[..., ImportEmulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    cloud = make_emulator(profile="cloud-both", speed=0, token=DEFAULT_API_KEY)
    assert MilvusImportHook(cloud_conn(monkeypatch, cloud, "zilliz")).honours_idempotency_keys() is False
    assert cloud.request_count() == 0


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ({"credentials": BucketCredentials("AKIA1", "secret")}, r"bucket credentials \(storage_conn_id\) needs"),
        ({"volume_name": "v"}, "volume_name needs a Zilliz Cloud connection"),
    ],
)
def test_bucket_keys_and_volumes_need_a_cloud_connection(
    make_emulator: Callable[..., ImportEmulator], monkeypatch: pytest.MonkeyPatch, extra: dict[str, object], words: str
) -> None:
    rest = make_emulator(profile="2.6.24", speed=0)
    with pytest.raises(MilvusImportConfigError, match=words):
        conn_to(monkeypatch, rest.base_url, "rest").start_import("c", ["a.parquet"], **extra)  # type: ignore[arg-type]
    assert rest.job_ids == []


async def test_the_async_create_sends_the_key_and_the_volume(
    make_emulator: Callable[..., ImportEmulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    cloud = make_emulator(profile="cloud-both", speed=0, token=DEFAULT_API_KEY)
    hook = MilvusImportHook(cloud_conn(monkeypatch, cloud, "zilliz"))
    job_id = await hook.astart_import("c", [["parquet/1.parquet"]], idempotency_key="k-1", volume_name="vol")
    (sent,) = [r for r in cloud.requests if r.route.endswith("/create")]
    assert sent.header("Idempotency-Key") == "k-1" and sent.json["volumeName"] == "vol"
    assert job_id in cloud.job_ids
    await hook.aclose()
