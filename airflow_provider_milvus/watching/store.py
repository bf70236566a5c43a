"""Where a watcher keeps its ledger: Airflow 3.3's asset state store, else the trigger's own memory.

Airflow 3.3 (AIP-103) hands a watcher's trigger ``asset_state_store``, the key/value state of the asset it
watches, kept in Airflow's database: the ledger survives triggerer restarts and handovers. Airflow 3.0 to
3.2 have no such store: the ledger lives as long as the trigger object, so a restart begins a new baseline.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from airflow_provider_milvus.watching.ledger import WatchLedger


def ledger_key(milvus_conn_id: str, db_name: str | None, collection_name: str) -> str:
    """The state store key of one watcher: what it watches, so two watchers of one asset do not mix."""
    return f"milvus_import_watch:{milvus_conn_id}/{db_name or ''}/{collection_name}"


class LedgerStore(Protocol):
    """Load and save one watcher's ledger."""

    persistent: bool

    async def load(self) -> WatchLedger | None: ...
    async def save(self, ledger: WatchLedger) -> None: ...


class MemoryLedgerStore:
    """The ledger in the trigger object: gone with it (Airflow 3.0 to 3.2, or a trigger outside a watcher)."""

    persistent = False

    def __init__(self) -> None:
        self.ledger: WatchLedger | None = None

    async def load(self) -> WatchLedger | None:
        return self.ledger

    async def save(self, ledger: WatchLedger) -> None:
        self.ledger = ledger


class AssetStateLedgerStore:
    """The ledger in the watched asset's state store (Airflow 3.3+), one JSON value under :func:`ledger_key`.

    ``accessor`` is what the triggerer injects as ``trigger.asset_state_store``: anything with ``aget(key,
    default)`` and ``aset(key, value)`` (the async accessors never block the triggerer's loop).
    """

    persistent = True

    def __init__(self, accessor: Any, key: str, log: logging.Logger | Any) -> None:
        self.accessor = accessor
        self.key = key
        self.log = log

    async def load(self) -> WatchLedger | None:
        value = await self.accessor.aget(self.key, None)
        ledger = WatchLedger.from_stored(value)
        if value is not None and ledger is None:
            self.log.warning("The stored state under %r is not a watcher ledger; starting a new one", self.key)
        return ledger

    async def save(self, ledger: WatchLedger) -> None:
        await self.accessor.aset(self.key, ledger.to_stored())


def ledger_store(accessor: Any, key: str, log: logging.Logger | Any) -> LedgerStore:
    """The asset state store when the triggerer gave one for exactly one asset, else memory (and say why)."""
    if accessor is None:
        log.warning(
            "No asset state store for this trigger (Airflow before 3.3, or not run by an AssetWatcher): "
            "what it delivered is kept in memory only, so jobs that complete while no triggerer runs it "
            "are not announced"
        )
        return MemoryLedgerStore()
    single = getattr(accessor, "_total", 1)  # AssetStateStoreAccessors: how many assets this trigger watches
    if single != 1:
        log.warning(
            "This trigger watches %s assets; its ledger is kept in memory (attach it to one asset to keep it "
            "across triggerer restarts)",
            single,
        )
        return MemoryLedgerStore()
    return AssetStateLedgerStore(accessor, key, log)
