"""What a watcher has delivered, and what a new listing of the collection's jobs means for it (no I/O).

A watcher begins with a baseline: every job already ended when it first listed the collection counts as
seen (it completed before the watcher began). Later, each job that is listed Completed and not yet seen is
a candidate; the trigger reads it once more (``describe``) and :func:`settle` says whether it gives an
event. A delivered or failed job is added to ``seen`` before its event leaves the trigger, so it never
gives a second one; ids the server no longer lists (retention) are dropped from ``seen``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final

from airflow_provider_milvus.assets import import_event_extra
from airflow_provider_milvus.exceptions import MilvusImportError
from airflow_provider_milvus.state import BulkInsertState

#: Version of the stored ledger's shape; another version is not read (the watcher starts over).
LEDGER_VERSION: Final = 1
#: Ids a list answers for jobs it cannot name: legacy gRPC ``ListImportTasks`` on Milvus 2.4+ says 0 for all.
UNNAMED_IDS: Final = frozenset({"", "0"})
#: Seconds a server's clock may run behind the triggerer's before a completion counts as "before the watcher".
CLOCK_SKEW: Final = 300.0


def is_named(state: BulkInsertState) -> bool:
    """Whether a listed job carries a usable id (not the 0 of legacy gRPC lists on Milvus 2.4+)."""
    return state.task_id not in UNNAMED_IDS


@dataclass(frozen=True)
class WatchLedger:
    """The watcher's memory: when it began (epoch seconds) and the job ids it must not announce again."""

    began_at: float
    seen: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def begin(cls, listed: Iterable[BulkInsertState], now: float) -> WatchLedger:
        """The baseline: jobs that already ended are seen; jobs still running will be announced when they complete."""
        return cls(began_at=now, seen=frozenset(s.task_id for s in listed if is_named(s) and s.is_terminal))

    @classmethod
    def from_stored(cls, value: Any) -> WatchLedger | None:
        """Read a stored ledger back; anything else (nothing stored, another shape) is ``None``."""
        if not isinstance(value, Mapping) or value.get("version") != LEDGER_VERSION:
            return None
        began_at, seen = value.get("began_at"), value.get("seen")
        if isinstance(began_at, bool) or not isinstance(began_at, int | float) or not isinstance(seen, list):
            return None
        if not all(isinstance(job_id, str) for job_id in seen):
            return None
        return cls(began_at=float(began_at), seen=frozenset(seen))

    def to_stored(self) -> dict[str, Any]:
        """Plain JSON for the state store; ids sorted so that equal ledgers store equal values."""
        return {"version": LEDGER_VERSION, "began_at": self.began_at, "seen": sorted(self.seen)}

    def with_seen(self, job_id: str) -> WatchLedger:
        """This ledger with one more job that must not be announced (delivered, failed or older)."""
        return self if job_id in self.seen else replace(self, seen=self.seen | {job_id})

    def review(self, listed: Iterable[BulkInsertState], *, complete: bool = True) -> Review:
        """What one listing of the collection means: candidates to confirm, failures to remember, ids to forget.

        ``complete``: the listing holds every job the server remembers, so a seen id missing from it was
        forgotten (retention) and can be dropped; a partial listing forgets nothing.
        """
        by_id: dict[str, BulkInsertState] = {}
        for state in listed:
            if not is_named(state):
                continue
            known = by_id.get(state.task_id)
            # One job listed twice: a Completed entry wins (it is the one that matters for an event).
            if known is None or (state.succeeded and not known.succeeded):
                by_id[state.task_id] = state
        seen = set(self.seen)
        if complete:
            seen &= set(by_id)
        candidates: list[BulkInsertState] = []
        for job_id, state in by_id.items():
            if job_id in seen:
                continue
            if state.succeeded:
                candidates.append(state)
            elif state.failed:
                seen.add(job_id)
        candidates.sort(key=_job_order)
        return Review(candidates=tuple(candidates), ledger=replace(self, seen=frozenset(seen)))


def _job_order(state: BulkInsertState) -> tuple[int, int, str]:
    """Oldest first: numeric Milvus ids grow with time; other ids (Zilliz ``job-...``) by name."""
    return (0, int(state.task_id), "") if state.task_id.isdigit() else (1, 0, state.task_id)


@dataclass(frozen=True)
class Review:
    """The result of :meth:`WatchLedger.review`: jobs listed Completed and not yet seen, and the updated ledger."""

    candidates: tuple[BulkInsertState, ...]
    ledger: WatchLedger


@dataclass(frozen=True)
class Settlement:
    """What to do about one candidate: announce ``event_state`` (if set) and keep ``ledger``; ``why`` for the log."""

    ledger: WatchLedger
    event_state: BulkInsertState | None
    why: str


def completed_at(state: BulkInsertState) -> float | None:
    """The job's completion time (epoch seconds) where the server gave one (REST ``completeTime``)."""
    text = state.complete_time.strip()
    if not text:
        return None
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:  # servers write local time; without a zone it cannot be compared safely
        return None
    return moment.timestamp()


def settle(ledger: WatchLedger, listed: BulkInsertState, described: BulkInsertState | MilvusImportError) -> Settlement:
    """Decide about a job the list says Completed, given what reading it once more (``describe``) answered.

    - Completed: one event (none if its completion time is known to precede the watcher's start).
    - Failed: no event, remembered. Not ended (the list ran ahead, or progress fell back): wait for it.
    - A retryable read error: try again next round. Any other error (the job was just forgotten, or the
      route is missing): the list's word is taken and the listed state is announced.
    """
    job_id = listed.task_id
    if isinstance(described, MilvusImportError):
        if described.retryable:
            return Settlement(ledger, None, f"reading job {job_id} failed, retrying next round: {described}")
        return Settlement(
            ledger.with_seen(job_id), listed, f"job {job_id} listed Completed (not readable: {described})"
        )
    if described.failed:
        return Settlement(ledger.with_seen(job_id), None, f"job {job_id} failed: {described.failed_reason}")
    if not described.succeeded:
        return Settlement(ledger, None, f"job {job_id} is {described.state_name} again ({described.progress} %)")
    finished = completed_at(described)
    if finished is not None and finished < ledger.began_at - CLOCK_SKEW:
        return Settlement(ledger.with_seen(job_id), None, f"job {job_id} completed before the watcher began")
    state = described if described.task_id not in UNNAMED_IDS else replace(described, task_id=job_id)
    return Settlement(ledger.with_seen(job_id), state, f"job {job_id} completed: {state.row_count} rows")


def event_payload(state: BulkInsertState, db_name: str) -> dict[str, Any]:
    """The watcher's event payload: the operator's asset event ``extra`` plus the whole state (JSON only).

    ``files`` stays a list on every release: Airflow stores a watcher's payload as JSON, never hashing it.
    """
    return {**import_event_extra(state, db_name, hashed=False), "state": state.to_dict()}
