"""The example DAGs, parsed and run with dag.test() against the real Milvus 2.3.5 and the REST v2 emulator.

dag.test() defers for real and runs the trigger inline; the trigger's runs are counted to prove the
sensor deferred, and the XComs are read back from the metadata database.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pymilvus import Collection

from airflow_provider_milvus.triggers.milvus_import import MilvusImportTrigger
from airflow_provider_milvus.version_compat import (
    HAS_EVENT_TRIGGERS,
    RENDERS_START_TRIGGER_TEMPLATES,
    STARTS_TASKS_IN_TRIGGERER,
)
from tests.airflow_versions import dag_bag, xcom_values
from tests.dag_runs import states
from tests.emulator.server import ImportEmulator
from tests.milvus_server.data import write_numpy_files
from tests.milvus_server.server import MilvusServer

EXAMPLES = Path(__file__).resolve().parents[2] / "example_dags"
#: Rows of the real-Milvus import the sensor must wait for in the triggerer (see the test).
DEFERRED_ROWS = 2_000_000
ZERO_WORKER = "example_milvus_zero_worker_sensor"
#: The zero-worker example parses where the triggerer starts the sensor and renders its templated job id
#: (3.3+); elsewhere it is refused by design, with the reason (asserted below).
ZERO_WORKER_PARSES = STARTS_TASKS_IN_TRIGGERER and RENDERS_START_TRIGGER_TEMPLATES


def finish_once_deferred(monkeypatch: pytest.MonkeyPatch, emulator: ImportEmulator) -> None:
    """The emulator's clock stands still until a trigger runs, then jumps an hour: the task must defer."""
    run = MilvusImportTrigger.run

    def deferred_run(self: MilvusImportTrigger) -> Any:
        emulator.advance(3600.0)
        return run(self)

    monkeypatch.setattr(MilvusImportTrigger, "run", deferred_run)


def refused_examples(bag: Any) -> dict[str, str]:
    """The example files this Airflow refuses by design, checked: only the zero-worker sensor, and why."""
    errors = {Path(path).stem: str(error) for path, error in bag.import_errors.items()}
    if ZERO_WORKER_PARSES:
        return errors
    reason = (
        "start_from_trigger=True cannot begin the wait in the triggerer"
        if not STARTS_TASKS_IN_TRIGGERER
        else "start_from_trigger needs job_id known when the DAG is parsed"
    )
    assert set(errors) == {ZERO_WORKER} and reason in errors[ZERO_WORKER], errors
    return {}


def dag_named(dag_id: str) -> Any:
    bag = dag_bag(str(EXAMPLES))
    assert not refused_examples(bag), bag.import_errors
    return bag.get_dag(dag_id)


def xcoms(run_id: str) -> dict[tuple[str, str], Any]:
    return xcom_values(run_id)


def test_example_dags_parse_without_a_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_MILVUS_DEFAULT", raising=False)
    bag = dag_bag(str(EXAMPLES))
    assert refused_examples(bag) == {}
    # The watcher example needs event-driven scheduling (Airflow 3.0+); on Airflow 2 it defines no DAG.
    watcher = ["example_milvus_asset_watcher"] if HAS_EVENT_TRIGGERS else []
    assert sorted(bag.dag_ids) == [
        "example_milvus_asset_consumer",
        "example_milvus_asset_producer",
        *watcher,
        "example_milvus_import_failure_handling",
        "example_milvus_import_then_gate",
        "example_milvus_sensor_external_job",
        "example_milvus_two_phase_import",
        *([ZERO_WORKER] if ZERO_WORKER_PARSES else []),
    ]


@pytest.mark.milvus
def test_import_then_gate_on_real_milvus(
    airflow_db: None,
    running_milvus_server: MilvusServer,
    import_collection: Collection,
    data_dir: Path,
    milvus_connection: Callable[[dict[str, Any]], None],
    trigger_runs: list[dict[str, Any]],
) -> None:
    milvus_connection({"host": running_milvus_server.uri})  # protocol auto: finds gRPC on 2.3
    # Two million rows are seconds of work for Milvus (about 5 s here, longer under load): the import
    # cannot end before the sensor's first read, right after start_import, so the sensor must defer.
    files = write_numpy_files(data_dir / "big", DEFERRED_ROWS)
    run = dag_named("example_milvus_import_then_gate").test(
        run_conf={"collection_name": import_collection.name, "files": files}
    )
    assert run.state == "success", states(run)
    values = xcoms(run.run_id)
    job_id = values[("start_import", "job_id")]
    assert [(trigger["job_id"], trigger["protocol"]) for trigger in trigger_runs] == [(job_id, "grpc")], (
        "the sensor must defer exactly once, over gRPC"
    )
    state = values[("wait_for_import", "return_value")]
    assert state["task_id"] == job_id
    assert (state["state_name"], state["row_count"], state["collection_name"]) == (
        "Completed",
        DEFERRED_ROWS,
        import_collection.name,
    )
    assert values[("check_rows", "return_value")] == DEFERRED_ROWS


def test_import_then_gate_on_rest_emulator(
    airflow_db: None,
    monkeypatch: pytest.MonkeyPatch,
    make_emulator: Callable[..., ImportEmulator],
    milvus_connection: Callable[[dict[str, Any]], None],
    trigger_runs: list[dict[str, Any]],
) -> None:
    emulator = make_emulator(mode="rest", speed=0, job_duration=4, token="root:Milvus")
    finish_once_deferred(monkeypatch, emulator)
    milvus_connection({"host": emulator.base_url, "login": "root", "password": "Milvus"})
    run = dag_named("example_milvus_import_then_gate").test(
        run_conf={"collection_name": "articles", "files": ["/data/articles/1.parquet"]}
    )
    assert run.state == "success", states(run)
    assert len(trigger_runs) == 1 and trigger_runs[0]["protocol"] == "rest"
    state = xcoms(run.run_id)[("wait_for_import", "return_value")]
    assert state["state_name"] == "Completed" and state["row_count"] == state["total_rows"] > 0
    assert state["task_id"] == emulator.job_ids[0]
    assert emulator.request_count("describe") >= 2


@pytest.mark.milvus
def test_failure_handling_reads_the_reason_on_real_milvus(
    airflow_db: None,
    running_milvus_server: MilvusServer,
    import_collection: Collection,
    data_dir: Path,
    milvus_connection: Callable[[dict[str, Any]], None],
    trigger_runs: list[dict[str, Any]],
) -> None:
    milvus_connection({"host": running_milvus_server.uri, "extra": {"protocol": "grpc"}})
    missing = str(data_dir / "missing.json")
    run = dag_named("example_milvus_import_failure_handling").test(
        run_conf={"collection_name": import_collection.name, "files": [missing]}
    )
    # The run's state follows its leaf, the all_done report; the import task itself failed.
    assert states(run) == {"load": "failed", "report": "success"}
    assert len(trigger_runs) == 1
    values = xcoms(run.run_id)
    assert values[("load", "return_value")]["state_name"] == "Failed"
    report = values[("report", "return_value")]
    assert report["state"] == "Failed" and "no such file or directory" in report["failed_reason"]
    assert report["job_id"] == values[("load", "job_id")]


def test_sensor_on_an_external_job_on_rest_emulator(
    airflow_db: None,
    monkeypatch: pytest.MonkeyPatch,
    make_emulator: Callable[..., ImportEmulator],
    milvus_connection: Callable[[dict[str, Any]], None],
    trigger_runs: list[dict[str, Any]],
) -> None:
    emulator = make_emulator(mode="rest", speed=0, job_duration=3)
    finish_once_deferred(monkeypatch, emulator)
    job = emulator.create_job("articles", [["/data/1.parquet"]])
    milvus_connection({"host": emulator.base_url, "extra": {"protocol": "rest"}})
    run = dag_named("example_milvus_sensor_external_job").test(run_conf={"job_id": job})
    assert run.state == "success", states(run)
    assert [trigger["job_id"] for trigger in trigger_runs] == [job]
    assert xcoms(run.run_id)[("wait_for_external_import", "return_value")]["state_name"] == "Completed"


def test_zero_worker_sensor_on_rest_emulator(
    monkeypatch: pytest.MonkeyPatch,
    airflow_db: None,
    make_emulator: Callable[..., ImportEmulator],
    milvus_connection: Callable[[dict[str, Any]], None],
    trigger_runs: list[dict[str, Any]],
) -> None:
    """Where it parses: dag.test() runs the end event on its in-process worker, and the sensor still ends right.

    (Real services end it in the triggerer with no worker: tests/e2e/test_zero_worker_wait.py.)
    """
    emulator = make_emulator(mode="rest", job_duration=3, speed=0)  # the job runs once the trigger started
    job = emulator.create_job("articles", [["/data/1.parquet"]])
    milvus_connection({"host": emulator.base_url, "extra": {"protocol": "rest"}})
    recording = MilvusImportTrigger.run

    def run(self: MilvusImportTrigger) -> Any:
        emulator.clock.speed = 1.0
        return recording(self)

    monkeypatch.setattr(MilvusImportTrigger, "run", run)
    bag = dag_bag(str(EXAMPLES))
    if not ZERO_WORKER_PARSES:
        assert ZERO_WORKER not in bag.dag_ids and refused_examples(bag) == {}
        return
    run = bag.get_dag(ZERO_WORKER).test(run_conf={"job_id": job})
    assert states(run) == {"wait_in_triggerer": "success", "announce": "success"}
    assert [(t["job_id"], t["end_from_trigger"]) for t in trigger_runs] == [(job, True)]
    state = xcoms(run.run_id)[("wait_in_triggerer", "return_value")]
    assert (state["task_id"], state["state_name"]) == (job, "Completed")


@pytest.fixture(autouse=True)
def _no_leftover_connection(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    yield
    monkeypatch.delenv("AIRFLOW_CONN_MILVUS_DEFAULT", raising=False)


@pytest.mark.parametrize(("min_rows", "outcome"), [(1, "publish"), (10**9, "discard")])
def test_stage_validate_publish_on_the_3_0_profile(
    airflow_db: None,
    make_emulator: Callable[..., ImportEmulator],
    milvus_connection: Callable[[dict[str, Any]], None],
    trigger_runs: list[dict[str, Any]],
    min_rows: int,
    outcome: str,
) -> None:
    """Two-phase import: staged, checked, then committed (enough rows) or aborted (too few)."""
    emulator = make_emulator(profile="3.0", job_duration=2)
    milvus_connection({"host": emulator.base_url, "extra": {"protocol": "rest"}})
    run = dag_named("example_milvus_two_phase_import").test(
        run_conf={"collection_name": "articles", "files": ["/data/articles/1.parquet"], "min_rows": min_rows}
    )
    assert run.state == "success", states(run)
    skipped = "discard" if outcome == "publish" else "publish"
    assert states(run) == {"stage": "success", "validate": "success", outcome: "success", skipped: "skipped"}
    values = xcoms(run.run_id)
    job_id = values[("stage", "job_id")]
    assert values[("stage", "return_value")]["server_state"] == "Uncommitted"
    assert trigger_runs[0]["staged_is_done"] is True
    final = emulator.job(job_id)
    if outcome == "publish":
        assert final["state"] == "Completed" and values[("publish", "return_value")]["server_state"] == "Completed"
        assert len(trigger_runs) == 2 and trigger_runs[1]["staged_is_done"] is False
    else:
        assert final["state"] == "Failed" and len(trigger_runs) == 1
