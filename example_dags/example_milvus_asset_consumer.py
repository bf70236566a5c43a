"""DAG B of an asset pair: runs by itself whenever new data lands in the collection.

Scheduled on the collection's asset, ``milvus://127.0.0.1:19530/default/<collection>`` (the URI of
the ``milvus_default`` connection's server; write your own host, port and database). Its task reads
the job id, row count and files of the import that triggered the run from the asset event.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from typing import Any

from airflow.providers.common.compat.sdk import DAG, Asset, task

COLLECTION = os.environ.get("MILVUS_EXAMPLE_COLLECTION", "products")
COLLECTION_ASSET = Asset(f"milvus://127.0.0.1:19530/default/{COLLECTION}")

with DAG(
    dag_id="example_milvus_asset_consumer",
    schedule=[COLLECTION_ASSET],
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),  # Airflow 2 needs one for a data-aware schedule
    catchup=False,
    tags=["milvus", "example", "assets"],
    doc_md=__doc__,
) as dag:

    @task
    def read_import(**context: Any) -> dict[str, Any]:
        """The import that triggered this run, from the asset event's extra."""
        if "triggering_asset_events" in context:
            (event, *_) = context["triggering_asset_events"][COLLECTION_ASSET]
        else:  # Airflow 2: datasets, keyed by URI
            (event, *_) = context["triggering_dataset_events"][COLLECTION_ASSET.uri]
        extra = event.extra
        # Airflow 2.11 and 3.0 hash an event's extra: there ``files`` is the list as JSON text.
        files = json.loads(extra["files"]) if isinstance(extra["files"], str) else extra["files"]
        print(f"new data in {extra['collection_name']}: job {extra['job_id']}, {extra['row_count']} rows")
        return {"job_id": extra["job_id"], "row_count": extra["row_count"], "files": files}

    read_import()
