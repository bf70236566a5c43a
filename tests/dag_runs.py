"""Fixtures for tests that run DAGs to the end with ``dag.test()``; use ``from tests.dag_runs import *`` in conftest.

``dag.test()`` defers for real and runs the trigger inline; ``trigger_runs`` records each trigger that
ran (proof the task deferred), and what the run left is read back from the metadata database.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from airflow_provider_milvus.triggers.milvus_import import MilvusImportTrigger
from airflow_provider_milvus.version_compat import ASSET_EXTRA_HASHED

__all__ = ["airflow_db", "milvus_connection", "dag_files", "trigger_runs"]

DAG_FILES = Path(__file__).resolve().parent / "dag_files"

#: The keys of the asset event's ``extra`` after an import (the contract).
IMPORT_EVENT_KEYS = {"job_id", "row_count", "collection_name", "partition_name", "db_name", "files"}


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """A migrated SQLite metadata database in the session's AIRFLOW_HOME."""
    airflow = Path(sys.executable).with_name("airflow")
    result = subprocess.run(
        [str(airflow), "db", "migrate"], capture_output=True, text=True, timeout=300, env=os.environ
    )
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.fixture
def trigger_runs(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Records every MilvusImportTrigger that ran (its serialized kwargs): proof the task deferred."""
    runs: list[dict[str, Any]] = []
    original = MilvusImportTrigger.run

    def run(self: MilvusImportTrigger) -> Any:
        runs.append(self.serialize()[1])
        return original(self)

    monkeypatch.setattr(MilvusImportTrigger, "run", run)
    return runs


@pytest.fixture
def milvus_connection(monkeypatch: pytest.MonkeyPatch) -> Callable[[dict[str, Any]], None]:
    """Sets ``milvus_default`` (as ``AIRFLOW_CONN_MILVUS_DEFAULT``) for this test only."""

    def set_connection(conn: dict[str, Any]) -> None:
        monkeypatch.setenv("AIRFLOW_CONN_MILVUS_DEFAULT", json.dumps({"conn_type": "milvus", **conn}))

    return set_connection


def states(run: Any) -> dict[str, str]:
    """``task_id -> state`` of a finished run (for assertion messages and exact checks)."""
    return {ti.task_id: str(ti.state) for ti in run.get_task_instances()}


@pytest.fixture
def dag_files(airflow_db: None, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], Any]:
    """``dag_files(dag_id)``: a DAG of tests/dag_files, whose folder is the DAGs folder for this test.

    ``dag.test()`` on Airflow 3 writes the DAGs of the DAGs-folder bundle to the database and runs
    only a DAG found there; on 2.11 it runs the DAG object itself, once the DAGs are written as the
    DAG processor writes them (``write_as_parsed``).
    """
    import airflow.settings

    from tests.airflow_versions import dag_bag, write_as_parsed

    monkeypatch.setattr(airflow.settings, "DAGS_FOLDER", str(DAG_FILES))
    bag = dag_bag(str(DAG_FILES))
    assert not bag.import_errors, bag.import_errors
    write_as_parsed(bag)
    return lambda dag_id: bag.get_dag(dag_id)


def event_files(extra: dict[str, Any]) -> list[str]:
    """``files`` of an import's asset event as read back: JSON text on Airflow 2.11 and 3.0, a list on 3.1+."""
    files = extra["files"]
    if ASSET_EXTRA_HASHED:
        assert isinstance(files, str), f"Airflow 2.11 and 3.0 hash the extra: files must be text, got {files!r}"
        decoded = json.loads(files)
        assert isinstance(decoded, list), decoded
        return decoded
    assert isinstance(files, list), f"files must stay a list on Airflow 3.1+, got {files!r}"
    return files


def asset_uri(server_uri: str, collection: str) -> str:
    """The asset URI of a collection in the default database of the server at ``server_uri``."""
    split = urlsplit(server_uri)
    return f"milvus://{split.hostname}:{split.port}/default/{collection}"


def import_event(run: Any, task_id: str, uri: str) -> dict[str, Any]:
    """The ``extra`` of the one event of ``uri`` in the database: from this run's task, with the contract's keys."""
    from tests.airflow_versions import asset_events

    events = asset_events(uri)
    assert len(events) == 1, events
    (event,) = events
    assert (event["source_dag_id"], event["source_task_id"], event["source_run_id"]) == (
        run.dag_id,
        task_id,
        run.run_id,
    )
    assert set(event["extra"]) == IMPORT_EVENT_KEYS, event
    return dict(event["extra"])
