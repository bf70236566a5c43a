"""Zilliz Cloud imports with bucket keys from an Airflow connection (``storage_conn_id``) or from a volume.

Run against the cloud emulator's profiles; the keys are checked in the request the emulator received,
the refusals are checked to happen before any request (the emulator counts them).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException, TaskDeferred

from airflow_provider_milvus.operators.milvus_import import MilvusImportOperator
from tests.airflow_context import make_context
from tests.emulator.profiles import CLOUD_PROFILES
from tests.emulator.server import DEFAULT_API_KEY, ImportEmulator
from tests.reliability.support import cloud_conn

CREATE = "/v2/vectordb/jobs/import/create"
ACCESS, SECRET, SESSION = "AKIAEXAMPLE0001", "wJalr/secret+KEY0001", "FwoGZXIvYXdzE-session-0001"


def set_conn(monkeypatch: pytest.MonkeyPatch, conn_id: str, conn: dict[str, Any]) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))


@pytest.fixture(params=CLOUD_PROFILES)
def cloud(
    request: pytest.FixtureRequest, make_emulator: Callable[..., ImportEmulator], monkeypatch: pytest.MonkeyPatch
) -> ImportEmulator:
    """Each Zilliz Cloud profile, connection ``zilliz``, and the bucket connections of these tests."""
    emulator = make_emulator(profile=request.param, speed=0, token=DEFAULT_API_KEY)
    cloud_conn(monkeypatch, emulator, "zilliz")
    aws = {"conn_type": "aws", "login": ACCESS, "password": SECRET}
    set_conn(monkeypatch, "bucket", aws)
    set_conn(monkeypatch, "bucket_sts", aws | {"extra": {"aws_session_token": SESSION, "region_name": "us-west-2"}})
    set_conn(monkeypatch, "bucket_gcp", {"conn_type": "google_cloud_platform", "extra": {"project": "p"}})
    set_conn(monkeypatch, "bucket_nokey", {"conn_type": "aws", "login": ACCESS})
    return emulator


def operator(**kwargs: Any) -> MilvusImportOperator:
    base = {"task_id": "load", "collection_name": "c", "files": ["s3://bucket/a.parquet"], "milvus_conn_id": "zilliz"}
    return MilvusImportOperator(**(base | {"poll_interval": 0.01} | kwargs))


def created(emulator: ImportEmulator) -> list[dict[str, Any]]:
    return [r.json for r in emulator.requests if r.route == CREATE]


def run(op: MilvusImportOperator) -> str:
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(make_context())
    trigger = deferred.value.trigger
    kwargs = json.dumps(trigger.serialize(), default=repr)
    assert SECRET not in kwargs and ACCESS not in kwargs and SESSION not in kwargs  # never in trigger kwargs
    return str(trigger.job_id)


def test_keys_from_an_aws_connection_go_into_the_create_body(cloud: ImportEmulator) -> None:
    job_id = run(operator(storage_conn_id="bucket"))
    (body,) = created(cloud)
    assert (body["accessKey"], body["secretKey"]) == (ACCESS, SECRET) and "token" not in body
    assert body["objectUrls"] == [["s3://bucket/a.parquet"]] and "options" not in body
    assert job_id in cloud.job_ids
    run(operator(storage_conn_id="bucket_sts"))
    assert created(cloud)[1]["token"] == SESSION


def test_volume_imports_send_volume_name_and_data_paths(cloud: ImportEmulator) -> None:
    op = operator(volume_name="my_volume", files=[["parquet/1.parquet", "parquet/2.parquet"]])
    job_id = run(op)
    (body,) = created(cloud)
    assert body["volumeName"] == "my_volume" and body["dataPaths"] == [["parquet/1.parquet", "parquet/2.parquet"]]
    assert "objectUrls" not in body and "accessKey" not in body
    assert job_id in cloud.job_ids


@pytest.mark.parametrize(
    ("conn_id", "words"),
    [
        ("bucket_missing", "storage connection 'bucket_missing' cannot be read"),
        ("bucket_gcp", "storage connection 'bucket_gcp' has type 'google_cloud_platform'"),
        ("bucket_nokey", "storage connection 'bucket_nokey' has no password"),
    ],
)
def test_a_bad_storage_connection_is_named_and_nothing_is_sent(cloud: ImportEmulator, conn_id: str, words: str) -> None:
    with pytest.raises(AirflowFailException, match=words):
        operator(storage_conn_id=conn_id).execute(make_context())
    assert cloud.request_count() == 0


def test_parse_time_refusals() -> None:
    with pytest.raises(ValueError, match="storage_conn_id and volume_name exclude each other"):
        operator(storage_conn_id="bucket", volume_name="v")
    with pytest.raises(ValueError, match="volume_name must be a non-empty string"):
        operator(volume_name=" ")
    with pytest.raises(ValueError, match="storage_conn_id must be a non-empty string"):
        operator(storage_conn_id=7)


@pytest.mark.parametrize("argument", [{"storage_conn_id": "bucket"}, {"volume_name": "v"}])
def test_a_connection_that_is_not_cloud_is_refused_before_any_request(
    make_emulator: Callable[..., ImportEmulator], monkeypatch: pytest.MonkeyPatch, argument: dict[str, str]
) -> None:
    rest = make_emulator(mode="rest", speed=0)
    set_conn(monkeypatch, "milvus_rest", {"conn_type": "milvus", "host": rest.base_url, "extra": {"protocol": "rest"}})
    set_conn(monkeypatch, "bucket", {"conn_type": "aws", "login": ACCESS, "password": SECRET})
    (name,) = argument
    with pytest.raises(AirflowFailException, match=rf"{name} needs a Zilliz Cloud connection.*'milvus_rest'.*'rest'"):
        operator(milvus_conn_id="milvus_rest", **argument).execute(make_context())
    assert rest.request_count() == 0
