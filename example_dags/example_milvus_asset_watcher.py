"""Run whenever an import completes into a collection, whoever started it (Airflow 3.0+).

An ``AssetWatcher`` with a ``MilvusImportEventTrigger`` lists the collection's import jobs in the
triggerer every ``poll_interval`` seconds and records one asset event per job that completes there:
started by pymilvus, a Spark job, the Zilliz console or this provider's operator. No task of this DAG
waits. The event's ``extra["payload"]`` holds the job id, rows, files and the whole ``BulkInsertState``.

Airflow 3.3 keeps what the watcher delivered in the asset's state store: jobs that complete while no
triggerer runs are announced once, later. On 3.0 to 3.2 a triggerer restart starts watching afresh.
On Airflow 2 (no event-driven scheduling) this file defines no DAG.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from typing import Any

from airflow_provider_milvus.version_compat import HAS_EVENT_TRIGGERS

COLLECTION = os.environ.get("MILVUS_EXAMPLE_COLLECTION", "products")

if HAS_EVENT_TRIGGERS:
    from airflow.sdk import DAG, Asset, AssetWatcher, task

    from airflow_provider_milvus.triggers.milvus_import import MilvusImportEventTrigger

    COLLECTION_ASSET = Asset(
        f"milvus://127.0.0.1:19530/default/{COLLECTION}",
        watchers=[
            AssetWatcher(
                name=f"{COLLECTION}_imports",
                trigger=MilvusImportEventTrigger(collection_name=COLLECTION, poll_interval=30.0),
            )
        ],
    )

    with DAG(
        dag_id="example_milvus_asset_watcher",
        schedule=[COLLECTION_ASSET],
        start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
        catchup=False,
        tags=["milvus", "example", "assets"],
        doc_md=__doc__,
    ) as dag:

        @task
        def reindex(**context: Any) -> list[str]:
            """Every import that landed since the last run (Airflow may fold several events into one run)."""
            jobs = []
            for event in context["triggering_asset_events"][COLLECTION_ASSET]:
                payload = event.extra["payload"]
                print(f"job {payload['job_id']}: {payload['row_count']} rows into {payload['collection_name']}")
                jobs.append(payload["job_id"])
            return jobs

        reindex()
