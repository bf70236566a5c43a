"""DAGs of ``benchmarks/production_waits.py``: N waits for N import jobs of the REST v2 emulator, four ways.

- ``bench_prod_deferred``: ``MilvusImportSensor`` (deferrable: a worker starts it, it defers, a worker resumes it);
- ``bench_prod_start_from_trigger``: the same with ``start_from_trigger=True`` (no worker start to begin the wait);
- ``bench_prod_end_from_trigger``: with ``start_from_trigger=True`` and ``end_from_trigger=True`` (no worker at all);
- ``bench_prod_reschedule``: ``PythonSensor(mode="reschedule")`` calling pymilvus's REST helper
  ``pymilvus.bulk_writer.get_import_progress``: what a user writes without this provider; it frees the
  worker slot between pokes, but every poke is a worker start.

Each wait ``wait_i`` gates ``gate_i``, an ``EmptyOperator``: the scheduler marks it done the moment it may
run, without a worker, so its start is when the downstream of the wait could begin.

Trigger with ``{"job_ids": [...], "uri": "http://127.0.0.1:PORT"}``; sensor i waits for ``job_ids[i]``.
``BENCH_PROD_WAITS`` (default 30) and ``BENCH_PROD_POKE_INTERVAL`` (default 15 s) come from the environment.
"""

from __future__ import annotations

import os

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.providers.standard.sensors.python import PythonSensor
from airflow.sdk import DAG, Param

from airflow_provider_milvus.sensors.milvus_import import MilvusImportSensor

WAITS = int(os.environ.get("BENCH_PROD_WAITS", "30"))
POKE_INTERVAL = float(os.environ.get("BENCH_PROD_POKE_INTERVAL", "15"))
PARAMS = {
    "job_ids": Param(["0"], type="array", description="Import job ids; sensor i waits on job_ids[i]."),
    "uri": Param("http://127.0.0.1:19530", type="string", description="Milvus REST URI for the pymilvus sensors."),
}


def job_id_template(index: int) -> str:
    """The Jinja template of sensor ``index``'s job id."""
    return "{{ params.job_ids[%d] }}" % index  # noqa: UP031 - Jinja braces


def pymilvus_import_done(job_id: str, uri: str) -> bool:
    """A typical hand-written poke over REST: True once pymilvus says the import completed; raise if it failed."""
    from pymilvus.bulk_writer import get_import_progress

    data = get_import_progress(url=uri, job_id=job_id).json().get("data") or {}
    if data.get("state") == "Failed":
        raise RuntimeError(f"import {job_id} failed: {data.get('reason')}")
    return bool(data.get("state") == "Completed")


for dag_id, start_from_trigger, end_from_trigger in (
    ("bench_prod_deferred", False, False),
    ("bench_prod_start_from_trigger", True, False),
    ("bench_prod_end_from_trigger", True, True),
):
    with DAG(dag_id=dag_id, schedule=None, catchup=False, max_active_tasks=WAITS, params=PARAMS, tags=["benchmark"]):
        for i in range(WAITS):
            MilvusImportSensor(
                task_id=f"wait_{i:03d}",
                job_id=job_id_template(i),
                poke_interval=POKE_INTERVAL,
                timeout=3600,
                start_from_trigger=start_from_trigger,
                end_from_trigger=end_from_trigger,
            ) >> EmptyOperator(task_id=f"gate_{i:03d}")

with DAG(
    dag_id="bench_prod_reschedule",
    schedule=None,
    catchup=False,
    max_active_tasks=WAITS,
    params=PARAMS,
    tags=["benchmark"],
):
    for i in range(WAITS):
        PythonSensor(
            task_id=f"wait_{i:03d}",
            python_callable=pymilvus_import_done,
            op_kwargs={"job_id": job_id_template(i), "uri": "{{ params.uri }}"},
            mode="reschedule",
            poke_interval=POKE_INTERVAL,
            timeout=3600,
        ) >> EmptyOperator(task_id=f"gate_{i:03d}")
