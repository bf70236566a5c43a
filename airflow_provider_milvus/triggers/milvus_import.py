"""MilvusImportTrigger: waits for one import job in the triggerer, holding no worker slot."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import AsyncIterator
from types import ModuleType
from typing import Any, Final

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_milvus.events import ERROR, make_event
from airflow_provider_milvus.waiting import WaitSettings, wait_async, wait_for_job

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
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.job_id = str(job_id)
        self.milvus_conn_id = milvus_conn_id
        self.protocol = protocol
        self.coalesce = coalesce
        self.db_name = db_name or None
        self.abort_on_kill = abort_on_kill
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
                        poller.pause,
                    )
                finally:
                    poller.unwatch(self.job_id)
        except Exception as error:  # the connection cannot be read, or a bug: still exactly one clear event
            self.log.exception("Waiting for import job %s failed", self.job_id)
            event = make_event(ERROR, self.job_id, None, f"{type(error).__name__}: {error}")
        yield TriggerEvent(event)

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
