"""MilvusImportHook: the connection in all its forms, protocol override, secrets masked, test_connection."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import airflow
import jsonschema
import pytest

from airflow_provider_milvus.exceptions import MilvusImportConfigError
from airflow_provider_milvus.get_provider_info import CONN_FIELDS, get_provider_info
from airflow_provider_milvus.hooks.milvus_import import MilvusImportHook


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


def test_legacy_field_behaviour_passes_the_installed_airflows_schema() -> None:
    """Airflow before 3.2 drops a behaviour its schema rejects (it requires snake_case ``hidden_fields``)."""
    schema_path = Path(airflow.__file__).parent / "customized_form_field_behaviours.schema.json"
    behaviour = MilvusImportHook.get_ui_field_behaviour()
    jsonschema.validate(behaviour, json.loads(schema_path.read_text()))
    assert behaviour["hidden_fields"] == []  # a hidden Extra breaks the Test button of Airflow 2.11's form


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
