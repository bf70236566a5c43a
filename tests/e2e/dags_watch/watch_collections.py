"""Two DAGs scheduled on a collection's asset through a MilvusImportEventTrigger watcher (e2e only).

The collections, connections and asset URIs come from the environment the e2e test gives Airflow:
``WATCH_<NAME>_COLLECTION``, ``WATCH_<NAME>_URI`` and connection ``milvus_<name>`` for NAME in REST (the
emulator of Milvus 2.4+) and GRPC (the real Milvus 2.3.5).
"""

from __future__ import annotations

import os

from airflow.sdk import DAG, Asset, AssetWatcher, task

from airflow_provider_milvus.triggers.milvus_import import MilvusImportEventTrigger

POLL = float(os.environ.get("WATCH_POLL_INTERVAL", "1"))

for name in ("rest", "grpc"):
    collection = os.environ.get(f"WATCH_{name.upper()}_COLLECTION")
    uri = os.environ.get(f"WATCH_{name.upper()}_URI")
    if not collection or not uri:
        continue
    watcher = AssetWatcher(
        name=f"{name}_imports",
        trigger=MilvusImportEventTrigger(
            collection_name=collection, milvus_conn_id=f"milvus_{name}", poll_interval=POLL
        ),
    )
    with DAG(f"watch_{name}", schedule=[Asset(uri, watchers=[watcher])], catchup=False):

        @task
        def consume() -> None:
            """Runs once Airflow folded the watcher's events into a run; the e2e counts events, not runs."""

        consume()
