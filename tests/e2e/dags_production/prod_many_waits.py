"""The production end-to-end DAG: many MilvusImportSensor waits by dynamic task mapping, then one summary.

Trigger with ``{"job_ids": ["...", ...]}``: ``wait`` is mapped over the ids (one deferred sensor each);
``summary`` (``all_done``) reads every wait's ``return_value`` and returns one ``[job_id, state_name]`` per
wait, so a lost, wrong or duplicated outcome shows in one XCom. ``PROD_POKE_INTERVAL`` (default 5 s)
sets the sensors' poll interval.

``prod_start_from_trigger``: ``PROD_START_WAITS`` (default 10) sensors with ``start_from_trigger=True`` and
a templated job id, triggered with the same conf shape: sensor ``i`` waits for ``job_ids[i]``.
"""

from __future__ import annotations

import os
from typing import Any

from airflow.sdk import DAG, Param, task

from airflow_provider_milvus.sensors.milvus_import import MilvusImportSensor

POKE_INTERVAL = float(os.environ.get("PROD_POKE_INTERVAL", "5"))

with DAG(
    dag_id="prod_many_waits",
    schedule=None,
    catchup=False,
    max_active_tasks=2048,
    params={"job_ids": Param([], type="array", description="The import jobs to wait for, one sensor each.")},
    tags=["production"],
) as dag:

    @task
    def job_ids(params: dict[str, Any]) -> list[str]:
        """The ids to map the sensor over."""
        return [str(job_id) for job_id in params["job_ids"]]

    waits = MilvusImportSensor.partial(
        task_id="wait", poke_interval=POKE_INTERVAL, timeout=1800, max_active_tis_per_dag=2048
    ).expand(job_id=job_ids())

    @task(trigger_rule="all_done")
    def summary(states: Any) -> list[list[str]]:
        """One ``[job_id, state_name]`` per wait that pushed a final state."""
        return [[str(s["task_id"]), str(s["state_name"])] for s in states if s]

    summary(waits.output)

START_WAITS = int(os.environ.get("PROD_START_WAITS", "10"))

with DAG(
    dag_id="prod_start_from_trigger",
    schedule=None,
    catchup=False,
    max_active_tasks=2048,
    params={"job_ids": Param([], type="array", description="The import jobs; sensor i waits for job_ids[i]")},
    tags=["production"],
) as start_dag:
    # No worker start for the wait: the scheduler defers each sensor straight to its trigger, and the
    # triggerer renders the templated job id (Airflow 3.3+).
    for i in range(START_WAITS):
        MilvusImportSensor(
            task_id=f"wait_{i:03d}",
            job_id="{{ params.job_ids[%d] }}" % i,  # noqa: UP031 - Jinja braces
            poke_interval=POKE_INTERVAL,
            timeout=1800,
            start_from_trigger=True,
        )
