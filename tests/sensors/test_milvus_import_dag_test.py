"""MilvusImportSensor(emit_asset=True) as users run it, to the end, on every Airflow of the matrix.

``dag.test()`` runs ``to_the_end_sensor`` (``tests/dag_files/to_the_end.py``, deferred by default)
on a job that completes and on one that fails, against the REST v2 emulator and the real Milvus
2.3.5. A completed job leaves one asset (dataset) event in the metadata database, its ``extra`` as a
consumer reads it; a failed job fails the task, pushes the failed state and leaves no event.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from pymilvus import Collection, utility

from tests.airflow_versions import asset_events, xcom_values
from tests.dag_runs import asset_uri, event_files, import_event, states
from tests.emulator.server import ImportEmulator
from tests.milvus_server.data import write_row_json
from tests.milvus_server.server import MilvusServer

DAG_ID, TASK = "to_the_end_sensor", "wait"


@contextmanager
def ends_once_deferred(emulator: ImportEmulator, trigger_runs: list[dict[str, Any]]) -> Iterator[None]:
    """The emulator's jobs end (their emulated time jumps past them) only once a trigger runs."""
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            if trigger_runs:
                emulator.clock.advance(2 * emulator.job_duration)
                return
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield
    finally:
        stop.set()
        watcher.join()


def check_completed(run: Any, uri: str, job_id: str, files: list[str]) -> dict[str, Any]:
    """The run succeeded with the Completed state in XCom and one asset event of this run, for this job."""
    assert run.state == "success", states(run)
    final = xcom_values(run.run_id)[(TASK, "return_value")]
    assert (final["task_id"], final["state_name"]) == (job_id, "Completed"), final
    extra = import_event(run, TASK, uri)
    assert (extra["job_id"], extra["row_count"], extra["db_name"]) == (job_id, final["row_count"], "default")
    assert event_files(extra) == files
    return dict(extra)


def check_failed(run: Any, uri: str, job_id: str, reason: str) -> None:
    """The task failed with the Failed state and the server's reason in XCom; no asset event at all."""
    assert states(run) == {TASK: "failed"}
    final = xcom_values(run.run_id)[(TASK, "return_value")]
    assert (final["task_id"], final["state_name"]) == (job_id, "Failed"), final
    assert reason in final["failed_reason"], final
    assert asset_events(uri) == []


@pytest.mark.parametrize("outcome", ["completed", "failed"])
def test_sensor_runs_to_the_end_on_rest_emulator(
    airflow_db: None,
    make_emulator: Callable[..., ImportEmulator],
    milvus_connection: Callable[[dict[str, Any]], None],
    trigger_runs: list[dict[str, Any]],
    dag_files: Callable[[str], Any],
    outcome: str,
) -> None:
    emulator = make_emulator(mode="rest", job_duration=600)
    milvus_connection({"host": emulator.base_url})
    collection = f"books_{uuid.uuid4().hex[:8]}"
    path = "/data/rows.json" if outcome == "completed" else "/data/fail-rows.json"  # "fail" in a path fails it
    job_id = emulator.create_job(collection, [[path]])

    with ends_once_deferred(emulator, trigger_runs):
        run = dag_files(DAG_ID).test(run_conf={"job_id": job_id})

    assert [trigger["job_id"] for trigger in trigger_runs] == [job_id]  # deferred
    uri = asset_uri(emulator.base_url, collection)
    if outcome == "completed":
        extra = check_completed(run, uri, job_id, [path])
        assert extra["collection_name"] == collection
    else:
        check_failed(run, uri, job_id, "emulated failure")


@pytest.mark.milvus
@pytest.mark.parametrize("outcome", ["completed", "failed"])
def test_sensor_runs_to_the_end_on_real_milvus(
    airflow_db: None,
    running_milvus_server: MilvusServer,
    import_collection: Collection,
    pymilvus_alias: str,
    data_dir: Path,
    milvus_connection: Callable[[dict[str, Any]], None],
    dag_files: Callable[[str], Any],
    outcome: str,
) -> None:
    milvus_connection({"host": running_milvus_server.uri})
    path = write_row_json(data_dir / "rows.json", 400) if outcome == "completed" else str(data_dir / "missing.json")
    job_id = str(utility.do_bulk_insert(import_collection.name, files=[path], timeout=30, using=pymilvus_alias))

    run = dag_files(DAG_ID).test(run_conf={"job_id": job_id})

    uri = asset_uri(running_milvus_server.uri, import_collection.name)
    if outcome == "completed":
        extra = check_completed(run, uri, job_id, [path])
        assert (extra["collection_name"], extra["row_count"]) == (import_collection.name, 400)
    else:
        check_failed(run, uri, job_id, "no such file or directory")
