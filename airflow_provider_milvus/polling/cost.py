"""What a polling round costs done two ways, and which way to take: pure functions over measurements.

A round can read every watched job once (per-job: one request each, the bytes of one full answer each),
or list: one list of everything, or one list per watched collection where the API filters by collection
(Milvus REST ``collectionName``, gRPC ``collection_name``; Zilliz Cloud has no filter but pages). A list's
cost is the server's history in its scope, not the watched jobs; the per-job cost is the watched jobs. Both
are measured, never configured: the per-job read's mean answer, and each list's last answer (bytes, pages,
parse time). A list is used only where it is measured no dearer in requests AND bytes (within 25 %) than
reading its jobs one by one; a list not yet measured, or measured too dear long enough ago, is measured again with a
budget (the bytes and pages that per-job reads of its jobs would spend), so a probe never costs much more
than the round it stands in for, and a list that shrank is used again. Where a rate limit paces the reads
(Zilliz Cloud), per-job polling reads only the limit's share of jobs each interval: a list dearer than that
is made once every few intervals, as often as it stays no dearer, never more rarely than per-job polling
would read each job.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Final

from airflow_provider_milvus.protocol.cloud import PAGE_SIZE as CLOUD_PAGE_SIZE
from airflow_provider_milvus.state import BulkInsertState

#: A job's full state (rows, details) is re-read at least this often even when its state does not change.
REFRESH_SECONDS: Final = 900.0
#: What one request weighs beside its bytes (headers, a round trip), in bytes.
REQUEST_BYTES: Final = 600
#: What one second of parsing weighs, in bytes (1 ms of CPU is about 10 kB of answer).
CPU_BYTES_PER_SECOND: Final = 10_000_000
#: A list that saves requests may read this much more than per-job reads would (a 2.3 list entry is a whole state).
BYTES_SLACK: Final = 1.25
#: A list is worth measuring only for this many watched jobs in its scope: it must save requests.
MIN_JOBS_TO_LIST: Final = 3
#: Rounds before a list found too dear is measured again; doubles each time it is found too dear again.
FIRST_REMEASURE: Final = 8
MAX_REMEASURE: Final = 256

#: The scope of a list: a collection's name, or None for every job of the database.
Scope = str | None


@dataclass(frozen=True)
class Traits:
    """What the API's list can do: filter by collection; page (and say its ``count``), with at most
    ``page_size`` entries a page; and how far a probe may read past its budget (a socket read, a gRPC
    message; pages sized to the watched jobs: nothing)."""

    filters: bool = True
    paged: bool = False
    overshoot: int = 64 * 1024
    page_size: int = 0
    #: Requests are paced by a rate limit (Zilliz Cloud's 20/s per endpoint): per-job polling then reads
    #: at most the limit's share of jobs per interval, not every job.
    rate_limited: bool = False


REST: Final = Traits(filters=True, paged=False)
GRPC: Final = Traits(filters=True, paged=False)
CLOUD: Final = Traits(filters=False, paged=True, overshoot=0, page_size=CLOUD_PAGE_SIZE, rate_limited=True)


@dataclass(frozen=True)
class Price:
    """Requests, bytes and parse seconds of one way of doing (part of) a round."""

    requests: float = 0.0
    bytes: float = 0.0
    seconds: float = 0.0

    @property
    def weight(self) -> float:
        """One number to compare by: bytes plus what requests and parse time weigh in bytes."""
        return self.bytes + self.requests * REQUEST_BYTES + self.seconds * CPU_BYTES_PER_SECOND

    def __add__(self, other: Price) -> Price:
        return Price(self.requests + other.requests, self.bytes + other.bytes, self.seconds + other.seconds)

    def __truediv__(self, rounds: float) -> Price:
        """The share of one round when this is spent once every ``rounds`` rounds."""
        return Price(self.requests / rounds, self.bytes / rounds, self.seconds / rounds)

    def no_dearer_than(self, other: Price) -> bool:
        """True when this costs at most ``other``'s requests, its bytes (within the slack) and its weight."""
        return (
            self.requests <= other.requests and self.bytes <= other.bytes * BYTES_SLACK and self.weight <= other.weight
        )


@dataclass(frozen=True)
class ReadCost:
    """The mean cost of one full read of a job, from the reads made so far (a moving mean)."""

    bytes: float = 0.0
    seconds: float = 0.0
    samples: int = 0

    def price(self, jobs: float) -> Price:
        """Reading ``jobs`` jobs one by one."""
        return Price(jobs, jobs * self.bytes, jobs * self.seconds)


def add_reads(cost: ReadCost, reads: int, total_bytes: float, total_seconds: float) -> ReadCost:
    """``cost`` updated with a batch of ``reads`` full reads (recent batches weigh more once 32 are in)."""
    if reads <= 0:
        return cost
    weight = min(reads / (cost.samples + reads), max(reads / 32, 1 / 8)) if cost.samples else 1.0
    return ReadCost(
        bytes=cost.bytes + (total_bytes / reads - cost.bytes) * weight,
        seconds=cost.seconds + (total_seconds / reads - cost.seconds) * weight,
        samples=cost.samples + reads,
    )


@dataclass(frozen=True)
class ListCost:
    """The last measure of one scope's list.

    ``complete`` False: the list was stopped at its budget, so it costs at least this much.
    """

    bytes: int
    pages: int
    seconds: float
    entries: int
    complete: bool
    measured_round: int
    #: Rounds after ``measured_round`` before it is measured again while it is found too dear.
    backoff: int = FIRST_REMEASURE

    def price(self) -> Price:
        """What one such list costs (a lower bound when incomplete)."""
        return Price(self.pages, self.bytes, self.seconds)


def record_list(
    previous: ListCost | None,
    *,
    bytes: int,
    pages: int,
    seconds: float,
    entries: int,
    complete: bool,
    round: int,
    worth_it: bool,
) -> ListCost:
    """The new measure of a list; the wait before the next probe doubles each time it is found too dear."""
    if worth_it or previous is None or previous.measured_round == round:
        backoff = FIRST_REMEASURE
    else:
        backoff = min(previous.backoff * 2, MAX_REMEASURE)
    return ListCost(bytes, pages, seconds, entries, complete, round, backoff)


@dataclass(frozen=True)
class ListPlan:
    """One list to make this round, the watched jobs it serves, and the budget it must stay within."""

    scope: Scope
    jobs: frozenset[str]
    max_bytes: int | None
    max_pages: int | None
    probe: bool


@dataclass(frozen=True)
class RoundPlan:
    """The lists to make and the jobs to read one by one this round, and why."""

    lists: tuple[ListPlan, ...] = ()
    direct: frozenset[str] = frozenset()
    reason: str = ""
    #: Poll intervals until the next round: a list dearer than one interval of rate-limited reads pays every few.
    spacing: int = 1

    @property
    def listed_jobs(self) -> frozenset[str]:
        """The watched jobs a list serves."""
        return frozenset().union(*(plan.jobs for plan in self.lists)) if self.lists else frozenset()


def per_job_price(read: ReadCost, jobs: int, reads_per_interval: float | None = None) -> Price:
    """What one interval of per-job polling of ``jobs`` costs: every job once, or where a rate limit paces the
    reads, the ``reads_per_interval`` it lets through (each job is then read once every jobs / that intervals)."""
    return read.price(jobs if reads_per_interval is None else min(jobs, reads_per_interval))


def list_spacing(
    measure: ListCost | None, jobs: int, read: ReadCost, *, reads_per_interval: float | None = None
) -> int:
    """Every how many poll intervals the measured list of ``jobs`` pays for itself; 0 when it never does.

    A list pays every interval when it costs no more requests and bytes than one interval of per-job reads.
    Where a rate limit paces the reads (``reads_per_interval``, Zilliz Cloud), per-job polling sees each job
    only once every jobs / reads_per_interval intervals: a dearer list then pays once every k intervals, for
    k up to that cycle, so it never sees a job later than per-job reads would.
    """
    if measure is None or not measure.complete or jobs < MIN_JOBS_TO_LIST:
        return 0
    price, per_interval = measure.price(), per_job_price(read, jobs, reads_per_interval)
    if price.no_dearer_than(per_interval):
        return 1
    if reads_per_interval is None or reads_per_interval >= jobs or per_interval.weight <= 0:
        return 0
    cycle = int(jobs // max(reads_per_interval, 1.0))
    spacing = max(2, math.ceil(price.weight / per_interval.weight))
    while spacing <= cycle and not (price / spacing).no_dearer_than(per_interval):
        spacing += 1
    return spacing if spacing <= cycle else 0


def worth_listing(
    measure: ListCost | None, jobs: int, read: ReadCost, *, reads_per_interval: float | None = None
) -> bool:
    """True when the measured list costs no more requests and bytes than reading ``jobs`` jobs one by one
    (where a rate limit paces the reads: once every few intervals, see :func:`list_spacing`)."""
    return list_spacing(measure, jobs, read, reads_per_interval=reads_per_interval) > 0


def probe_due(
    measure: ListCost | None, jobs: int, read: ReadCost, *, round: int, overshoot: int = REST.overshoot
) -> bool:
    """True when the list is worth (re-)measuring now: never measured, or found too dear long enough ago.

    A probe may read ``overshoot`` bytes past its budget (an answer arrives in socket reads of up to 64 KiB):
    it is made only where FIRST_REMEASURE rounds of per-job reads cost more than that.
    """
    if jobs < MIN_JOBS_TO_LIST or (read.samples == 0 and overshoot > 0):
        return False  # (pages sized to the jobs overshoot nothing: probed before any read, one page at most)
    if read.price(jobs).bytes * FIRST_REMEASURE < overshoot:
        return False  # too few jobs for what a probe may overshoot: it could not pay for itself
    if measure is None:
        return True
    if not measure.complete and read.price(jobs).bytes >= 2 * measure.bytes:
        return True  # the jobs in scope grew past twice what stopped the last probe: the list may pay now
    return round >= measure.measured_round + measure.backoff


def _scope_plan(
    scope: Scope,
    jobs: frozenset[str],
    measure: ListCost | None,
    read: ReadCost,
    traits: Traits,
    *,
    round: int,
    reads_per_interval: float | None = None,
) -> tuple[ListPlan | None, Price, int]:
    """The list for ``jobs`` in ``scope`` if it is used or probed this round, the price of one interval with
    it, and every how many intervals it is made."""
    per_job = read.price(len(jobs))
    budget: int | None = int(per_job.bytes * BYTES_SLACK) + 1
    pages = max(len(jobs) - 1, 1) if traits.paged else None
    if pages is not None and read.samples == 0 and traits.page_size:
        # No read measured yet to price bytes by: the pages the jobs fill, and one for jobs started since.
        pages, budget = min(pages, -(-len(jobs) // traits.page_size) + 1), None
    spacing = list_spacing(measure, len(jobs), read, reads_per_interval=reads_per_interval)
    if spacing:
        assert measure is not None
        return ListPlan(scope, jobs, budget, pages, probe=False), measure.price() / spacing, spacing
    interval = per_job_price(read, len(jobs), reads_per_interval)
    if probe_due(measure, len(jobs), read, round=round, overshoot=traits.overshoot):
        # A probe may end up costing its budget AND the per-job reads: priced pessimistically.
        return ListPlan(scope, jobs, budget, pages, probe=True), interval + Price(1, per_job.bytes, 0.0), 1
    return None, interval, 1


def choose_round(
    watched: Mapping[str, Scope],
    read: ReadCost,
    lists: Mapping[Scope, ListCost],
    traits: Traits,
    *,
    round: int,
    unread: Iterable[str] = (),
    reads_per_interval: float | None = None,
) -> RoundPlan:
    """How to read the ``watched`` jobs (id -> collection, None when not known yet) this round.

    ``unread`` jobs were never read in full: they are read one by one (their collection is learnt there),
    except where the API pages (Zilliz Cloud): its list has no filter, so a page of it serves their first
    sight as well, even before any read was measured (a first page costs one request, per-job reads one each).
    The lightest of per-job reads, one list of everything, and (where the API filters) one list per
    collection (each only where it pays) is taken; when no measured list pays, a list due a new measure
    is probed within the budget of the reads it stands in for. ``reads_per_interval``: where a rate limit
    paces the reads (Zilliz Cloud), the reads one interval lets through; a list dearer than that many reads
    is then made once every few intervals (``RoundPlan.spacing``) where that still sees each job sooner.
    """
    cap = reads_per_interval if traits.rate_limited else None
    first = frozenset() if traits.paged else frozenset(unread)
    known = {job: scope for job, scope in watched.items() if job not in first}
    if not known or (read.samples == 0 and not traits.paged):
        return RoundPlan(direct=frozenset(watched), reason="per-job: nothing measured yet")
    everything = frozenset(known)
    per_job = RoundPlan(direct=frozenset(watched), reason="per-job: cheaper than any list")
    options: list[tuple[Price, RoundPlan]] = [(per_job_price(read, len(everything), cap), per_job)]
    collections: dict[str, set[str]] = {}
    for job, scope in known.items():
        if scope:
            collections.setdefault(scope, set()).add(job)
    if traits.filters and collections:
        plans: list[ListPlan] = []
        price = per_job_price(read, sum(1 for scope in known.values() if not scope), cap)
        spacings = []
        for collection, jobs in sorted(collections.items()):
            plan, part, spacing = _scope_plan(
                collection, frozenset(jobs), lists.get(collection), read, traits, round=round, reads_per_interval=cap
            )
            price += part
            if plan is not None:
                plans.append(plan)
                spacings.append(spacing)
        if plans:
            served = frozenset().union(*(p.jobs for p in plans))
            probes = sum(p.probe for p in plans)
            why = f"{len(plans)} collection list(s)" + (f", {probes} probed" if probes else "")
            by_collection = RoundPlan(tuple(plans), first | (everything - served), why, spacing=min(spacings))
            options.append((price, by_collection))
    # One list of everything pays beside per-collection lists only by saving requests (several collections,
    # or collections not known): a collection's list found too dear says the whole list is too.
    covered = traits.filters and len(collections) <= 1 and len(everything) == sum(map(len, collections.values()))
    superset_too_dear = traits.filters and any(
        lists.get(c) is not None and not worth_listing(lists.get(c), len(jobs), read, reads_per_interval=cap)
        for c, jobs in collections.items()
    )
    if not covered and not superset_too_dear:
        plan, price, spacing = _scope_plan(
            None, everything, lists.get(None), read, traits, round=round, reads_per_interval=cap
        )
        if plan is not None:
            every = f" every {spacing} intervals" if spacing > 1 else ""
            why = "probe one list" if plan.probe else f"one list{every}"
            options.append((price, RoundPlan((plan,), first, why, spacing=spacing)))
    measured = [o for o in options if not any(p.probe for p in o[1].lists)]
    best = min(measured, key=lambda o: (o[0].weight, len(o[1].lists)))
    if best[1] is per_job:
        probing = [o for o in options if any(p.probe for p in o[1].lists)]
        if probing:
            return min(probing, key=lambda o: (len(o[1].lists), o[0].weight))[1]
    return best[1]


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
    running_from_list: bool = False,
    need_sample: bool = False,
) -> tuple[list[str], list[str]]:
    """Split the listed jobs into those read in full this round and those served from the list.

    A full read is needed for a job never read, missing from the list, whose state changed, that
    ended (the final state is always read in full) or whose last full read is older than its refresh.
    ``listing_is_full``: the list's entries are complete states (gRPC ListImportTasks).
    ``running_from_list``: a job that has not ended is served from the list, its first sight and its changes
    of state alike (Zilliz Cloud, where every request counts against the rate limit: its rows and progress
    come with its final read, or its refresh); ``need_sample``: no read was measured yet, so one job is read
    in full all the same (the cost model prices per-job reads from it).
    """
    fetch: list[str] = []
    from_list: list[str] = []
    for job_id in watched:
        summary = listed.get(job_id)
        last = known.get(job_id, Known(None))
        stale = now - last.fetched_at >= last.refresh
        if summary is None:
            fetch.append(job_id)  # not in the list (another database, an old job): read it directly
        elif listing_is_full or (running_from_list and not summary.is_terminal and (last.state is None or not stale)):
            from_list.append(job_id)
        elif last.state is None or last.state.state != summary.state or summary.is_terminal or stale:
            fetch.append(job_id)
        else:
            from_list.append(job_id)
    if need_sample and not fetch and from_list:
        fetch.append(from_list.pop(0))
    return fetch, from_list
