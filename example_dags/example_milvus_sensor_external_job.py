"""Gate a pipeline on an import job started elsewhere (a script, another DAG, the Milvus CLI).

Trigger it with ``{"job_id": "448761313698322011"}``.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.common.compat.sdk import DAG, Param, task

from airflow_provider_milvus.sensors.milvus_import import MilvusImportSensor

with DAG(
    dag_id="example_milvus_sensor_external_job",
    schedule=None,
    catchup=False,
    tags=["milvus", "example"],
    params={"job_id": Param("0", type="string", description="The import job to wait for.")},
    doc_md=__doc__,
) as dag:
    wait = MilvusImportSensor(
        task_id="wait_for_external_import",
        job_id="{{ params.job_id }}",
        poke_interval=10,
        timeout=6 * 60 * 60,
        stall_timeout=30 * 60,  # warn when nothing moves for half an hour (index building, queued jobs)
    )

    @task
    def announce(state: dict[str, Any]) -> None:
        """Runs only once the import completed."""
        print(f"import {state['task_id']} completed: {state['row_count']} rows")

    announce(wait.output)
