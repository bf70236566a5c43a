"""Benchmark DAGs for ``benchmarks/worker_slots.py``: N sensors waiting on Milvus import jobs, two ways.

- ``bench_slots_deferrable``: N ``MilvusImportSensor`` (deferrable: they wait in the triggerer).
- ``bench_slots_poke``: N ``PythonSensor`` in poke mode calling pymilvus ``utility.get_bulk_insert_state``,
  what users write without this provider: each holds a worker slot for the whole wait.

Trigger either with ``{"job_ids": ["4487...", ...], "uri": "http://127.0.0.1:19530"}``; sensor ``i`` waits
on ``job_ids[i % len(job_ids)]``. The environment sets N (``BENCH_SLOTS_WAITS``, default 50) and the
poke interval (``BENCH_SLOTS_POKE_INTERVAL``, default 5 s).
"""

from __future__ import annotations

import os

from airflow.providers.standard.sensors.python import PythonSensor
from airflow.sdk import DAG, Param

from airflow_provider_milvus.sensors.milvus_import import MilvusImportSensor

WAITS = int(os.environ.get("BENCH_SLOTS_WAITS", "50"))
POKE_INTERVAL = float(os.environ.get("BENCH_SLOTS_POKE_INTERVAL", "5"))
PARAMS = {
    "job_ids": Param(["0"], type="array", description="Import job ids; sensor i waits on job_ids[i % len]."),
    "uri": Param("http://127.0.0.1:19530", type="string", description="Milvus URI for the pymilvus sensors."),
}


def job_id_template(index: int) -> str:
    """The Jinja template of sensor ``index``'s job id."""
    return "{{ params.job_ids[%d %% (params.job_ids | length)] }}" % index  # noqa: UP031 - Jinja braces


def pymilvus_import_done(job_id: str, uri: str) -> bool:
    """A typical hand-written poke: True once pymilvus says the import completed; raise if it failed."""
    from pymilvus import connections, utility
    from pymilvus.client.types import BulkInsertState

    connections.connect(alias="bench_poke", uri=uri, timeout=10)
    state = utility.get_bulk_insert_state(int(job_id), using="bench_poke", timeout=10)
    if state.state == BulkInsertState.ImportFailed:
        raise RuntimeError(f"import {job_id} failed: {state.failed_reason}")
    return bool(state.state == BulkInsertState.ImportCompleted)


with DAG(
    dag_id="bench_slots_deferrable",
    schedule=None,
    catchup=False,
    max_active_tasks=WAITS,
    params=PARAMS,
    tags=["benchmark"],
) as deferrable_dag:
    for i in range(WAITS):
        MilvusImportSensor(
            task_id=f"wait_{i:03d}",
            job_id=job_id_template(i),
            deferrable=True,
            poke_interval=POKE_INTERVAL,
            timeout=3600,
        )

with DAG(
    dag_id="bench_slots_poke",
    schedule=None,
    catchup=False,
    max_active_tasks=WAITS,
    params=PARAMS,
    tags=["benchmark"],
) as poke_dag:
    for i in range(WAITS):
        PythonSensor(
            task_id=f"wait_{i:03d}",
            python_callable=pymilvus_import_done,
            op_kwargs={"job_id": job_id_template(i), "uri": "{{ params.uri }}"},
            mode="poke",
            poke_interval=POKE_INTERVAL,
            timeout=3600,
        )
