"""The leg's own `airflow` command sees the provider and keeps the `milvus` connection type."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.matrix.conftest import airflow_cli


def json_output(stdout: str) -> list[dict[str, object]]:
    """The JSON list an `airflow ... --output json` command prints as its last line (log lines come first)."""
    line = next(line for line in reversed(stdout.splitlines()) if line.startswith(("[{", "[]")))
    value = json.loads(line)
    assert isinstance(value, list)
    return value


@pytest.fixture(scope="module")
def migrated() -> None:
    """The session's AIRFLOW_HOME with a migrated metadata database."""
    result = airflow_cli("db", "migrate")
    assert result.returncode == 0, result.stderr[-2000:]


def test_providers_list_names_the_provider(leg: str) -> None:
    result = airflow_cli("providers", "list", "--output", "json")
    assert result.returncode == 0, result.stderr[-2000:]
    providers = {p["package_name"]: p for p in json_output(result.stdout)}
    assert "airflow-provider-milvus" in providers, sorted(providers)


def test_connections_add_keeps_the_milvus_type(leg: str, migrated: None) -> None:
    conn_id = f"milvus_matrix_{uuid.uuid4().hex[:8]}"
    added = airflow_cli("connections", "add", conn_id, "--conn-type", "milvus", "--conn-host", "http://127.0.0.1:19530")
    assert added.returncode == 0, added.stderr[-2000:]
    try:
        got = airflow_cli("connections", "get", conn_id, "--output", "json")
        assert got.returncode == 0, got.stderr[-2000:]
        (conn,) = json_output(got.stdout)
        assert (conn["conn_type"], conn["host"]) == ("milvus", "http://127.0.0.1:19530")
    finally:
        airflow_cli("connections", "delete", conn_id)
