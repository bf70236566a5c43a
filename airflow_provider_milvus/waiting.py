"""Waiting for one import job, as a sans-I/O generator driven by the trigger (async) or a worker (sync).

The generator yields :class:`ReadState` (read the job now) or :class:`Pause`
(wait this long) and receives a BulkInsertState or the MilvusImportError the
read raised. It returns the contract's event payload. Retries, backoff, the
deadline, stall detection and progress logging are written here once.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from typing import Any, Final

from airflow_provider_milvus.events import ERROR, SUCCESS, TIMEOUT, make_event, outcome_of
from airflow_provider_milvus.exceptions import MilvusImportError
from airflow_provider_milvus.state import BulkInsertState

ON_STALL: Final = ("warn", "fail")


@dataclass(frozen=True)
class ReadState:
    """Instruction: read the job's state now and send back the state or the error."""


@dataclass(frozen=True)
class Pause:
    """Instruction: wait this many seconds; ``backoff`` marks a pause after a failed read."""

    seconds: float
    backoff: bool = False


WaitOperation = Generator[ReadState | Pause, BulkInsertState | MilvusImportError | None, dict[str, Any]]


@dataclass(frozen=True)
class WaitSettings:
    """How to wait: poll interval, deadline (epoch seconds), retry budget and stall handling."""

    poll_interval: float = 10.0
    end_time: float | None = None
    max_attempts: int = 10
    stall_timeout: float | None = None
    on_stall: str = "warn"
    #: A two-phase import started with ``auto_commit=False``: its wait ends successfully once it is staged.
    staged_is_done: bool = False

    def __post_init__(self) -> None:
        for name in ("poll_interval", "stall_timeout", "end_time"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
                raise ValueError(f"{name} must be a number of seconds, got {type(value).__name__} {value!r}")
        if isinstance(self.max_attempts, bool) or not isinstance(self.max_attempts, int):
            raise ValueError(f"max_attempts must be a whole number, got {self.max_attempts!r}")
        if not self.poll_interval > 0:
            raise ValueError(f"poll_interval must be a positive number of seconds, got {self.poll_interval!r}")
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts!r}")
        if self.stall_timeout is not None and not self.stall_timeout > 0:
            raise ValueError(f"stall_timeout must be a positive number of seconds, got {self.stall_timeout!r}")
        if self.on_stall not in ON_STALL:
            raise ValueError(f"on_stall must be one of {ON_STALL}, got {self.on_stall!r}")


def backoff_delay(attempt: int, *, base: float = 1.0, cap: float = 60.0, retry_after: float | None = None) -> float:
    """Exponential backoff with full jitter for retry ``attempt`` (1, 2, ...); a server's Retry-After wins."""
    if retry_after is not None:
        return min(max(retry_after, 0.0), cap)
    return random.uniform(0, min(cap, base * 2 ** (attempt - 1)))


class ProgressLog:
    """Describes each change of state, progress and rows, with the rate and an estimate of the time left."""

    def __init__(self) -> None:
        self.last: BulkInsertState | None = None
        self.last_time = 0.0
        self.first_rows: tuple[float, int] | None = None

    def changed(self, state: BulkInsertState) -> bool:
        """True when state, progress or rows differ from the last state seen."""
        last = self.last
        return last is None or (last.state, last.progress, last.row_count) != (
            state.state,
            state.progress,
            state.row_count,
        )

    def describe(self, state: BulkInsertState, now: float) -> str:
        """One log line for a changed state; remembers it for the next rate."""
        text = state.summary()
        if self.first_rows is None and state.row_count:
            self.first_rows = (now, state.row_count)
        if self.last is not None and now > self.last_time:
            text += f" (+{state.row_count - self.last.row_count} rows in {now - self.last_time:.1f} s"
            if self.first_rows and now > self.first_rows[0] and state.row_count > self.first_rows[1]:
                rate = (state.row_count - self.first_rows[1]) / (now - self.first_rows[0])
                text += f", {rate:,.0f} rows/s"
                if state.total_rows and not state.is_terminal and rate > 0:
                    text += f", about {max(0, state.total_rows - state.row_count) / rate:.0f} s left"
            text += ")"
        self.last, self.last_time = state, now
        return text


def wait_for_job(
    job_id: str,
    settings: WaitSettings,
    log: logging.Logger | Any,
    *,
    clock: Callable[[], float] = time.time,
    monotonic: Callable[[], float] = time.monotonic,
) -> WaitOperation:
    """Poll ``job_id`` until it ends, the deadline passes, it stalls (``on_stall="fail"``) or cannot be read."""
    progress = ProgressLog()
    last: BulkInsertState | None = None
    attempt = 0
    last_change = monotonic()
    stall_reported = staged_reported = False

    def left(seconds: float) -> float:
        return seconds if settings.end_time is None else max(0.0, min(seconds, settings.end_time - clock()))

    def timeout_event(state: BulkInsertState | None) -> dict[str, Any]:
        seen = state.summary() if state else "its state was never read"
        return make_event(TIMEOUT, job_id, state, f"the wait for import job {job_id} ran past its deadline; {seen}")

    while True:
        answer = yield ReadState()
        if isinstance(answer, MilvusImportError):
            if not answer.retryable:
                log.error("Giving up on import job %s: %s", job_id, answer)
                return make_event(ERROR, job_id, last, str(answer))
            attempt += 1
            if attempt >= settings.max_attempts:
                message = f"could not read import job {job_id} after {attempt} attempts: {answer}"
                log.error("%s", message)
                return make_event(ERROR, job_id, last, message)
            if settings.end_time is not None and clock() >= settings.end_time:
                return timeout_event(last)
            delay = left(backoff_delay(attempt, base=min(settings.poll_interval, 5.0), retry_after=answer.retry_after))
            log.warning(
                "Reading import job %s failed (attempt %d of %d), retrying in %.1f s: %s",
                job_id,
                attempt,
                settings.max_attempts,
                delay,
                answer,
            )
            yield Pause(delay, backoff=True)
            continue
        if not isinstance(answer, BulkInsertState):
            raise TypeError(f"wait_for_job expects a BulkInsertState or a MilvusImportError, got {answer!r}")
        attempt = 0
        now = monotonic()
        if progress.changed(answer):
            log.info("%s", progress.describe(answer, now))
            last_change, stall_reported = now, False
        last = answer
        if answer.is_terminal:
            return outcome_of(answer).to_event()
        if answer.staged:
            if settings.staged_is_done:
                rows = f"{answer.row_count} rows" + (
                    f" of {answer.total_rows}" if answer.total_rows is not None else ""
                )
                return make_event(
                    SUCCESS,
                    job_id,
                    answer,
                    f"import job {job_id} is staged (Uncommitted, {rows}): it waits for a commit",
                )
            if not staged_reported:
                staged_reported = True
                log.info("%s", staged_message(job_id))
            last_change = now  # waiting for someone's commit is no stall
        if settings.stall_timeout is not None and not stall_reported and now - last_change >= settings.stall_timeout:
            stall_reported = True
            message = (
                f"import job {job_id} has not moved for {now - last_change:.0f} s "
                f"(stall_timeout {settings.stall_timeout:g} s): {answer.summary()}"
            )
            if settings.on_stall == "fail":
                log.error("%s", message)
                return make_event(TIMEOUT, job_id, answer, message)
            log.warning("%s; still waiting", message)
        if settings.end_time is not None and clock() >= settings.end_time:
            return timeout_event(answer)
        yield Pause(left(settings.poll_interval))


def staged_message(job_id: str) -> str:
    """What a wait says of a job that is staged (a two-phase import not yet committed)."""
    return (
        f"Import job {job_id} is staged (Uncommitted): its data is not visible yet; waiting for a commit "
        "(MilvusImportCommitOperator or the commit route)"
    )


def wait_sync(operation: WaitOperation, read: Callable[[], BulkInsertState]) -> dict[str, Any]:
    """Drive a wait in a worker: blocking reads and sleeps."""
    try:
        instruction = next(operation)
        while True:
            if isinstance(instruction, Pause):
                time.sleep(instruction.seconds)
                instruction = operation.send(None)
                continue
            try:
                answer: BulkInsertState | MilvusImportError = read()
            except MilvusImportError as error:
                answer = error
            instruction = operation.send(answer)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


async def _sleep(pause: Pause) -> None:
    await asyncio.sleep(pause.seconds)


async def wait_async(
    operation: WaitOperation,
    read: Callable[[], Awaitable[BulkInsertState]],
    pause: Callable[[Pause], Awaitable[None]] = _sleep,
) -> dict[str, Any]:
    """Drive a wait in the triggerer: awaited reads and pauses, never blocking the loop.

    ``pause`` lets a shared poller replace the poll-interval sleep by "until my next poll round".
    """
    try:
        instruction = next(operation)
        while True:
            if isinstance(instruction, Pause):
                await pause(instruction)
                instruction = operation.send(None)
                continue
            try:
                answer: BulkInsertState | MilvusImportError = await read()
            except MilvusImportError as error:
                answer = error
            instruction = operation.send(answer)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
