"""MilvusImportTrigger waits for one import job in the triggerer, holding no worker slot;
MilvusImportEventTrigger watches a collection for every import that completes (an AssetWatcher's trigger).
"""

from __future__ import annotations

import asyncio
import importlib
import time
from collections.abc import AsyncIterator
from types import ModuleType
from typing import Any, Final

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_milvus.assets import DEFAULT_DB
from airflow_provider_milvus.events import ERROR, SUCCESS, make_event
from airflow_provider_milvus.exceptions import MilvusImportError
from airflow_provider_milvus.state import BulkInsertState
from airflow_provider_milvus.version_compat import HAS_EVENT_TRIGGERS, BaseEventTrigger
from airflow_provider_milvus.waiting import WaitSettings, backoff_delay, wait_async, wait_for_job
from airflow_provider_milvus.watching.ledger import WatchLedger, event_payload, settle
from airflow_provider_milvus.watching.listing import list_collection_jobs
from airflow_provider_milvus.watching.store import ledger_key, ledger_store

#: ``MilvusImportHook.default_conn_name``, spelled here so that importing this module stays cheap.
DEFAULT_CONN_NAME: Final = "milvus_default"


async def load_client_modules() -> tuple[ModuleType, ModuleType]:
    """The hook and the shared poller modules, imported in a thread on first use.

    The triggerer imports a trigger's module inside its event loop; the clients behind the hook
    (grpc, httpx, protobuf) take a noticeable fraction of a second to import once, so they are loaded
    here, off the loop, and every other trigger of the process finds them in ``sys.modules``.
    """
    hooks, coalesce = await asyncio.to_thread(
        lambda: (
            importlib.import_module("airflow_provider_milvus.hooks.milvus_import"),
            importlib.import_module("airflow_provider_milvus.polling"),
        )
    )
    return hooks, coalesce


class MilvusImportTrigger(BaseTrigger):
    """Polls one import job until it ends and fires exactly one event: success, failed, timeout or error.

    All triggers of a triggerer that use one connection share one client (one HTTP connection
    pool or gRPC channel) and, with ``coalesce`` (default), one poller whose rounds cost at most one read
    per job (one list per interval where the server's list is small; see :mod:`airflow_provider_milvus.polling`).

    :param job_id: the import job (task) id.
    :param milvus_conn_id: the ``milvus`` connection.
    :param poll_interval: seconds between polls.
    :param end_time: the wait's deadline in seconds since the epoch (absolute, so it survives triggerer restarts).
    :param protocol: the API to use when the caller already resolved it (skips detection).
    :param max_attempts: consecutive failed reads (retryable faults) before giving up with an error event.
    :param stall_timeout: seconds without a change of state, progress or rows before a stall is reported.
    :param on_stall: ``warn`` (log and keep waiting) or ``fail`` (end with a timeout event).
    :param coalesce: serve this trigger's reads from the shared list poller (False: one read per poll).
    :param db_name: the job's database when not the connection's (REST reads it from a header).
    :param abort_on_kill: the task that started the job owns it: abort it when a user kills or clears
        the deferred task (Airflow 3.3+ calls ``on_kill``); a sensor watching someone's job leaves it.
    :param staged_is_done: end successfully once the job is staged (Uncommitted): a two-phase import
        started with ``auto_commit=False``. Otherwise a staged job is waited on until someone commits it.
    :param end_from_trigger: end the task here, with no worker: success with the final state as its
        ``return_value`` XCom, failed (or skipped with ``soft_fail``) otherwise; a timeout still resumes
        the task on a worker (``airflow_provider_milvus.in_trigger.end_event``).
    :param soft_fail: with ``end_from_trigger``, a failed or unreadable job skips the task instead.
    """

    def __init__(
        self,
        job_id: str,
        milvus_conn_id: str = DEFAULT_CONN_NAME,
        poll_interval: float = 10.0,
        end_time: float | None = None,
        protocol: str | None = None,
        max_attempts: int = 10,
        stall_timeout: float | None = None,
        on_stall: str = "warn",
        coalesce: bool = True,
        db_name: str | None = None,
        abort_on_kill: bool = False,
        staged_is_done: bool = False,
        end_from_trigger: bool = False,
        soft_fail: bool = False,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.job_id = str(job_id)
        self.milvus_conn_id = milvus_conn_id
        self.protocol = protocol
        self.coalesce = coalesce
        self.db_name = db_name or None
        self.abort_on_kill = abort_on_kill
        self.end_from_trigger = end_from_trigger
        self.soft_fail = soft_fail
        self.wait = WaitSettings(
            poll_interval=float(poll_interval),
            end_time=end_time,
            max_attempts=max_attempts,
            stall_timeout=stall_timeout,
            on_stall=on_stall,
            staged_is_done=staged_is_done,
        )

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Only ids and settings: never a token, password or API key."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "job_id": self.job_id,
                "milvus_conn_id": self.milvus_conn_id,
                "poll_interval": self.wait.poll_interval,
                "end_time": self.wait.end_time,
                "protocol": self.protocol,
                "max_attempts": self.wait.max_attempts,
                "stall_timeout": self.wait.stall_timeout,
                "on_stall": self.wait.on_stall,
                "coalesce": self.coalesce,
                "db_name": self.db_name,
                "abort_on_kill": self.abort_on_kill,
                "staged_is_done": self.wait.staged_is_done,
                "end_from_trigger": self.end_from_trigger,
                "soft_fail": self.soft_fail,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll until the job ends, the deadline passes or the job cannot be read; one event, always."""
        try:
            hooks, coalesce = await load_client_modules()
            hook = hooks.MilvusImportHook(self.milvus_conn_id, protocol=self.protocol)
            async with coalesce.shared_poller(
                self.milvus_conn_id, self.protocol, hook.aget_settings, coalesce=self.coalesce, db_name=self.db_name
            ) as poller:
                stall = self.wait.stall_timeout
                poller.watch(self.job_id, self.wait.poll_interval, refresh=stall / 3 if stall else None)
                try:
                    event = await wait_async(
                        wait_for_job(self.job_id, self.wait, self.log),
                        lambda: poller.read(self.job_id),
                        lambda pause: poller.pause(pause, self.job_id),
                    )
                finally:
                    poller.unwatch(self.job_id)
        except Exception as error:  # the connection cannot be read, or a bug: still exactly one clear event
            self.log.exception("Waiting for import job %s failed", self.job_id)
            event = make_event(ERROR, self.job_id, None, f"{type(error).__name__}: {error}")
        if not self.end_from_trigger:
            yield TriggerEvent(event)
            return
        from airflow_provider_milvus.in_trigger import end_event

        ending = end_event(event, soft_fail=self.soft_fail)
        log = self.log.info if event["status"] == SUCCESS else self.log.error
        log("Import job %s: %s (%s)", self.job_id, event["status"], event["message"])  # the task log shows the reason
        yield ending

    async def on_kill(self) -> None:
        """A user killed or cleared the deferred task (3.3+): abort the job where the server can, else say so.

        Not ``cleanup()``: that runs on every exit (also a triggerer handover) and only frees resources.
        """
        if not self.abort_on_kill:
            return
        from airflow_provider_milvus.cancel import aabort_or_explain

        hooks, _ = await load_client_modules()
        hook = hooks.MilvusImportHook(self.milvus_conn_id, protocol=self.protocol)
        try:
            await aabort_or_explain(hook, self.job_id, self.db_name, self.log)
        finally:
            await hook.aclose()


class MilvusImportEventTrigger(BaseEventTrigger):
    """Watches a collection for import jobs that complete, whoever started them: one event per job, for an AssetWatcher.

    Each ``poll_interval`` it lists the collection's jobs; a job that completed after the watcher began
    gives one event whose payload is the operator's asset event ``extra`` plus ``state`` (the
    ``BulkInsertState`` dict). Failed jobs give none. What was delivered is kept in the watched asset's
    state store on Airflow 3.3+ (restarts and handovers never repeat a job and deliver the ones that
    completed meanwhile; a triggerer killed in the second between a job's mark and Airflow storing its
    event loses that one event), in memory on 3.0 to 3.2 (a restart starts a new baseline: jobs that
    completed meanwhile are not announced).

    :param collection_name: the collection to watch.
    :param milvus_conn_id: the ``milvus`` connection.
    :param db_name: the collection's database when not the connection's.
    :param poll_interval: seconds between two listings of the collection's jobs.
    """

    def __init__(
        self,
        collection_name: str,
        milvus_conn_id: str = DEFAULT_CONN_NAME,
        db_name: str | None = None,
        poll_interval: float = 30.0,
    ) -> None:
        if not HAS_EVENT_TRIGGERS:
            raise RuntimeError(
                "MilvusImportEventTrigger is an event trigger for an AssetWatcher: event-driven scheduling "
                "needs Airflow 3.0 or later. On this Airflow schedule on the collection's asset, which "
                "MilvusImportOperator updates, or wait for a known job with MilvusImportSensor."
            )
        if not isinstance(collection_name, str) or not collection_name:
            raise ValueError(f"collection_name must be a non-empty string, got {collection_name!r}")
        if isinstance(poll_interval, bool) or not isinstance(poll_interval, int | float) or not poll_interval > 0:
            raise ValueError(f"poll_interval must be a positive number of seconds, got {poll_interval!r}")
        super().__init__()  # type: ignore[no-untyped-call]
        self.collection_name = collection_name
        self.milvus_conn_id = milvus_conn_id
        self.db_name = db_name or None
        self.poll_interval = float(poll_interval)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """What it watches and how often: its identity for Airflow (no state, never a secret)."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "collection_name": self.collection_name,
                "milvus_conn_id": self.milvus_conn_id,
                "db_name": self.db_name,
                "poll_interval": self.poll_interval,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """List the collection's jobs every interval and yield one event per job that completed."""
        hooks, _ = await load_client_modules()
        hook = hooks.MilvusImportHook(self.milvus_conn_id)
        rest_hook = hooks.MilvusImportHook(self.milvus_conn_id, protocol="rest")
        key = ledger_key(self.milvus_conn_id, self.db_name, self.collection_name)
        store = ledger_store(getattr(self, "asset_state_store", None), key, self.log)
        try:
            db = ""
            ledger = await store.load()
            if ledger is not None:
                self.log.info("Watching %r again, as since %s", self.collection_name, _when(ledger.began_at))
            failures = 0
            while True:
                try:
                    if not db:  # the connection is read here, so a connection added later is found
                        db = self.db_name or (await hook.aget_settings()).db_name or DEFAULT_DB
                    listing = await list_collection_jobs(hook, rest_hook, self.collection_name, self.db_name)
                except Exception as error:  # a watcher outlives outages and missing connections: retry
                    failures += 1
                    delay = backoff_delay(
                        failures, base=min(self.poll_interval, 5.0), cap=max(self.poll_interval, 60.0)
                    )
                    self.log.warning(
                        "Listing the jobs of %r failed (%d in a row), again in %.1f s: %s: %s",
                        self.collection_name,
                        failures,
                        delay,
                        type(error).__name__,
                        error,
                    )
                    await asyncio.sleep(delay)
                    continue
                failures = 0
                if ledger is None:
                    ledger = WatchLedger.begin(listing.states, time.time())
                    await store.save(ledger)
                    self.log.info(
                        "Watching %s.%s from now on (%d ended jobs before)", db, self.collection_name, len(ledger.seen)
                    )
                elif store.persistent:
                    ledger = await store.load() or ledger  # another triggerer may have delivered meanwhile
                review = ledger.review(listing.states, complete=listing.complete)
                if review.ledger != ledger:
                    ledger = review.ledger
                    await store.save(ledger)
                reader = rest_hook if listing.over_rest else hook
                for listed in review.candidates:
                    try:
                        described: BulkInsertState | MilvusImportError = await reader.aget_import_state(
                            listed.task_id, self.db_name
                        )
                    except MilvusImportError as error:
                        described = error
                    settled = settle(ledger, listed, described)
                    self.log.info("%s", settled.why)
                    if settled.ledger != ledger:
                        ledger = settled.ledger
                        # Saved before the event leaves: a restart never announces this job again.
                        await store.save(ledger)
                    if settled.event_state is not None:
                        yield TriggerEvent(event_payload(settled.event_state, db))
                await asyncio.sleep(self.poll_interval)
        finally:
            await hook.aclose()
            await rest_hook.aclose()


def _when(epoch: float) -> str:
    """An epoch time as ISO 8601 UTC, for the log."""
    import datetime as dt

    return dt.datetime.fromtimestamp(epoch, tz=dt.timezone.utc).isoformat(timespec="seconds")
