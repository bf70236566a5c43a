"""Import files into Milvus, gate the downstream work on the import, and read the final state from XCom.

Trigger it with a run configuration such as
``{"collection_name": "articles", "files": ["/data/articles/1.json"]}``.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.common.compat.sdk import DAG, Param, task

from airflow_provider_milvus.operators.milvus_import import MilvusImportOperator
from airflow_provider_milvus.sensors.milvus_import import MilvusImportSensor

with DAG(
    dag_id="example_milvus_import_then_gate",
    schedule=None,
    catchup=False,
    tags=["milvus", "example"],
    params={
        "collection_name": Param("articles", type="string", description="The collection to import into."),
        "files": Param(["/data/articles/1.json"], type="array", description="One import unit: absolute paths."),
    },
    doc_md=__doc__,
    render_template_as_native_obj=True,  # params.files renders as a list, not its text
) as dag:
    start_import = MilvusImportOperator(
        task_id="start_import",
        collection_name="{{ params.collection_name }}",
        files="{{ params.files }}",
        wait_for_completion=False,
    )
    # The sensor waits in the triggerer: no worker slot is held while Milvus imports.
    wait_for_import = MilvusImportSensor(
        task_id="wait_for_import",
        job_id="{{ ti.xcom_pull(task_ids='start_import', key='job_id') }}",
        poke_interval=5,
        timeout=60 * 60,
    )

    @task
    def check_rows(state: dict[str, Any]) -> int:
        """Downstream work sees the final BulkInsertState (its to_dict()) through XCom."""
        print(f"job {state['task_id']}: {state['state_name']}, {state['row_count']} rows in {state['collection_name']}")
        if state["row_count"] <= 0:
            raise ValueError("the import completed but imported no rows")
        return int(state["row_count"])

    start_import >> wait_for_import
    check_rows(wait_for_import.output)
