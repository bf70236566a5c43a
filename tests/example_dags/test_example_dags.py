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

from tests.airflow_versions import dag_bag, xcom_values
from tests.dag_runs import states
from tests.emulator.server import ImportEmulator
from tests.milvus_server.data import write_row_json
from tests.milvus_server.server import MilvusServer

EXAMPLES = Path(__file__).resolve().parents[2] / "example_dags"


def dag_named(dag_id: str) -> Any:
    bag = dag_bag(str(EXAMPLES))
    assert not bag.import_errors, bag.import_errors
    return bag.get_dag(dag_id)


def xcoms(run_id: str) -> dict[tuple[str, str], Any]:
    return xcom_values(run_id)


def test_example_dags_parse_without_a_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_MILVUS_DEFAULT", raising=False)
    bag = dag_bag(str(EXAMPLES))
    assert bag.import_errors == {}
    assert sorted(bag.dag_ids) == [
        "example_milvus_asset_consumer",
        "example_milvus_asset_producer",
        "example_milvus_import_failure_handling",
        "example_milvus_import_then_gate",
        "example_milvus_sensor_external_job",
        "example_milvus_two_phase_import",
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
    path = write_row_json(data_dir / "rows.json", 20000)
    run = dag_named("example_milvus_import_then_gate").test(
        run_conf={"collection_name": import_collection.name, "files": [path]}
    )
    assert run.state == "success", states(run)
    # On a loaded machine Milvus can finish before the sensor's first read: the sensor then ends at once
    # without deferring (as documented); otherwise it deferred exactly once, over gRPC.
    assert [trigger["protocol"] for trigger in trigger_runs] in ([], ["grpc"])
    values = xcoms(run.run_id)
    job_id = values[("start_import", "job_id")]
    state = values[("wait_for_import", "return_value")]
    assert state["task_id"] == job_id
    assert all(trigger["job_id"] == job_id for trigger in trigger_runs)
    assert (state["state_name"], state["row_count"], state["collection_name"]) == (
        "Completed",
        20000,
        import_collection.name,
    )
    assert values[("check_rows", "return_value")] == 20000


def test_import_then_gate_on_rest_emulator(
    airflow_db: None,
    make_emulator: Callable[..., ImportEmulator],
    milvus_connection: Callable[[dict[str, Any]], None],
    trigger_runs: list[dict[str, Any]],
) -> None:
    emulator = make_emulator(mode="rest", job_duration=4, token="root:Milvus")
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
    make_emulator: Callable[..., ImportEmulator],
    milvus_connection: Callable[[dict[str, Any]], None],
    trigger_runs: list[dict[str, Any]],
) -> None:
    emulator = make_emulator(mode="rest", job_duration=3)
    job = emulator.create_job("articles", [["/data/1.parquet"]])
    milvus_connection({"host": emulator.base_url, "extra": {"protocol": "rest"}})
    run = dag_named("example_milvus_sensor_external_job").test(run_conf={"job_id": job})
    assert run.state == "success", states(run)
    assert trigger_runs and trigger_runs[0]["job_id"] == job
    assert xcoms(run.run_id)[("wait_for_external_import", "return_value")]["state_name"] == "Completed"


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
