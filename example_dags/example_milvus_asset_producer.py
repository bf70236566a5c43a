"""DAG A of an asset pair: import files into a collection; the completed import is an asset event.

``MilvusImportOperator`` emits an event for its collection's asset
(``milvus://HOST:PORT/DB/COLLECTION``) once the import completed, with the job id, the row count,
the collection, partition, database and files in the event's ``extra``. The consumer DAG
(``example_milvus_asset_consumer``) is scheduled on that asset and starts by itself.

Trigger it with a run configuration such as ``{"files": ["/data/products/1.json"]}``;
``MILVUS_EXAMPLE_COLLECTION`` names the collection (default ``products``).
"""

from __future__ import annotations

import os

from airflow.providers.common.compat.sdk import DAG, Param

from airflow_provider_milvus.operators.milvus_import import MilvusImportOperator

COLLECTION = os.environ.get("MILVUS_EXAMPLE_COLLECTION", "products")

with DAG(
    dag_id="example_milvus_asset_producer",
    schedule=None,
    catchup=False,
    tags=["milvus", "example", "assets"],
    params={"files": Param(["/data/products/1.json"], type="array", description="One import unit: absolute paths.")},
    doc_md=__doc__,
    render_template_as_native_obj=True,  # params.files renders as a list, not its text
) as dag:
    # Waits deferred; on success the event for milvus://<host>:<port>/<db>/<collection> is emitted
    # (emit_asset=True is the default). Retries reattach to the same job: never a second import.
    MilvusImportOperator(
        task_id="import_products",
        collection_name=COLLECTION,
        files="{{ params.files }}",
        poll_interval=2,
        retries=2,
    )
