"""Stage, validate, publish: a two-phase import (Milvus 3.0+) that only becomes visible after a check.

``auto_commit=False`` stages the data: the import task ends once the job is Uncommitted, its rows
written but not visible to searches. A check reads the staged state and either publishes it
(MilvusImportCommitOperator, which waits for Completed) or abandons it (MilvusImportAbortOperator).
On a server without two-phase imports the stage task fails before importing anything.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.common.compat.sdk import DAG, Param, task

from airflow_provider_milvus.operators.milvus_import import (
    MilvusImportAbortOperator,
    MilvusImportCommitOperator,
    MilvusImportOperator,
)

JOB_ID = "{{ ti.xcom_pull(task_ids='stage', key='job_id') }}"

with DAG(
    dag_id="example_milvus_two_phase_import",
    schedule=None,
    catchup=False,
    tags=["milvus", "example"],
    params={
        "collection_name": Param("articles", type="string"),
        "files": Param(["/data/articles/1.parquet"], type="array"),
        "min_rows": Param(1, type="integer", minimum=0),
    },
    doc_md=__doc__,
    render_template_as_native_obj=True,  # params.files renders as a list, not its text
) as dag:
    stage = MilvusImportOperator(
        task_id="stage",
        collection_name="{{ params.collection_name }}",
        files="{{ params.files }}",
        auto_commit=False,
        poll_interval=5,
        timeout=60 * 60,
    )

    @task.branch
    def validate(ti: Any = None, params: Any = None) -> str:
        """Publish only when every row of the staged job was imported and there are enough of them."""
        staged = ti.xcom_pull(task_ids="stage") or {}
        rows, total = staged.get("row_count", 0), staged.get("total_rows")
        good = staged.get("server_state") == "Uncommitted" and rows == total and rows >= params["min_rows"]
        print(f"staged job {staged.get('task_id')}: {rows} of {total} rows, {'publish' if good else 'discard'}")
        return "publish" if good else "discard"

    publish = MilvusImportCommitOperator(task_id="publish", job_id=JOB_ID, poll_interval=5, timeout=60 * 60)
    discard = MilvusImportAbortOperator(task_id="discard", job_id=JOB_ID)

    stage >> validate() >> [publish, discard]
