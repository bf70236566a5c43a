"""One shared client and one coalesced poller for all triggers of a triggerer that use one connection.

While jobs are in flight the poller reads all their states with ONE list
request per poll interval, and fetches a job in full only when it is new, its
state changed, it ended (final states are always read in full), or its last
full read is older than its refresh period; in between, the list's state and
progress are merged into the last full state. Where the
server's list cannot be trusted (Milvus 2.4+ answers the legacy gRPC list
with id 0; a server without a list route) it falls back to per-job reads,
detected, not configured. Triggers still run their own wait logic
(:mod:`airflow_provider_milvus.waiting`): only where the states come from
changes, so the events are the same as with per-job polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Final

from airflow_provider_milvus.client import AsyncMilvusImportClient
from airflow_provider_milvus.exceptions import MilvusImportError, MilvusImportRouteNotFoundError
from airflow_provider_milvus.settings import MilvusSettings
from airflow_provider_milvus.state import BulkInsertState
from airflow_provider_milvus.waiting import Pause, backoff_delay

log = logging.getLogger(__name__)

#: A job's full state (rows, details) is re-read at least this often even when its state does not change.
REFRESH_SECONDS: Final = 900.0
#: Full reads running at once per poller.
FETCH_CONCURRENCY: Final = 16


@dataclass
class _Job:
    """What the poller knows of one watched job."""

    readers: int = 0
    interval: float = 10.0
    refresh: float = REFRESH_SECONDS
    state: BulkInsertState | None = None
    error: MilvusImportError | None = None
    fetched_at: float = 0.0
    round: int = -1


@dataclass(frozen=True)
class Known:
    """The last full state of a job, when it was read, and how often it must be re-read."""

    state: BulkInsertState | None
    fetched_at: float = 0.0
    refresh: float = REFRESH_SECONDS


def merge_summary(full: BulkInsertState, summary: BulkInsertState, *, with_progress: bool) -> BulkInsertState:
    """The last full state brought up to date with a list entry's state (and progress, where listed)."""
    progress = summary.progress if with_progress else full.progress
    if (full.state, full.progress, full.server_state) == (summary.state, progress, summary.server_state):
        return full
    infos = dict(full.infos)
    if "progress_percent" in infos or with_progress:
        infos["progress_percent"] = str(progress)
    return replace(
        full, state=summary.state, state_name="", progress=progress, infos=infos, server_state=summary.server_state
    )


def plan_fetches(
    watched: Iterable[str],
    listed: Mapping[str, BulkInsertState],
    known: Mapping[str, Known],
    *,
    now: float,
    listing_is_full: bool,
) -> tuple[list[str], list[str]]:
    """Split the watched jobs into those read in full this round and those served from the list.

    A full read is needed for a job never read, missing from the list, whose state changed, that
    ended (the final state is always read in full) or whose last full read is older than its refresh.
    ``listing_is_full``: the list's entries are complete states (gRPC ListImportTasks).
    """
    fetch: list[str] = []
    from_list: list[str] = []
    for job_id in watched:
        summary = listed.get(job_id)
        last = known.get(job_id, Known(None))
        if summary is None:
            fetch.append(job_id)  # not in the list (another database, an old job): read it directly
        elif listing_is_full:
            from_list.append(job_id)
        elif (
            last.state is None
            or last.state.state != summary.state
            or summary.is_terminal
            or now - last.fetched_at >= last.refresh
        ):
            fetch.append(job_id)
        else:
            from_list.append(job_id)
    return fetch, from_list


class SharedPoller:
    """Serves state reads for many triggers of one connection from one list request per round."""

    def __init__(self, client: AsyncMilvusImportClient, *, coalesce: bool = True, db_name: str | None = None) -> None:
        self.client = client
        self.db_name = db_name or None
        self.coalesce = coalesce
        self.list_trusted = True
        self.jobs: dict[str, _Job] = {}
        self.round = 0  # rounds completed
        self.started = 0  # rounds started
        self.requests = 0
        self._round_done = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    # -- what a trigger calls ---------------------------------------------------------------

    def watch(self, job_id: str, interval: float, refresh: float | None = None) -> None:
        """Register a reader of ``job_id`` polling every ``interval`` s, wanting a full read every ``refresh`` s."""
        job = self.jobs.setdefault(job_id, _Job(interval=interval))
        job.readers += 1
        job.interval = min(job.interval, interval)
        if refresh is not None:
            job.refresh = min(job.refresh, refresh)

    def unwatch(self, job_id: str) -> None:
        """A reader of ``job_id`` is done."""
        job = self.jobs.get(job_id)
        if job is not None:
            job.readers -= 1
            if job.readers <= 0:
                del self.jobs[job_id]

    @property
    def coalescing(self) -> bool:
        """True while reads are served by list rounds (not per job)."""
        return self.coalesce and self.list_trusted

    async def read(self, job_id: str) -> BulkInsertState:
        """The job's state from the newest round this reader has not seen yet (or a direct read)."""
        if not self.coalescing:
            self.requests += 1
            return await self.client.get_import_state(job_id, self.db_name)
        job = self.jobs[job_id]
        if job.round < self.round and (job.state is not None or job.error is not None) and job.round >= 0:
            return self._answer(job)
        await self._next_round(job)
        if not self.coalescing or (job.state is None and job.error is None):
            # The list turned out untrustworthy, or the job left the round: read it directly.
            self.requests += 1
            return await self.client.get_import_state(job_id, self.db_name)
        return self._answer(job)

    async def pause(self, pause: Pause) -> None:
        """A poll-interval pause lasts until the next round; a backoff pause is a plain sleep."""
        if pause.backoff or not self.coalescing:
            await asyncio.sleep(pause.seconds)
            return
        with contextlib.suppress(asyncio.TimeoutError):
            async with self._round_done:
                target = self.round + 1
                await asyncio.wait_for(self._round_done.wait_for(lambda: self.round >= target), pause.seconds * 2 + 1)

    def _answer(self, job: _Job) -> BulkInsertState:
        job.round = self.round
        if job.error is not None:
            raise job.error
        assert job.state is not None
        return job.state

    async def _next_round(self, job: _Job) -> None:
        self._ensure_running()
        target = self.started + 1  # a round that starts after this job was registered
        async with self._round_done:
            await self._round_done.wait_for(lambda: self.round >= target or not self.coalescing)

    # -- the round loop -----------------------------------------------------------------------

    def _ensure_running(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._loop(), name="milvus-import-poller")

    async def _loop(self) -> None:
        failures = 0
        while self.jobs and self.coalescing:
            started = time.monotonic()
            self.started += 1
            try:
                list_error = await self._run_round()
            except Exception as error:  # a bug must end the waits with an error, never hang them
                log.exception("Polling import jobs on %s failed", self.client.settings.server)
                failure = MilvusImportError(
                    f"polling the import jobs failed unexpectedly: {type(error).__name__}: {error}"
                )
                for job in self.jobs.values():
                    job.error = failure
                list_error = None
            async with self._round_done:
                self.round = self.started
                self._round_done.notify_all()
            # One round per (shortest) poll interval, whenever readers arrive: that is the coalescing.
            # After a failed list the next round backs off (and honours the server's Retry-After).
            interval = min((j.interval for j in self.jobs.values()), default=0.0)
            if list_error is not None and list_error.retryable:
                failures += 1
                interval = max(
                    interval, backoff_delay(failures, base=min(interval, 5.0), retry_after=list_error.retry_after)
                )
            else:
                failures = 0
            await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))
        async with self._round_done:
            self._round_done.notify_all()

    async def _run_round(self) -> MilvusImportError | None:
        """One list request and the full reads it calls for; returns the list's error, if any."""
        watched = list(self.jobs)
        if not watched:
            return None
        try:
            self.requests += 1
            listed_states = await self.client.list_import_states(None, self.db_name)
        except MilvusImportRouteNotFoundError:
            self._distrust("the server has no list call")
            return None
        except MilvusImportError as error:
            for job_id in watched:
                if job_id in self.jobs:
                    self.jobs[job_id].error = error
            return error
        watched = [j for j in watched if j in self.jobs]  # readers may have left during the list call
        if any(s.task_id in ("", "0") for s in listed_states):
            self._distrust("the server's list answers job id 0 (Milvus 2.4+ legacy gRPC list)")
            return None
        protocol = self.client.settings.protocol
        listed = {s.task_id: s for s in listed_states}
        now = time.monotonic()
        known = {j: Known(self.jobs[j].state, self.jobs[j].fetched_at, self.jobs[j].refresh) for j in watched}
        fetch, from_list = plan_fetches(watched, listed, known, now=now, listing_is_full=protocol == "grpc")
        for job_id in from_list:
            job = self.jobs.get(job_id)
            if job is None:
                continue
            summary = listed[job_id]
            if protocol == "grpc":
                self._store(job_id, summary)
            else:
                assert job.state is not None
                job.state = merge_summary(job.state, summary, with_progress=protocol == "rest")
                job.error = None
        semaphore = asyncio.Semaphore(FETCH_CONCURRENCY)

        async def fetch_one(job_id: str) -> None:
            async with semaphore:
                self.requests += 1
                try:
                    state = await self.client.get_import_state(job_id, self.db_name)
                except MilvusImportError as error:
                    if job_id in self.jobs:
                        self.jobs[job_id].error = error
                    return
                except Exception as error:  # a bug reading one job ends that wait, not the others
                    log.exception("Reading import job %s failed", job_id)
                    if job_id in self.jobs:
                        self.jobs[job_id].error = MilvusImportError(
                            f"reading the job failed unexpectedly: {type(error).__name__}: {error}", job_id=job_id
                        )
                    return
            self._store(job_id, state)

        await asyncio.gather(*(fetch_one(j) for j in fetch))
        return None

    def _store(self, job_id: str, state: BulkInsertState) -> None:
        job = self.jobs.get(job_id)
        if job is not None:
            job.state, job.error, job.fetched_at = state, None, time.monotonic()

    def _distrust(self, why: str) -> None:
        if self.list_trusted:
            log.info("Polling import jobs one by one on %s: %s", self.client.settings.server, why)
        self.list_trusted = False

    async def aclose(self) -> None:
        """Stop the round loop and close the shared client."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        await self.client.aclose()


_Key = tuple[str, str | None, bool, str | None]


@dataclass
class _LoopPollers:
    """The pollers of one event loop, their users, and the lock that guards them (all of that loop)."""

    lock: asyncio.Lock
    pollers: dict[_Key, SharedPoller]
    users: dict[_Key, int]


#: Registries by loop. An entry counts only for the very loop object it was made on (a new loop may reuse
#: a dead one's id), and entries of closed or collected loops are dropped at the next lookup: a poller (its
#: client, sockets and channel) belongs to the loop that runs it and goes with it.
_LOOPS: dict[int, tuple[weakref.ref[asyncio.AbstractEventLoop], _LoopPollers]] = {}


def pollers_of(loop: asyncio.AbstractEventLoop) -> _LoopPollers:
    """The registry of ``loop`` (made on first use); forgets the registries of loops that are gone."""
    for key, (ref, _) in list(_LOOPS.items()):
        owner = ref()
        if owner is None or owner.is_closed():
            del _LOOPS[key]
    entry = _LOOPS.get(id(loop))
    if entry is None or entry[0]() is not loop:
        entry = _LOOPS[id(loop)] = (weakref.ref(loop), _LoopPollers(asyncio.Lock(), {}, {}))
    return entry[1]


@contextlib.asynccontextmanager
async def shared_poller(
    conn_id: str,
    protocol: str | None,
    get_settings: Callable[[], Awaitable[MilvusSettings]],
    *,
    coalesce: bool = True,
    db_name: str | None = None,
) -> AsyncIterator[SharedPoller]:
    """The poller (and client) shared by every trigger of this event loop on ``conn_id``; closed with the last."""
    key: _Key = (conn_id, protocol, coalesce, db_name or None)
    registry = pollers_of(asyncio.get_running_loop())
    async with registry.lock:
        poller = registry.pollers.get(key)
        if poller is None:
            # Protocol detection, if any, happens on the first read, where its faults are retried.
            client = AsyncMilvusImportClient(await get_settings())
            poller = registry.pollers[key] = SharedPoller(client, coalesce=coalesce, db_name=db_name)
        registry.users[key] = registry.users.get(key, 0) + 1
    try:
        yield poller
    finally:
        async with registry.lock:
            registry.users[key] -= 1
            if registry.users[key] == 0:
                del registry.users[key]
                registry.pollers.pop(key, None)
                await poller.aclose()
