"""Gate on an import job with no worker at all for the wait (Airflow 3.3+).

The scheduler hands the sensor straight to the triggerer (``start_from_trigger``), which renders the
job id, polls the job and ends the task there (``end_from_trigger``): success with the final state as
``return_value`` (read by ``announce``), failed with the server's reason in the task log, or skipped
with ``soft_fail``. A worker runs only for ``announce``.

Older releases refuse this DAG when it is parsed, saying why: 3.1 and 3.2 would start the sensor on a
worker anyway; 2.11 and 3.0 cannot render the templated job id in the triggerer (a literal job id works
there). Airflow also refuses it while a listener such as OpenLineage's is registered. Trigger it with
``{"job_id": "448761313698322011"}``.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.common.compat.sdk import DAG, Param, task

from airflow_provider_milvus.sensors.milvus_import import MilvusImportSensor

with DAG(
    dag_id="example_milvus_zero_worker_sensor",
    schedule=None,
    catchup=False,
    tags=["milvus", "example"],
    params={"job_id": Param("0", type="string", description="The import job to wait for.")},
    doc_md=__doc__,
) as dag:
    wait = MilvusImportSensor(
        task_id="wait_in_triggerer",
        job_id="{{ params.job_id }}",
        start_from_trigger=True,
        end_from_trigger=True,
        poke_interval=10,
        timeout=6 * 60 * 60,
    )

    @task
    def announce(state: dict[str, Any]) -> None:
        """Runs only once the import completed, with the state the triggerer stored."""
        print(f"import {state['task_id']} completed: {state['row_count']} rows")

    announce(wait.output)
