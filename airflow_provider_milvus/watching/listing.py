"""The one place a watcher asks the server for a collection's import jobs (swap here for another poller)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from airflow_provider_milvus.state import BulkInsertState
from airflow_provider_milvus.watching.ledger import is_named


@dataclass(frozen=True)
class Listing:
    """One answer: the collection's jobs, and whether it holds every job the server remembers."""

    states: tuple[BulkInsertState, ...]
    complete: bool = True
    #: The list came from the REST fallback: read single jobs there too (gRPC would say id 0 again).
    over_rest: bool = False


async def list_collection_jobs(hook: Any, rest_hook: Any, collection_name: str, db_name: str | None) -> Listing:
    """The collection's jobs through ``hook``; a list whose entries carry no id falls back to REST.

    Legacy gRPC ``ListImportTasks`` on Milvus 2.4+ answers id 0 for every job (milvus issue 38172); the
    same server's RESTful API v2 names them, so ``rest_hook`` (the connection with ``protocol="rest"``) lists
    instead. Milvus 2.3 has no REST v2 and names its gRPC tasks, so it never gets here.
    """
    states = await hook.alist_import_states(collection_name=collection_name, db_name=db_name)
    if any(not is_named(state) for state in states):
        states = await rest_hook.alist_import_states(collection_name=collection_name, db_name=db_name)
        return Listing(states=tuple(states), complete=True, over_rest=True)
    return Listing(states=tuple(states), complete=True)
