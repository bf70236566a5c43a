"""One shared client and one poller for all triggers of a triggerer that use one connection.

Each round the poller reads the watched jobs the cheapest way it has measured (:mod:`.cost`): one
describe per job, one list of everything, or one list per watched collection, whichever costs no more
requests and bytes, so a round never costs more than its watched jobs, whatever history the server keeps.
From a list it fetches a job in full only when it is new, its state changed, it ended (final states are
always read in full), or its last full read is older than its refresh period; in between, the list's
state and progress are merged into the last full state. On Zilliz Cloud, where every request counts
against the rate limit, a running job's first sight and changes of state come from the pages too (its rows
with its final read or its refresh), and pages dearer than the reads the limit lets through each interval
are listed once every few intervals. Where the server's
list cannot be trusted (Milvus 2.4+ answers the legacy gRPC list with id 0; a server without a list route)
it reads per job, detected, not configured. Long answers are parsed off the event loop
(:mod:`airflow_provider_milvus.transport.driver`). Triggers still run their own wait logic
(:mod:`airflow_provider_milvus.waiting`): only where the states come from changes, so the events are the
same as with per-job polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Final

from airflow_provider_milvus.client import AsyncMilvusImportClient, counting
from airflow_provider_milvus.config import cloud_requests_per_second
from airflow_provider_milvus.exceptions import MilvusImportError, MilvusImportRouteNotFoundError
from airflow_provider_milvus.polling import cost
from airflow_provider_milvus.polling.cost import REFRESH_SECONDS, Known, ListCost, ReadCost, RoundPlan, plan_fetches
from airflow_provider_milvus.protocol.listing import ListBudget
from airflow_provider_milvus.settings import MilvusSettings
from airflow_provider_milvus.state import BulkInsertState
from airflow_provider_milvus.waiting import Pause, backoff_delay

log = logging.getLogger(__name__)

#: Full reads running at once per poller (rounds' and readers' alike): httpcore's pool spends per request in
#: proportion to its connections, and a few connections keep up with a server on the same network.
FETCH_CONCURRENCY: Final = 4


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
    #: The round whose answer (state or error) is stored: read again only once a reader took it.
    stored: int = -1
    #: The job's collection, learnt from its first full read ("" where the answer does not say).
    collection: str | None = None
    #: When its reader's last own read was sent, and whether one is in flight (a probe's answer is older).
    read_sent: float = -1.0
    reading: bool = False
    #: A probe's answer is stored that the reader (which reads on its own) has not taken yet.
    probe_answer: bool = False


class SharedPoller:
    """Serves state reads for many triggers of one connection, each round the cheapest measured way."""

    def __init__(
        self,
        client: AsyncMilvusImportClient,
        *,
        coalesce: bool = True,
        db_name: str | None = None,
        autostart: bool = True,
    ) -> None:
        self.client = client
        #: False: no round loop; rounds run only through :meth:`poll_once` (tests drive them one by one).
        self.autostart = autostart
        self.db_name = db_name or None
        self.coalesce = coalesce
        self.list_trusted = True
        self.jobs: dict[str, _Job] = {}
        self.round = 0  # rounds completed
        self.started = 0  # rounds started
        self.requests = 0
        #: What reading one job in full costs, and each list scope's last measure (the cost model's input).
        self.read_cost = ReadCost()
        self.list_costs: dict[cost.Scope, ListCost] = {}
        #: The plan of the last round (what was decided, and why).
        self.last_plan = RoundPlan()
        self._round_done = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._collection_lists: dict[str, asyncio.Task[list[BulkInsertState]]] = {}
        #: The jobs the current round's lists serve; every other job is read by its own reader.
        self._listed: frozenset[str] = frozenset()
        #: When the current round's lists answered (None: the round listed nothing), the start of its interval.
        self._listed_at: float | None = None
        #: Readers' own reads in flight, and an event set while there are none.
        self._direct_reads = 0
        self._reads_idle = asyncio.Event()
        # Readers' own full reads share the rounds' bound: a burst of new waits never opens a connection each.
        self._reads = asyncio.Semaphore(FETCH_CONCURRENCY)
        self._reads_idle.set()
        #: This process's share of a rate limit, in requests/s (read once, where the API has one).
        self._rate: float | None = None
        self._closed = False

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
        """The job's state: from the newest round this reader has not seen yet where a list serves the job,
        else read now (per-job polling, at the reader's own pace)."""
        if not self.coalescing:
            self.requests += 1
            async with self._reads:  # a thousand waits never queue a thousand requests on one pool
                return await self.client.get_import_state(job_id, self.db_name)
        job = self.jobs[job_id]
        self._ensure_running()  # the round loop plans (and lists, where that pays)
        if (
            job_id not in self._listed
            and job.state is None
            and self.autostart
            and self._traits().paged
            and self.last_plan.spacing == 1
        ):
            # Zilliz Cloud: the next round's page may serve this job's first sight (each read counts against 20/s);
            # where lists are spaced out (dearer than reads), it is read now, as per-job polling would.
            await self._round_after(self.started)
            if job_id in self._listed and job.stored > job.round and (job.state is not None or job.error is not None):
                return self._answer(job)
        if job_id not in self._listed:
            if job.probe_answer:  # a probe answered after this reader's last read: take that answer
                job.probe_answer = False
                return self._answer(job)
            return await self._read_direct(job_id, job)
        if job.stored > job.round and (job.state is not None or job.error is not None):
            return self._answer(job)  # an answer newer than the one this reader took
        # The round under way lists the job (its plan did), unless this reader took that round's answer already.
        await self._round_after(job.round if job.round >= self.started else self.started - 1)
        if not self.coalescing or (job.state is None and job.error is None):
            # The list turned out untrustworthy, or the job left the round: read it directly.
            return await self._read_direct(job_id, job)
        return self._answer(job)

    async def _read_direct(self, job_id: str, job: _Job) -> BulkInsertState:
        """One full read by the reader itself; its cost is a sample of the per-job read cost."""
        self.requests += 1
        self._direct_reads += 1
        self._reads_idle.clear()
        job.reading = True
        try:
            async with self._reads:
                job.read_sent = time.monotonic()
                with counting() as spent:
                    state = await self.client.get_import_state(job_id, self.db_name)
        finally:
            job.reading = False
            self._direct_reads -= 1
            if not self._direct_reads:
                self._reads_idle.set()
        if spent.requests == 1:  # a retry or a check over REST is no sample of one read
            self.read_cost = cost.add_reads(self.read_cost, 1, spent.bytes, spent.seconds)
        self._store(job_id, state)
        job.probe_answer = False
        job.round = self.started  # answers of later rounds are newer than this read
        return state

    async def pause(self, pause: Pause, job_id: str | None = None) -> None:
        """A poll-interval pause of a listed job lasts until the next round; any other pause is a sleep.

        The reader of a job no list serves (``job_id`` given and not in this round's lists) keeps its own
        pace, as per-job polling does: a thousand such readers spread their reads over the interval instead
        of all reading at each round. Should a later round list the job, its reader takes that round's answer.
        """
        if pause.backoff or not self.coalescing or (job_id is not None and job_id not in self._listed):
            await asyncio.sleep(pause.seconds)
            return
        with contextlib.suppress(asyncio.TimeoutError):
            async with self._round_done:
                target = self.round + 1
                await asyncio.wait_for(self._round_done.wait_for(lambda: self.round >= target), pause.seconds * 2 + 1)

    def _answer(self, job: _Job) -> BulkInsertState:
        job.round = job.stored  # taken: the reader waits for a newer round's answer
        if job.error is not None:
            raise job.error
        assert job.state is not None
        return job.state

    async def _round_after(self, round: int) -> None:
        """Until a round later than ``round`` has completed (or lists are no longer used)."""
        self._ensure_running()
        async with self._round_done:
            await self._round_done.wait_for(lambda: self.round > round or not self.coalescing or self._closed)

    # -- the round loop -----------------------------------------------------------------------

    def _ensure_running(self) -> None:
        if self.autostart and not self._closed and (self._task is None or self._task.done()):
            self._task = asyncio.get_running_loop().create_task(self._loop(), name="milvus-import-poller")

    async def _loop(self) -> None:
        failures = 0
        while self.jobs and self.coalescing and not self._closed:
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
            # The readers woken by this round read their jobs now: the next round is one interval after they
            # are done (as a per-job reader sleeps one interval after its read), so no job is read more often.
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._reads_idle.wait(), interval)
            # A listing round's interval runs from its lists' answer: the full reads of the jobs that changed
            # state are once per change, however often lists run, and must not delay the next list.
            listed_at, self._listed_at = self._listed_at, None
            spent = time.monotonic() - listed_at if listed_at is not None and list_error is None else 0.0
            # A list dearer than one interval of rate-limited reads is made once every few intervals: as the
            # next round plans it, from this round's measures (a probe's page already tells).
            spacing = self.plan().spacing if self.jobs and self.coalescing else 1
            await asyncio.sleep(max(interval * spacing - spent, 0.0))
        async with self._round_done:
            self._round_done.notify_all()

    async def poll_once(self) -> RoundPlan:
        """Run one round now, outside the round loop, and return its plan (tests and benchmarks drive rounds so)."""
        self.started += 1
        await self._run_round()
        async with self._round_done:
            self.round = self.started
            self._round_done.notify_all()
        return self.last_plan

    def _traits(self) -> cost.Traits:
        return {"cloud": cost.CLOUD, "grpc": cost.GRPC}.get(self.client.settings.protocol, cost.REST)

    def plan(self) -> RoundPlan:
        """What the next round will do with the jobs watched now (pure: the cost model over the measures)."""
        watched = {job_id: job.collection for job_id, job in self.jobs.items()}
        unread = [job_id for job_id, job in self.jobs.items() if job.state is None]
        return cost.choose_round(
            watched,
            self.read_cost,
            self.list_costs,
            self._traits(),
            round=self.started,
            unread=unread,
            reads_per_interval=self._reads_per_interval(),
        )

    def _reads_per_interval(self) -> float | None:
        """Where a rate limit paces this client's reads (Zilliz Cloud): how many one poll interval lets through."""
        if not self._traits().rate_limited or not self.jobs:
            return None
        if self._rate is None:
            self._rate = cloud_requests_per_second()  # this process's share, as its limiter reads it
        return self._rate * min(job.interval for job in self.jobs.values())

    async def _run_round(self) -> MilvusImportError | None:
        """One round as the cost model plans it; returns a list's error, if any."""
        if not self.jobs:
            return None
        protocol_object = await self.client.protocol()
        if getattr(protocol_object, "lists_job_ids", None) is False:
            self._distrust("a read answered id 0: Milvus 2.4+'s legacy gRPC shim, whose list says id 0 too")
            return None
        plan = self.last_plan = self.plan()
        # A probe's jobs' readers keep reading them one by one, never waiting on it; what it answers serves
        # the readers that come after it (see read()). Where the API pages (Zilliz Cloud), a probe is one
        # page sized to the waits, and every request counts against the rate limit: readers wait for it.
        paged = holds = self._traits().paged
        self._listed = frozenset().union(*(p.jobs for p in plan.lists if holds or not p.probe))
        if not plan.lists:
            return None  # every job is read by its own reader
        listed: dict[str, BulkInsertState] = {}
        served: set[str] = set()
        every_list_answered = True
        probe_served: set[str] = set()
        for list_plan in plan.lists:
            sent = time.monotonic()
            try:
                listing = await self._list(list_plan)
            except MilvusImportRouteNotFoundError as error:
                self._distrust(f"the server has no usable list call ({error})")
                return None
            except MilvusImportError as error:
                if list_plan.probe:  # its jobs are read one by one meanwhile: a failed probe fails no wait
                    log.debug("Probing a list of %s import jobs failed: %s", list_plan.scope or "all", error)
                    return error
                for job_id in list_plan.jobs:
                    self._fail(job_id, error)
                return error
            if listing is not None and any(s.task_id in ("", "0") for s in listing):
                self._distrust("the server's list answers job id 0 (Milvus 2.4+ legacy gRPC list)")
                return None
            if listing is None:
                every_list_answered = False
                continue
            jobs = list_plan.jobs
            if list_plan.probe and not holds:  # only where no own read of the job is newer, or under way
                jobs = frozenset(j for j in jobs if j in self.jobs and not self.jobs[j].reading)
                jobs = frozenset(j for j in jobs if self.jobs[j].read_sent < sent)
                probe_served |= jobs
            listed.update((s.task_id, s) for s in listing if s.task_id in jobs)
            served |= jobs
        self._listed_at = time.monotonic() if served and every_list_answered and not probe_served else None
        watched = [j for j in self.jobs if j in served]  # readers may have left during the list calls
        protocol = self.client.settings.protocol
        now = time.monotonic()
        known = {j: Known(self.jobs[j].state, self.jobs[j].fetched_at, self.jobs[j].refresh) for j in watched}
        fetch, from_list = plan_fetches(
            watched,
            listed,
            known,
            now=now,
            listing_is_full=protocol == "grpc",
            running_from_list=self._traits().rate_limited,
            need_sample=paged and self.read_cost.samples == 0,
        )
        for job_id in from_list:
            job = self.jobs[job_id]
            summary = listed[job_id]
            if protocol == "grpc":
                self._store(job_id, summary, full=False)
            elif job.state is None:  # first sight from a page: its full state comes with its next change
                self._store(job_id, summary, full=False)
                job.fetched_at, job.collection = now, summary.collection_name or ""
            else:
                assert job.state is not None
                job.state = cost.merge_summary(job.state, summary, with_progress=protocol == "rest")
                job.error, job.stored = None, self.started
            job.probe_answer = job_id in probe_served
        # Jobs of a list that outgrew its budget are read here, for the readers that wait on this round; a job
        # whose last answer no reader took yet (it backs off) waits: each answer is seen once.
        unserved = [j for j in self._listed if j in self.jobs and j not in served]
        direct = [j for j in unserved if self.jobs[j].stored <= self.jobs[j].round]
        return await self._fetch([*fetch, *direct], probe_served)

    async def _list(self, plan: cost.ListPlan) -> list[BulkInsertState] | None:
        """One planned list, measured; None when it outgrew its budget (its jobs are then read one by one)."""
        before = self.client.stats.copy()
        wanted = plan.jobs if self._traits().paged else frozenset()
        self.requests += 1
        budget = ListBudget(plan.max_bytes, plan.max_pages, wanted)
        listing = await self.client.list_jobs(plan.scope, self.db_name, budget)
        self.requests += max(0, listing.pages - 1)
        after = self.client.stats
        seconds = after.seconds - before.seconds
        measured = ListCost(
            after.bytes - before.bytes, listing.pages, seconds, len(listing.states), listing.complete, self.started
        )
        worth = cost.worth_listing(
            measured, len(plan.jobs), self.read_cost, reads_per_interval=self._reads_per_interval()
        )
        self.list_costs[plan.scope] = cost.record_list(
            self.list_costs.get(plan.scope),
            bytes=measured.bytes,
            pages=measured.pages,
            seconds=seconds,
            entries=measured.entries,
            complete=measured.complete,
            round=self.started,
            worth_it=worth,
        )
        if not listing.complete:
            log.debug("A list of %s import jobs outgrew its budget: reading them one by one", plan.scope or "all")
            return None
        return listing.states

    async def _fetch(self, job_ids: list[str], probe_served: set[str] | None = None) -> MilvusImportError | None:
        """Full reads of ``job_ids``, a few at a time; their mean cost feeds the cost model.

        Returns a passing error one of them met (the round loop then backs off), else None.
        """
        if not job_ids:
            return None
        before = self.client.stats.copy()
        reads = 0
        passing: list[MilvusImportError] = []

        async def fetch_one(job_id: str) -> None:
            nonlocal reads
            async with self._reads:
                sent = time.monotonic()
                self.requests += 1
                try:
                    state = await self.client.get_import_state(job_id, self.db_name)
                except MilvusImportError as error:
                    self._fail(job_id, error)
                    if error.retryable:
                        passing.append(error)
                    return
                except Exception as error:  # a bug reading one job ends that wait, not the others
                    log.exception("Reading import job %s failed", job_id)
                    self._fail(
                        job_id,
                        MilvusImportError(
                            f"reading the job failed unexpectedly: {type(error).__name__}: {error}", job_id=job_id
                        ),
                    )
                    return
            reads += 1
            job = self.jobs.get(job_id)
            if job is not None and probe_served and job_id in probe_served:
                if job.reading or job.read_sent > sent:
                    return  # its reader's own read is newer
                job.probe_answer = True
            self._store(job_id, state)

        await asyncio.gather(*(fetch_one(j) for j in job_ids))
        after = self.client.stats
        if reads and after.requests - before.requests == reads:  # a read that took a retry or a check is no sample
            self.read_cost = cost.add_reads(
                self.read_cost, reads, after.bytes - before.bytes, after.seconds - before.seconds
            )
        return max(passing, key=lambda e: e.retry_after or 0.0) if passing else None

    async def list_collection(self, collection_name: str) -> list[BulkInsertState]:
        """Every job the server remembers in ``collection_name``, for triggers that watch a collection.

        Callers asking at the same time share one list request; the list is filtered by the server
        where the API can (Milvus REST and gRPC), and its answer is parsed off the event loop.
        """
        task = self._collection_lists.get(collection_name)
        if task is None or task.done():
            task = asyncio.get_running_loop().create_task(self._list_collection(collection_name))
            self._collection_lists[collection_name] = task
        return list(await asyncio.shield(task))

    async def _list_collection(self, collection_name: str) -> list[BulkInsertState]:
        before = self.client.stats.requests
        try:
            listing = await self.client.list_jobs(collection_name, self.db_name)
        finally:
            self.requests += self.client.stats.requests - before
        return listing.states

    def _fail(self, job_id: str, error: MilvusImportError) -> None:
        job = self.jobs.get(job_id)
        if job is not None:
            job.error, job.stored = error, self.started

    def _store(self, job_id: str, state: BulkInsertState, *, full: bool = True) -> None:
        job = self.jobs.get(job_id)
        if job is not None:
            job.state, job.error, job.stored = state, None, self.started
            if full:
                job.fetched_at = time.monotonic()
                if job.collection is None:
                    job.collection = state.collection_name or ""

    def _distrust(self, why: str) -> None:
        if self.list_trusted:
            log.info("Polling import jobs one by one on %s: %s", self.client.settings.server, why)
        self.list_trusted = False

    async def aclose(self) -> None:
        """Stop the round loop and close the shared client.

        The loop is cancelled until it has ended: on Python 3.11, ``asyncio.wait_for`` swallows a
        cancel that arrives as its inner wait completes, and one cancel alone could leave the loop running.
        """
        self._closed = True
        task = self._task
        if task is not None:
            while not task.done():
                task.cancel()
                await asyncio.wait({task}, timeout=1.0)
            with contextlib.suppress(asyncio.CancelledError, Exception):
                task.result()
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
