"""The one listing function (REST fallback for unnamed gRPC entries) and the choice of where the ledger lives."""

from __future__ import annotations

import logging
from typing import Any

from airflow_provider_milvus import BulkInsertState
from airflow_provider_milvus.watching.ledger import WatchLedger
from airflow_provider_milvus.watching.listing import list_collection_jobs
from airflow_provider_milvus.watching.store import (
    AssetStateLedgerStore,
    MemoryLedgerStore,
    ledger_key,
    ledger_store,
)

LOG = logging.getLogger(__name__)


class FakeHook:
    def __init__(self, *ids: str) -> None:
        self.ids = ids
        self.asked: list[tuple[str | None, str | None]] = []

    async def alist_import_states(self, collection_name: str | None = None, db_name: str | None = None) -> list[Any]:
        self.asked.append((collection_name, db_name))
        return [BulkInsertState(task_id=job_id, state=6) for job_id in self.ids]


async def test_named_entries_are_listed_once() -> None:
    grpc, rest = FakeHook("5", "6"), FakeHook("never")
    listing = await list_collection_jobs(grpc, rest, "articles", "db1")
    assert [s.task_id for s in listing.states] == ["5", "6"]
    assert (listing.over_rest, grpc.asked, rest.asked) == (False, [("articles", "db1")], [])


async def test_unnamed_grpc_entries_of_milvus_2_4_fall_back_to_rest() -> None:
    grpc, rest = FakeHook("0", "0"), FakeHook("448761313698322011", "448761313698322012")
    listing = await list_collection_jobs(grpc, rest, "articles", None)
    assert [s.task_id for s in listing.states] == ["448761313698322011", "448761313698322012"]
    assert listing.over_rest and rest.asked == [("articles", None)]


class Accessor:
    def __init__(self, total: int = 1) -> None:
        self._total = total
        self.values: dict[str, Any] = {}

    async def aget(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    async def aset(self, key: str, value: Any) -> None:
        self.values[key] = value


def test_the_key_names_what_is_watched() -> None:
    assert ledger_key("milvus_default", None, "articles") == "milvus_import_watch:milvus_default//articles"
    assert ledger_key("m", "db1", "a") != ledger_key("m", None, "a")


async def test_the_asset_state_store_keeps_the_ledger_when_there_is_one() -> None:
    accessor = Accessor()
    store = ledger_store(accessor, "k", LOG)
    assert isinstance(store, AssetStateLedgerStore) and store.persistent
    assert await store.load() is None
    ledger = WatchLedger(began_at=1.0, seen=frozenset({"7"}))
    await store.save(ledger)
    assert accessor.values["k"] == ledger.to_stored()
    assert await ledger_store(accessor, "k", LOG).load() == ledger


async def test_something_else_under_the_key_starts_a_new_ledger() -> None:
    accessor = Accessor()
    accessor.values["k"] = "a user's value"
    assert await ledger_store(accessor, "k", LOG).load() is None


def test_memory_without_a_store_or_with_several_assets() -> None:
    assert isinstance(ledger_store(None, "k", LOG), MemoryLedgerStore)
    assert isinstance(ledger_store(Accessor(total=2), "k", LOG), MemoryLedgerStore)
    assert not MemoryLedgerStore.persistent
