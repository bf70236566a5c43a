"""pymilvus as an independent reference: for the same real jobs, every field of BulkInsertState agrees."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from pymilvus import Collection, utility

from airflow_provider_milvus import BulkInsertState
from airflow_provider_milvus.client import MilvusImportClient
from airflow_provider_milvus.settings import parse_settings
from tests.milvus_server.data import write_numpy_files, write_row_json, write_unknown_field_json
from tests.milvus_server.server import MilvusServer

pytestmark = pytest.mark.milvus

#: pymilvus's names where the contract deliberately differs (pymilvus shows raw 8 as unknown).
PYMILVUS_NAMES = {"FailedAndCleaned": "Failed and cleaned"}


def compare(ours: BulkInsertState, theirs: Any) -> dict[str, tuple[Any, Any]]:
    """Field by field: (ours, pymilvus's) for every field that differs."""
    pairs = {
        "task_id": (ours.task_id, str(theirs.task_id)),
        "state": (ours.state, theirs.state),
        "state_name": (PYMILVUS_NAMES.get(ours.state_name, ours.state_name), theirs.state_name),
        "row_count": (ours.row_count, theirs.row_count),
        "infos": (ours.infos, dict(theirs.infos)),
        "collection_name": (ours.collection_name, theirs.collection_name),
        "partition_name": (ours.partition_name, theirs.partition_name),
        "files": (",".join(ours.files), theirs.files),
        "progress": (ours.progress, theirs.progress),
        "failed_reason": (ours.failed_reason, theirs.failed_reason),
        "create_timestamp": (ours.create_timestamp, theirs.create_timestamp),
        "create_time_str": (ours.create_time_str, theirs.create_time_str),
        "id_ranges": (ours.id_ranges, list(theirs.id_ranges)),
        "ids": (ours.ids, theirs.ids),
    }
    return {name: pair for name, pair in pairs.items() if pair[0] != pair[1]}


def settle(alias: str, job_id: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if utility.get_bulk_insert_state(int(job_id), using=alias).state in (1, 6, 7):
            return
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} did not end")


def test_every_field_agrees_with_pymilvus(
    running_milvus_server: MilvusServer, import_collection: Collection, pymilvus_alias: str, data_dir: Path
) -> None:
    client = MilvusImportClient(parse_settings(host=running_milvus_server.uri, extra={"protocol": "grpc"}))
    try:
        jobs = [
            client.start_import(import_collection.name, [write_row_json(data_dir / "ok.json", 500)]),
            client.start_import(import_collection.name, write_numpy_files(data_dir / "np", 700, start=500)),
            client.start_import(import_collection.name, [write_unknown_field_json(data_dir / "bad.json")]),
        ]
        # Mid-flight too: compare while the later jobs still wait or run.
        in_flight = [
            (client.get_import_state(j), utility.get_bulk_insert_state(int(j), using=pymilvus_alias)) for j in jobs
        ]
        for job in jobs:
            settle(pymilvus_alias, job)
        final = [
            (client.get_import_state(j), utility.get_bulk_insert_state(int(j), using=pymilvus_alias)) for j in jobs
        ]
        listed = {s.task_id: s for s in client.list_import_states(import_collection.name)}
        theirs_listed = {
            str(t.task_id): t
            for t in utility.list_bulk_insert_tasks(collection_name=import_collection.name, using=pymilvus_alias)
        }
    finally:
        client.close()

    for ours, theirs in in_flight:
        differences = compare(ours, theirs)
        # Between two reads a running job may move on: only the moving fields may differ.
        assert set(differences) <= {"state", "state_name", "row_count", "infos", "progress"}, differences
    for ours, theirs in final:
        assert compare(ours, theirs) == {}, (ours, theirs)
    assert [s.state_name for s, _ in final] == ["Completed", "Completed", "Failed"]
    assert final[0][0].row_count == 500 and final[1][0].row_count == 700
    assert set(listed) == set(theirs_listed) == set(jobs)
    for job_id, ours in listed.items():
        assert compare(ours, theirs_listed[job_id]) == {}
