"""MilvusImportHook: the connection in all its forms, protocol override, secrets masked, test_connection."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import airflow
import jsonschema
import pytest

from airflow_provider_milvus.exceptions import MilvusImportConfigError
from airflow_provider_milvus.get_provider_info import CONN_FIELDS, get_provider_info
from airflow_provider_milvus.hooks.milvus_import import MilvusImportHook
from tests.emulator.grpc_server import MilvusEndpoint
from tests.emulator.server import ImportEmulator, make_self_signed_cert


def settings_for(monkeypatch: pytest.MonkeyPatch, value: str, **hook_kwargs: Any) -> Any:
    monkeypatch.setenv("AIRFLOW_CONN_MILVUS_TEST", value)
    return MilvusImportHook("milvus_test", **hook_kwargs).get_settings()


def test_uri_form(monkeypatch: pytest.MonkeyPatch) -> None:
    s = settings_for(
        monkeypatch, "milvus://root:Milv%40us@milvus-host:19531?protocol=grpc&db_name=analytics&timeout=12"
    )
    assert (s.host, s.port, s.protocol, s.db_name, s.timeout) == ("milvus-host", 19531, "grpc", "analytics", 12.0)
    assert s.token == "root:Milv@us"


def test_json_form(monkeypatch: pytest.MonkeyPatch) -> None:
    value = json.dumps(
        {"conn_type": "milvus", "host": "https://in01-abc.zillizcloud.com:19532", "extra": {"token": "apikey-123"}}
    )
    s = settings_for(monkeypatch, value)
    assert (s.host, s.port, s.secure, s.token) == ("in01-abc.zillizcloud.com", 19532, True, "apikey-123")


def test_ui_form_with_prefixed_extras(monkeypatch: pytest.MonkeyPatch) -> None:
    value = json.dumps(
        {
            "conn_type": "milvus",
            "host": "http://milvus:19530",
            "login": "root",
            "password": "Milvus",
            "extra": {
                "extra__milvus__db_name": "analytics",
                "extra__milvus__protocol": "rest",
                "extra__milvus__secure": False,
            },
        }
    )
    s = settings_for(monkeypatch, value)
    assert (s.db_name, s.protocol, s.secure, s.token) == ("analytics", "rest", False, "root:Milvus")


def test_cloud_form(monkeypatch: pytest.MonkeyPatch) -> None:
    value = json.dumps(
        {
            "conn_type": "milvus",
            "extra": {"protocol": "cloud", "cloud_api_key": "key-123456", "cloud_cluster_id": "in01-abc"},
        }
    )
    s = settings_for(monkeypatch, value)
    assert (s.protocol, s.cloud_cluster_id, s.cloud_endpoint) == ("cloud", "in01-abc", "https://api.cloud.zilliz.com")


def test_protocol_override(monkeypatch: pytest.MonkeyPatch) -> None:
    s = settings_for(monkeypatch, "milvus://milvus-host:19530?protocol=auto", protocol="grpc")
    assert s.protocol == "grpc"


def test_bad_override_is_refused() -> None:
    with pytest.raises(MilvusImportConfigError, match="soap"):
        MilvusImportHook(protocol="soap")


def test_config_errors_name_the_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(MilvusImportConfigError, match=r"connection 'milvus_test'.*'protocol' is 'soap'"):
        settings_for(monkeypatch, "milvus://milvus-host:19530?protocol=soap")


async def test_async_settings_match_sync(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_MILVUS_TEST", "milvus://root:secret-pw@h:19530?db_name=d")
    hook = MilvusImportHook("milvus_test")
    assert await hook.aget_settings() == hook.get_settings()


def test_secrets_are_registered_with_the_masker(monkeypatch: pytest.MonkeyPatch) -> None:
    masked: list[str] = []
    monkeypatch.setattr("airflow.providers.common.compat.sdk.mask_secret", lambda s, *a, **k: masked.append(s))
    settings_for(monkeypatch, "milvus://root:secret-pw@h:19530?cloud_api_key=sk-99999")
    assert {"root:secret-pw", "secret-pw", "sk-99999"} <= set(masked)


def test_test_connection_reports_failure_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_MILVUS_TEST", "milvus://127.0.0.1:9?protocol=rest&timeout=2")
    ok, message = MilvusImportHook("milvus_test").test_connection()
    assert ok is False
    assert "could not talk to the server" in message and "http://127.0.0.1:9" in message


def test_provider_info_declares_the_connection_form() -> None:
    info = get_provider_info()
    assert info["package-name"] == "airflow-provider-milvus"
    (conn,) = info["connection-types"]
    assert conn["connection-type"] == "milvus"
    assert conn["hook-class-name"] == "airflow_provider_milvus.hooks.milvus_import.MilvusImportHook"
    assert set(conn["conn-fields"]) == {
        "token",
        "db_name",
        "protocol",
        "secure",
        "server_ca",
        "cloud_api_key",
        "cloud_cluster_id",
        "cloud_endpoint",
        "timeout",
    }
    assert {k for k, v in CONN_FIELDS.items() if v["schema"].get("format") == "password"} == {"token", "cloud_api_key"}
    assert all(v["label"] and v["description"] for v in CONN_FIELDS.values())
    assert conn["ui-field-behaviour"]["relabeling"]["host"] == "Milvus URI"


def test_legacy_form_hooks_are_import_safe() -> None:
    assert isinstance(MilvusImportHook.get_connection_form_widgets(), dict)
    assert MilvusImportHook.get_ui_field_behaviour()["relabeling"]["host"] == "Milvus URI"


# --------------------------------------------------------------------------- regressions of issue 9


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_async_methods_work_from_a_second_event_loop(
    monkeypatch: pytest.MonkeyPatch, make_endpoint: Callable[..., MilvusEndpoint], protocol: str
) -> None:
    """``asyncio.run(astart_import)`` then ``asyncio.run(alist_import_states)``: the second loop gets its own client.

    0.1 kept the client of the first, closed loop and failed with "Event loop is closed", blamed on the network
    (an httpx pool over REST, a grpc.aio channel over gRPC: both belong to the loop that made them).
    """
    endpoint = make_endpoint("2.5", speed=0)
    monkeypatch.setenv("AIRFLOW_CONN_MILVUS_LOOPS", f"milvus://127.0.0.1:{endpoint.port}?protocol={protocol}")
    hook = MilvusImportHook("milvus_loops")
    job_id = asyncio.run(hook.astart_import("c", ["a/1.parquet"]))
    first = hook._async_client
    listed = asyncio.run(hook.alist_import_states())
    assert [s.task_id for s in listed] == [job_id if protocol == "rest" else "0"]  # 2.4+ lists gRPC ids as 0
    assert hook._async_client is not first
    assert asyncio.run(hook.aget_import_state(job_id)).task_id == job_id
    asyncio.run(hook.aclose())  # from yet another loop: dropped, no error
    assert hook._async_client is None


def test_a_client_of_a_loop_that_still_runs_is_closed_on_that_loop(
    monkeypatch: pytest.MonkeyPatch, make_emulator: Callable[..., ImportEmulator]
) -> None:
    """Two loops alive at once (two threads): each call uses its own loop's client; the old one closes on its loop."""
    emulator = make_emulator(mode="rest", speed=0)
    monkeypatch.setenv("AIRFLOW_CONN_MILVUS_LOOPS", f"{emulator.base_url}?protocol=rest")
    hook = MilvusImportHook("milvus_loops")
    other = asyncio.new_event_loop()
    thread = threading.Thread(target=other.run_forever, daemon=True)
    thread.start()
    try:
        asyncio.run_coroutine_threadsafe(hook.alist_import_states(), other).result(timeout=10)
        old = hook._async_client
        assert old is not None and emulator.open_connections == 1
        assert asyncio.run(hook.alist_import_states()) == []
        assert hook._async_client is not old
        deadline = time.monotonic() + 10
        while old._http is not None and time.monotonic() < deadline:  # closed on its own loop, soon
            time.sleep(0.01)
        assert old._http is None
    finally:
        other.call_soon_threadsafe(other.stop)
        thread.join(timeout=10)
        other.close()


@pytest.mark.parametrize("protocol", ["grpc", "rest"])
@pytest.mark.parametrize("flavour", ["sync", "async"])
@pytest.mark.parametrize("content", ["key", "junk"])
def test_a_server_ca_that_is_no_certificate_is_named_not_blamed_on_the_network(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, protocol: str, flavour: str, content: str
) -> None:
    """A key or junk as ``server_ca``: a MilvusImportConfigError naming the extra and the path, before any socket."""
    _cert, key = make_self_signed_cert(tmp_path)
    path = key if content == "key" else str(tmp_path / "junk.pem")
    if content == "junk":
        Path(path).write_text("not a certificate at all\n")
    extra = {"protocol": protocol, "server_ca": path}
    monkeypatch.setenv(
        "AIRFLOW_CONN_MILVUS_CA", json.dumps({"conn_type": "milvus", "host": "https://127.0.0.1:9", "extra": extra})
    )
    hook = MilvusImportHook("milvus_ca")
    with pytest.raises(MilvusImportConfigError) as caught:
        if flavour == "sync":
            hook.get_import_state("1")
        else:
            asyncio.run(hook.aget_import_state("1"))
    message = str(caught.value)
    assert "'server_ca'" in message and path in message and "milvus_ca" in message
    assert "unreachable" not in message and "refused" not in message


def test_legacy_field_behaviour_passes_the_installed_airflows_schema() -> None:
    """Airflow before 3.2 drops a behaviour its schema rejects (it requires snake_case ``hidden_fields``)."""
    schema_path = Path(airflow.__file__).parent / "customized_form_field_behaviours.schema.json"
    behaviour = MilvusImportHook.get_ui_field_behaviour()
    jsonschema.validate(behaviour, json.loads(schema_path.read_text()))
    assert behaviour["hidden_fields"] == ["schema"]  # a hidden Extra breaks the Test button of Airflow 2.11's form
    assert "schema" not in behaviour["relabeling"]  # one database field: the extra db_name


def test_legacy_form_widgets_follow_conn_fields() -> None:
    """With wtforms (Airflow 2.11, or 3.0/3.1 with FAB) every conn-field has a widget of the right kind."""
    try:
        import wtforms
    except ImportError:  # Airflow 3.2+ without FAB: the form comes from conn-fields alone
        assert MilvusImportHook.get_connection_form_widgets() == {}
        return
    widgets = MilvusImportHook.get_connection_form_widgets()
    assert list(widgets) == list(CONN_FIELDS)
    kinds = {key: field.field_class for key, field in widgets.items()}
    assert {k for k, v in kinds.items() if v is wtforms.PasswordField} == {"token", "cloud_api_key"}
    assert {k for k, v in kinds.items() if v is wtforms.BooleanField} == {"secure"}
    protocol = widgets["protocol"].kwargs["validators"]
    assert any(getattr(v, "values", None) == ["auto", "grpc", "rest", "cloud"] for v in protocol), protocol
