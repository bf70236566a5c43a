"""End to end: real Milvus 2.3.5, real Airflow services, the repo's example DAG, a real bulk import.

Runs on whatever Airflow the venv holds (2.11: webserver, scheduler, triggerer, REST /api/v1; 3.x:
api-server, scheduler, triggerer, dag-processor, REST /api/v2; see tests/airflow_env/harness.py).
The sensor ``wait_for_import`` must really defer (state ``deferred``), its trigger must run in the
triggerer (its ``attempt=N.log.trigger.<id>.log`` names the job), and the final BulkInsertState read
back through that release's REST XCom endpoint must say Completed with every row. Then the asset pair
(``example_milvus_asset_producer`` / ``_consumer``): the producer's import, with the operator's
defaults, emits the collection's asset (dataset) event, and the consumer scheduled on that asset runs
by itself and reads the job id, row count and files from it.
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import pytest
from pymilvus import connections

from airflow_provider_milvus.version_compat import AIRFLOW_V_3_0_PLUS
from tests.airflow_env import AIRFLOW_VERSION
from tests.airflow_env.fixtures import AirflowEnvFactory
from tests.milvus_server.data import create_import_collection, drop_collection, write_numpy_files, write_row_json
from tests.milvus_server.server import MilvusServer

REPO = Path(__file__).resolve().parents[2]
DAG_ID = "example_milvus_import_then_gate"
TRIGGER_CLASSPATH = "airflow_provider_milvus.triggers.milvus_import.MilvusImportTrigger"
# 3M rows of dim 8 as NumPy (120 MB) import in about 8 to 10 s on 2 cores: the job is still running when
# the sensor first reads it (about 1 s after start_import ends), so the sensor really defers.
ROWS = int(os.environ.get("E2E_IMPORT_ROWS", "3000000"))
PRODUCER, CONSUMER = "example_milvus_asset_producer", "example_milvus_asset_consumer"
ASSET_ROWS = 1000
#: The run type of a run an asset event started: Airflow 2.11 calls assets datasets.
EVENT_RUN_TYPE = "asset_triggered" if AIRFLOW_V_3_0_PLUS else "dataset_triggered"

pytestmark = [
    pytest.mark.milvus,
    pytest.mark.airflow_e2e,
    pytest.mark.filterwarnings("ignore::pymilvus.decorators.PyMilvusDeprecationWarning"),
]


def test_example_dag_defers_in_triggerer_and_reports_completed(
    milvus_server: MilvusServer, airflow_env_factory: AirflowEnvFactory, tmp_path: Path
) -> None:
    """Trigger ``example_milvus_import_then_gate`` on real services and follow the import to Completed."""
    timings: dict[str, float] = {}
    began = time.monotonic()

    # Milvus side: a fresh collection and one NumPy file per field (absolute paths: the server reads them).
    alias = f"e2e_{uuid.uuid4().hex[:8]}"
    connections.connect(alias=alias, host=milvus_server.host, port=str(milvus_server.port), timeout=30)
    collection = create_import_collection(alias, f"e2e_{uuid.uuid4().hex[:12]}")
    try:
        files = write_numpy_files(tmp_path / "import", ROWS)
        timings["milvus setup"] = time.monotonic() - began

        # Airflow side: the repo's example DAGs, every service, the `milvus_default` connection via the CLI.
        mark = time.monotonic()
        # No deferrable setting: the sensor must defer by default (the contract), whatever Airflow's
        # own [operators] default_deferrable (False) says.
        # The asset consumer is scheduled on this collection's asset.
        env = airflow_env_factory(
            dags_folder=REPO / "example_dags", extra_env={"MILVUS_EXAMPLE_COLLECTION": collection.name}
        )
        timings["airflow migrate"] = env.startup_seconds["migrate"]
        timings["airflow services start"] = time.monotonic() - mark - env.startup_seconds["migrate"]
        mark = time.monotonic()
        env.add_connection("milvus_default", "milvus", host=milvus_server.uri, extra={"protocol": "auto"})
        conn = env.api_json("GET", "connections/milvus_default")
        assert conn["conn_type"] == "milvus", conn
        timings["connection add"] = time.monotonic() - mark

        # Run the DAG.
        mark = time.monotonic()
        run_id = env.trigger_dag(DAG_ID, {"collection_name": collection.name, "files": files})
        timings["dag registered + triggered"] = time.monotonic() - mark
        mark = time.monotonic()
        deferred = env.wait_for_deferred(DAG_ID, run_id, "wait_for_import", timeout=120, interval=0.2)
        timings["trigger -> sensor deferred"] = time.monotonic() - mark
        assert (deferred.get("trigger") or {}).get("classpath") == TRIGGER_CLASSPATH, deferred

        state = env.wait_for_run(DAG_ID, run_id, timeout=150)
        timings["run"] = time.monotonic() - mark
        tis = env.task_instances(DAG_ID, run_id)
        tasks = {ti["task_id"]: ti["state"] for ti in tis}
        assert state == "success", f"run {state}: {tasks}\n{env.task_log(DAG_ID, run_id, 'wait_for_import')}"
        assert tasks == {"start_import": "success", "wait_for_import": "success", "check_rows": "success"}

        # The triggerer ran the wait: its log file for the deferred attempt names the job.
        job_id = env.xcom(DAG_ID, run_id, "start_import", "job_id")
        assert str(job_id).isdigit(), job_id
        trigger_logs = env.trigger_log_files(DAG_ID, run_id, "wait_for_import")
        assert trigger_logs, f"no trigger log in {env.task_log_dir(DAG_ID, run_id, 'wait_for_import')}"
        trigger_text = "\n".join(str(e.get("event", "")) for p in trigger_logs for e in env.read_log_events(p))
        assert str(job_id) in trigger_text, trigger_text[-3000:]

        # The final BulkInsertState, read back from the REST API's XCom endpoint.
        final = env.xcom(DAG_ID, run_id, "wait_for_import")
        assert final["state_name"] == "Completed" and final["state"] == 6, final
        assert final["task_id"] == str(job_id)
        assert final["row_count"] == ROWS
        assert final["collection_name"] == collection.name
        assert final["progress"] == 100
        assert env.xcom(DAG_ID, run_id, "check_rows") == ROWS

        collection.flush(timeout=60)
        assert collection.num_entities == ROWS
        timings["gate run checked"] = time.monotonic() - mark

        # The asset pair: the producer's completed import (operator defaults: deferred, emit_asset on)
        # starts the consumer, scheduled on the collection's asset, by itself.
        mark = time.monotonic()
        asset_file = write_row_json((tmp_path / "asset").resolve() / "rows.json", ASSET_ROWS)
        env.wait_for_dag(CONSUMER)
        env.unpause(CONSUMER)
        producer_run = env.trigger_dag(PRODUCER, {"files": [asset_file]})
        producer_state = env.wait_for_run(PRODUCER, producer_run, timeout=180)
        assert producer_state == "success", env.task_log(PRODUCER, producer_run, "import_products")[-3000:]
        produced = env.xcom(PRODUCER, producer_run, "import_products")
        consumer = env.wait_for_first_run(CONSUMER, timeout=180)
        assert consumer["state"] == "success" and consumer["run_type"] == EVENT_RUN_TYPE, consumer
        read = env.xcom(CONSUMER, consumer["dag_run_id"], "read_import")
        assert read == {"job_id": produced["task_id"], "row_count": ASSET_ROWS, "files": [asset_file]}, read
        collection.flush(timeout=60)
        assert collection.num_entities == ROWS + ASSET_ROWS
        timings["asset pair"] = time.monotonic() - mark

        env.stop()  # raises if any Airflow process (service, worker, serve-logs) is left
        assert not env.processes()
        timings["airflow stop"] = env.last_stop_seconds or 0.0
    finally:
        drop_collection(alias, collection.name)
        connections.disconnect(alias)

    timings["total"] = time.monotonic() - began
    print(f"\nAirflow {AIRFLOW_VERSION} ({', '.join(env.release.services)})")
    print(f"run {run_id}: job {job_id}, {ROWS} rows; trigger logs: {[p.name for p in trigger_logs]}")
    for ti in tis:
        print(f"  task {ti['task_id']:<16} {ti['start_date']} -> {ti['end_date']} ({ti['duration']} s)")
    print(f"  import created {final['create_time_str']}, completed {final['complete_time']}")
    print(f"consumer run {consumer['dag_run_id']} ({consumer['run_type']}): read_import -> {read}")
    for name, seconds in timings.items():
        print(f"  {name:<28} {seconds:6.1f} s")
