"""Test-only DAGs of ``tests/e2e/test_zero_worker_wait.py``: one sensor each, nothing else.

``zero_worker_success`` and ``zero_worker_retried`` (``retries=1``): a ``MilvusImportSensor`` that
starts and ends in the triggerer; ``zero_worker_control``: the usual deferred sensor (a worker starts
it and one resumes it), the control that makes the count of worker task runs meaningful. Trigger each
with ``{"job_id": ...}``.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG, Param

from airflow_provider_milvus.sensors.milvus_import import MilvusImportSensor

for dag_id, retries in (("zero_worker_success", 0), ("zero_worker_retried", 1)):
    with DAG(dag_id=dag_id, schedule=None, catchup=False, params={"job_id": Param("0", type="string")}):
        MilvusImportSensor(
            task_id="wait",
            job_id="{{ params.job_id }}",
            start_from_trigger=True,
            end_from_trigger=True,
            poke_interval=1,
            timeout=600,
            retries=retries,
            retry_delay=timedelta(seconds=1),
        )

with DAG(dag_id="zero_worker_control", schedule=None, catchup=False, params={"job_id": Param("0", type="string")}):
    MilvusImportSensor(task_id="wait", job_id="{{ params.job_id }}", poke_interval=1, timeout=600)
