"""Polling many import jobs at a cost bounded by the jobs watched, never by the server's history.

:mod:`.cost` is the pure cost model (what a round costs per job or by list, and which to take);
:mod:`.poller` is the async poller one triggerer's triggers share.
"""

from __future__ import annotations

from airflow_provider_milvus.polling.cost import REFRESH_SECONDS, Known, merge_summary, plan_fetches
from airflow_provider_milvus.polling.poller import FETCH_CONCURRENCY, SharedPoller, pollers_of, shared_poller

__all__ = [
    "FETCH_CONCURRENCY",
    "REFRESH_SECONDS",
    "Known",
    "SharedPoller",
    "merge_summary",
    "plan_fetches",
    "pollers_of",
    "shared_poller",
]
