"""Watching a collection for completed import jobs: the sans-I/O core of ``MilvusImportEventTrigger``.

``ledger`` decides (pure functions over listed states), ``store`` keeps the ledger where Airflow keeps a
watcher's state, ``listing`` is the one place that asks the server for a collection's jobs.
"""

from __future__ import annotations

from airflow_provider_milvus.watching.ledger import Review, Settlement, WatchLedger, event_payload, settle

__all__ = ["Review", "Settlement", "WatchLedger", "event_payload", "settle"]
