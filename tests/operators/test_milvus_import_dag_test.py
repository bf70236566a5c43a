"""MilvusImportOperator as users run it, to the end, on every Airflow of the matrix.

``dag.test()`` runs the operator (``tests/dag_files/to_the_end.py``) with its defaults (deferred,
``emit_asset`` on) until the run ends; the asset (dataset) event is read back from that Airflow's
metadata database, its ``extra`` as a consumer reads it. Against the REST v2 emulator and the real
Milvus 2.3.5; once more with ``retries``, where try 1's import fails and try 2 imports anew. (On
Airflow 2.11 and 3.0 a list in the extra failed every completed import, after the import had landed.)
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pymilvus import Collection, utility

from tests.airflow_versions import xcom_values
from tests.dag_runs import asset_uri, event_files, import_event, states
from tests.emulator.server import ImportEmulator
from tests.milvus_server.data import write_row_json
from tests.milvus_server.server import MilvusServer

TASK = "load"


def test_defaults_run_to_the_end_with_the_asset_event_on_rest_emulator(
    airflow_db: None,
    make_emulator: Callable[..., ImportEmulator],
    milvus_connection: Callable[[dict[str, Any]], None],
    trigger_runs: list[dict[str, Any]],
    dag_files: Callable[[str], Any],
) -> None:
    emulator = make_emulator(mode="rest", job_duration=2)
    milvus_connection({"host": emulator.base_url})
    collection = f"books_{uuid.uuid4().hex[:8]}"
    files = [["/data/rows-1.json"], ["/data/rows-2.json"]]
    run = dag_files("to_the_end_import").test(run_conf={"collection_name": collection, "files": files})

    assert run.state == "success", states(run)
    assert [trigger["job_id"] for trigger in trigger_runs] == emulator.job_ids  # deferred, one job
    final = xcom_values(run.run_id)[(TASK, "return_value")]
    assert final["state_name"] == "Completed" and final["row_count"] > 0
    extra = import_event(run, TASK, asset_uri(emulator.base_url, collection))
    assert {key: extra[key] for key in ("job_id", "row_count", "collection_name", "partition_name", "db_name")} == {
        "job_id": final["task_id"],
        "row_count": final["row_count"],
        "collection_name": collection,
        "partition_name": final["partition_name"],
        "db_name": "default",
    }
    assert event_files(extra) == final["files"] == ["/data/rows-1.json", "/data/rows-2.json"]


def test_retries_import_again_after_a_failed_job_on_rest_emulator(
    airflow_db: None,
    make_emulator: Callable[..., ImportEmulator],
    milvus_connection: Callable[[dict[str, Any]], None],
    trigger_runs: list[dict[str, Any]],
    dag_files: Callable[[str], Any],
) -> None:
    emulator = make_emulator(mode="rest", job_duration=2)
    emulator.script_next_job(fail_after=0.5, fail_reason="disk full")  # try 1's job fails; try 2's completes
    milvus_connection({"host": emulator.base_url})
    collection = f"books_{uuid.uuid4().hex[:8]}"
    run = dag_files("to_the_end_import_retries").test(
        run_conf={"collection_name": collection, "files": ["/data/rows.json"]}
    )

    (ti,) = run.get_task_instances()
    assert ti.try_number == 2
    assert run.state == "success", states(run)
    failed, completed = emulator.job_ids
    assert (emulator.job(failed)["state"], emulator.job(completed)["state"]) == ("Failed", "Completed")
    assert [trigger["job_id"] for trigger in trigger_runs] == [failed, completed]
    values = xcom_values(run.run_id)
    assert values[(TASK, "job_id")] == completed
    assert values[(TASK, "return_value")]["task_id"] == completed
    extra = import_event(run, TASK, asset_uri(emulator.base_url, collection))  # only the completed job's
    assert extra["job_id"] == completed and event_files(extra) == ["/data/rows.json"]


def server_jobs(alias: str, collection: str) -> list[tuple[str, str]]:
    """``(job id, state name)`` of the collection's import jobs on the real server, oldest first."""
    jobs = utility.list_bulk_insert_tasks(collection_name=collection, timeout=30, using=alias)
    return sorted((str(job.task_id), job.state_name) for job in jobs)


@pytest.mark.milvus
def test_defaults_run_to_the_end_with_the_asset_event_on_real_milvus(
    airflow_db: None,
    running_milvus_server: MilvusServer,
    import_collection: Collection,
    pymilvus_alias: str,
    data_dir: Path,
    milvus_connection: Callable[[dict[str, Any]], None],
    trigger_runs: list[dict[str, Any]],
    dag_files: Callable[[str], Any],
) -> None:
    milvus_connection({"host": running_milvus_server.uri})  # protocol auto: gRPC on 2.3
    path = write_row_json(data_dir / "rows.json", 500)
    run = dag_files("to_the_end_import").test(run_conf={"collection_name": import_collection.name, "files": [path]})

    assert run.state == "success", states(run)
    ((job_id, state_name),) = server_jobs(pymilvus_alias, import_collection.name)
    assert state_name == "Completed"
    assert [(trigger["job_id"], trigger["protocol"]) for trigger in trigger_runs] == [(job_id, "grpc")]
    extra = import_event(run, TASK, asset_uri(running_milvus_server.uri, import_collection.name))
    assert extra["job_id"] == job_id and extra["row_count"] == 500, extra
    assert (extra["collection_name"], extra["db_name"]) == (import_collection.name, "default")
    assert event_files(extra) == [path]


@pytest.mark.milvus
def test_retries_import_again_after_a_failed_job_on_real_milvus(
    airflow_db: None,
    running_milvus_server: MilvusServer,
    import_collection: Collection,
    pymilvus_alias: str,
    data_dir: Path,
    milvus_connection: Callable[[dict[str, Any]], None],
    trigger_runs: list[dict[str, Any]],
    dag_files: Callable[[str], Any],
) -> None:
    """Try 1's file is missing, so its job fails on the server; try 2 puts the file in place first."""
    milvus_connection({"host": running_milvus_server.uri, "extra": {"protocol": "grpc"}})
    source = write_row_json(data_dir / "source.json", 300)
    path = str(data_dir / "rows.json")

    run = dag_files("to_the_end_import_retries").test(
        run_conf={"collection_name": import_collection.name, "files": [path], "source": source}
    )

    (ti,) = run.get_task_instances()
    assert ti.try_number == 2
    jobs = server_jobs(pymilvus_alias, import_collection.name)
    assert run.state == "success", states(run)
    assert sorted(name for _, name in jobs) == ["Completed", "Failed"], jobs
    completed = next(job for job, name in jobs if name == "Completed")
    assert [trigger["job_id"] for trigger in trigger_runs][-1] == completed and len(trigger_runs) == 2
    extra = import_event(run, TASK, asset_uri(running_milvus_server.uri, import_collection.name))
    assert extra["job_id"] == completed and extra["row_count"] == 300 and event_files(extra) == [path]
