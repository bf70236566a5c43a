"""The ``milvus`` asset URIs: the contract's rules, Airflow's normalisation through the registered
handler, the factory, and the events the operator and the sensor emit (through the SDK's own
outlet-event accessors)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import pytest
from airflow.sdk import Asset, AssetAlias
from airflow.sdk.execution_time.context import OutletEventAccessors

from airflow_provider_milvus import BulkInsertState
from airflow_provider_milvus.assets import collection_uri, create_asset, emit_import_event, sanitize_uri
from airflow_provider_milvus.events import make_event
from airflow_provider_milvus.get_provider_info import get_provider_info
from airflow_provider_milvus.operators.milvus_import import MilvusImportOperator
from airflow_provider_milvus.sensors.milvus_import import MilvusImportSensor
from airflow_provider_milvus.settings import parse_settings
from tests.airflow_context import make_context


def settings(host: str, port: int | None = None, **extra: Any) -> Any:
    return parse_settings(host=host, port=port, login=None, password=None, schema=None, extra=extra)


@pytest.mark.parametrize(
    ("host", "port", "extra", "db", "uri"),
    [
        ("http://127.0.0.1:19530", None, {}, None, "milvus://127.0.0.1:19530/default/c"),
        ("Milvus.Example.COM", None, {}, None, "milvus://milvus.example.com:19530/default/c"),
        ("milvus.example.com", 29530, {"db_name": "prod"}, None, "milvus://milvus.example.com:29530/prod/c"),
        ("https://in01-abc.zillizcloud.com", None, {}, "db2", "milvus://in01-abc.zillizcloud.com:443/db2/c"),
        (
            "https://x.example.com",
            None,
            {"protocol": "cloud", "cloud_cluster_id": "in01-abc", "cloud_api_key": "k"},
            None,
            "milvus://in01-abc/default/c",
        ),
    ],
)
def test_collection_uri_follows_the_contract(host: str, port: int | None, extra: Any, db: str | None, uri: str) -> None:
    assert collection_uri(settings(host, port, **extra), "c", db) == uri


@pytest.mark.parametrize(
    ("given", "normal"),
    [
        ("milvus://LocalHost/default/c", "milvus://localhost:19530/default/c"),
        ("milvus://127.0.0.1:19530/default/c", "milvus://127.0.0.1:19530/default/c"),
        ("milvus://h:443/db/c", "milvus://h:443/db/c"),
        ("milvus://h/c", "milvus://h:19530/default/c"),
        ("milvus://in01-0123abcd/default/c", "milvus://in01-0123abcd/default/c"),
    ],
)
def test_sanitize_uri_normalises(given: str, normal: str) -> None:
    assert sanitize_uri(urlsplit(given)).geturl() == normal


@pytest.mark.parametrize("bad", ["milvus:///default/c", "milvus://h", "milvus://h/a/b/c", "milvus://h/db/c?x=1"])
def test_sanitize_uri_rejects_other_shapes(bad: str) -> None:
    with pytest.raises(ValueError, match="milvus://"):
        sanitize_uri(urlsplit(bad))


def test_airflow_normalises_milvus_uris_through_the_registered_handler() -> None:
    info = get_provider_info()
    assert info["asset-uris"] == info["dataset-uris"] and info["asset-uris"][0]["schemes"] == ["milvus"]
    assert Asset("milvus://LOCALHOST/default/c").uri == "milvus://localhost:19530/default/c"
    with pytest.raises(ValueError, match="milvus://"):
        Asset("milvus://h/a/b/c")


def test_create_asset() -> None:
    assert create_asset(host="127.0.0.1", collection_name="c").uri == "milvus://127.0.0.1:19530/default/c"
    assert create_asset(host="in01-abc", port=None, collection_name="c", db_name="d").uri == "milvus://in01-abc/d/c"


DONE = BulkInsertState(
    task_id="42", state=6, progress=100, row_count=1000, collection_name="c", partition_name="p", files=["/a.json"]
)
EXTRA = {
    "job_id": "42",
    "row_count": 1000,
    "collection_name": "c",
    "partition_name": "p",
    "db_name": "default",
    "files": ["/a.json"],
}
URI = "milvus://127.0.0.1:19530/default/c"


@pytest.fixture(autouse=True)
def milvus_default(monkeypatch: pytest.MonkeyPatch) -> None:
    conn = {"conn_type": "milvus", "host": "http://127.0.0.1:19530", "extra": {"protocol": "grpc"}}
    monkeypatch.setenv("AIRFLOW_CONN_MILVUS_DEFAULT", json.dumps(conn))


def alias_events(events: OutletEventAccessors, task: Any) -> list[tuple[str, Any]]:
    aliases = [o for o in task.outlets if isinstance(o, AssetAlias)]
    return [(e.dest_asset_key.uri, e.extra) for a in aliases for e in events[a].asset_alias_events]


def test_operator_emits_once_even_for_an_event_delivered_twice() -> None:
    op = MilvusImportOperator(task_id="load", collection_name="c", files=["/a.json"])
    events = OutletEventAccessors()
    context = make_context(outlet_events=events)
    for _ in range(2):
        assert op.execute_complete(context, make_event("success", "42", DONE, "ok")) == DONE.to_dict()
    assert alias_events(events, op) == [(URI, EXTRA)]
    assert [o.name for o in op.outlets] == ["milvus_import:load"]


def test_an_event_attached_again_is_not_attached_nor_said_twice() -> None:
    """A retry that reattaches to a completed job ends in two steps that both emit: one event, one log line."""
    op = MilvusImportOperator(task_id="load", collection_name="c", files=["/a.json"])
    context = make_context(outlet_events=(events := OutletEventAccessors()))
    assert emit_import_event(context, op.outlets, URI, EXTRA) is True
    assert emit_import_event(context, op.outlets, URI, EXTRA) is False
    assert alias_events(events, op) == [(URI, EXTRA)]


def test_operator_sets_the_extra_of_a_declared_asset() -> None:
    declared = Asset(URI)
    op = MilvusImportOperator(task_id="load", collection_name="c", files=["/a.json"], outlets=[declared])
    events = OutletEventAccessors()
    op.execute_complete(make_context(outlet_events=events), make_event("success", "42", DONE, "ok"))
    assert events[declared].extra == EXTRA and alias_events(events, op) == []


def test_no_event_without_emit_asset_or_on_failure() -> None:
    off = MilvusImportOperator(task_id="load", collection_name="c", files=["/a.json"], emit_asset=False)
    assert off.outlets == []
    on = MilvusImportOperator(task_id="load", collection_name="c", files=["/a.json"])
    events = OutletEventAccessors()
    failed = BulkInsertState(task_id="42", state=1, failed_reason="no such file", collection_name="c")
    with pytest.raises(Exception, match="no such file"):
        on.execute_complete(make_context(outlet_events=events), make_event("failed", "42", failed, "no such file"))
    assert alias_events(events, on) == []


def test_sensor_emits_for_a_job_it_saw_complete_only_when_asked() -> None:
    assert MilvusImportSensor(task_id="wait", job_id="42").outlets == []
    sensor = MilvusImportSensor(task_id="wait", job_id="42", emit_asset=True)
    events = OutletEventAccessors()
    sensor.execute_complete(make_context(outlet_events=events), make_event("success", "42", DONE, "ok"))
    assert alias_events(events, sensor) == [(URI, EXTRA)]
