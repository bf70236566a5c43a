"""The trigger's event payload (fixed by the contract): made by the trigger, read by sensor and operator."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from airflow_provider_milvus.state import BulkInsertState

SUCCESS: Final = "success"
FAILED: Final = "failed"
TIMEOUT: Final = "timeout"
ERROR: Final = "error"
STATUSES: Final = (SUCCESS, FAILED, TIMEOUT, ERROR)


def make_event(status: str, job_id: str, state: BulkInsertState | None, message: str) -> dict[str, Any]:
    """``{"status", "job_id", "state", "message"}`` with plain JSON values only."""
    if status not in STATUSES:
        raise ValueError(f"event status {status!r} is not one of {STATUSES}")
    return {"status": status, "job_id": job_id, "state": state.to_dict() if state else None, "message": message}


@dataclass(frozen=True)
class ImportOutcome:
    """A checked event payload; anything malformed reads as an ``error`` outcome, never as success."""

    status: str
    job_id: str
    state: BulkInsertState | None
    message: str
    #: The wait was for a staged two-phase import (``auto_commit=False``): Uncommitted counts as success too.
    accept_staged: bool = False

    def to_event(self) -> dict[str, Any]:
        """The contract's event payload for this outcome."""
        return make_event(self.status, self.job_id, self.state, self.message)

    @property
    def succeeded(self) -> bool:
        """Success only when the event says so AND carries a state the server reported Completed."""
        if self.status != SUCCESS or self.state is None:
            return False
        return self.state.succeeded or (self.accept_staged and self.state.staged)


def read_event(event: Any, job_id: str = "", *, accept_staged: bool = False) -> ImportOutcome:
    """Read a trigger event payload, failing closed: an unreadable payload is an ``error`` outcome.

    ``accept_staged``: a success may carry an Uncommitted state (a wait with ``staged_is_done``).
    """
    if not isinstance(event, dict):
        return ImportOutcome(ERROR, job_id, None, f"the trigger sent an unreadable event: {type(event).__name__}")
    status = event.get("status")
    raw_message, raw_job = event.get("message"), event.get("job_id")
    message = raw_message if isinstance(raw_message, str) else ""
    event_job = raw_job if isinstance(raw_job, str) and raw_job else job_id
    state: BulkInsertState | None = None
    raw_state = event.get("state")
    if raw_state is not None:
        try:
            state = BulkInsertState.from_dict(raw_state)
        except (TypeError, ValueError) as error:
            return ImportOutcome(ERROR, event_job, None, f"the trigger sent an unreadable state: {error}")
    if status not in STATUSES:
        return ImportOutcome(ERROR, event_job, state, f"the trigger sent an unknown status {status!r}: {message}")
    outcome = ImportOutcome(str(status), event_job, state, message, accept_staged)
    if status == SUCCESS and not outcome.succeeded:
        return ImportOutcome(
            ERROR, event_job, state, f"the trigger reported success without a Completed state: {message}"
        )
    return outcome


def outcome_of(state: BulkInsertState, *, accept_staged: bool = False) -> ImportOutcome:
    """The outcome of a terminal state read directly (not through a trigger); ``accept_staged``: Uncommitted ends it."""
    if state.succeeded:
        return ImportOutcome(
            SUCCESS, state.task_id, state, f"import job {state.task_id} completed: {state.row_count} rows"
        )
    if accept_staged and state.staged:
        message = f"import job {state.task_id} staged: {state.row_count} rows wait for a commit"
        return ImportOutcome(SUCCESS, state.task_id, state, message, accept_staged)
    if state.failed:
        reason = state.failed_reason or "the server gave no reason"
        return ImportOutcome(FAILED, state.task_id, state, f"import job {state.task_id} {state.state_name}: {reason}")
    return ImportOutcome(ERROR, state.task_id, state, f"import job {state.task_id} has not ended: {state.state_name}")
