"""Handle a failed import: a task that runs whatever happened reads ``failed_reason`` from XCom.

The operator pushes the final BulkInsertState as its ``return_value`` even when the import
fails, before the task fails, so the clean-up task can say what went wrong. The run's state
follows its leaf task (the report): to fail the run as well, re-raise in the report or add a
final task with the default trigger rule.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.common.compat.sdk import DAG, Param, task

from airflow_provider_milvus.operators.milvus_import import MilvusImportOperator

with DAG(
    dag_id="example_milvus_import_failure_handling",
    schedule=None,
    catchup=False,
    tags=["milvus", "example"],
    params={
        "collection_name": Param("articles", type="string"),
        "files": Param(["/data/articles/missing.json"], type="array"),
    },
    doc_md=__doc__,
    render_template_as_native_obj=True,  # params.files renders as a list, not its text
) as dag:
    load = MilvusImportOperator(
        task_id="load",
        collection_name="{{ params.collection_name }}",
        files="{{ params.files }}",
        poll_interval=5,
        timeout=60 * 60,
    )

    @task(trigger_rule="all_done")
    def report(ti: Any = None) -> dict[str, Any]:
        """Reads the final state whatever the outcome; a real DAG would alert or clean up here."""
        state = ti.xcom_pull(task_ids="load") or {}
        outcome = {
            "job_id": ti.xcom_pull(task_ids="load", key="job_id"),
            "state": state.get("state_name", "never read"),
            "failed_reason": state.get("failed_reason", ""),
        }
        print(f"import outcome: {outcome}")
        return outcome

    load >> report()
