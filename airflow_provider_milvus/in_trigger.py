"""A wait that begins (``start_from_trigger``) and ends (``end_from_trigger``) in the triggerer.

The sensor checks, when the DAG is parsed, that the running Airflow can do what was asked, and
refuses with the reason and the alternative where it cannot; the trigger turns its outcome into
the event that ends the task in the triggerer. What each release can do comes from
``version_compat``.
"""

from __future__ import annotations

from typing import Any

from airflow.triggers.base import TaskFailedEvent, TaskSkippedEvent, TaskSuccessEvent, TriggerEvent

from airflow_provider_milvus.events import TIMEOUT, read_event
from airflow_provider_milvus.version_compat import (
    RENDERS_START_TRIGGER_TEMPLATES,
    STARTS_TASKS_IN_TRIGGERER,
    TRIGGER_FAILURE_RETRIES,
    get_base_airflow_version_tuple,
)

#: The payloads Airflow resumes a task with when it runs an end event on a worker (``dag.test()``).
END_EVENT_STATES = frozenset({"success", "failed", "skipped"})


def _airflow() -> str:
    return "Airflow " + ".".join(map(str, get_base_airflow_version_tuple()))


def check_start_from_trigger(task_id: str, templated: list[str]) -> None:
    """Refuse ``start_from_trigger`` where the scheduler would start the task on a worker anyway."""
    if not STARTS_TASKS_IN_TRIGGERER:
        raise ValueError(
            f"{task_id}: start_from_trigger=True cannot begin the wait in the triggerer on {_airflow()}: its "
            "scheduler starts such tasks on a worker (Airflow 3.1 and 3.2 disable that code, apache/airflow#66307). "
            "Remove start_from_trigger (the sensor still waits in the triggerer, with a worker start to begin "
            "and one to end; end_from_trigger=True saves the second), or upgrade to Airflow 3.3"
        )
    if templated and not RENDERS_START_TRIGGER_TEMPLATES:
        raise ValueError(
            f"{task_id}: start_from_trigger needs {', '.join(templated)} known when the DAG is parsed "
            "on this Airflow (templates are rendered in the triggerer from Airflow 3.3)"
        )


def listeners_registered() -> bool:
    """True when Airflow has listeners (OpenLineage's, a plugin's): it then refuses ``end_from_trigger`` tasks."""
    from airflow.listeners.listener import get_listener_manager

    return bool(get_listener_manager().has_listeners)


def check_end_from_trigger(task_id: str, *, deferrable: bool, retries: int, emit_asset: bool) -> None:
    """Refuse ``end_from_trigger`` where the task could not end in the triggerer correctly."""
    reasons = []
    if not deferrable:
        reasons.append("it waits in the triggerer, so it needs deferrable=True")
    if emit_asset:
        reasons.append(
            "emit_asset=True needs a worker to emit the collection's asset event after the wait; "
            "use emit_asset=False (the operator that imported can emit it) or end_from_trigger=False"
        )
    if retries and not TRIGGER_FAILURE_RETRIES:
        reasons.append(
            f"a failure ended in the triggerer ignores retries on {_airflow()} (fixed in 3.3.1, "
            f"apache/airflow#69821), and this task has retries={retries}; set retries=0 or use "
            "end_from_trigger=False (a worker then ends the wait and its retries apply)"
        )
    if listeners_registered():
        reasons.append(
            "Airflow refuses a DAG with end_from_trigger while listeners (such as OpenLineage's) are "
            "registered, as they would miss the task's end; use end_from_trigger=False, or turn the "
            "listener off (OpenLineage: [openlineage] disabled = True)"
        )
    if reasons:
        raise ValueError(f"{task_id}: end_from_trigger=True cannot work here: " + "; ".join(reasons))


def end_event(payload: dict[str, Any], *, soft_fail: bool) -> TriggerEvent:
    """The event that ends the task in the triggerer, with the final state as its ``return_value`` XCom.

    Completed: success. Failed or unreadable: failed (the task's retries apply on 3.3.1+), or skipped
    with ``soft_fail``. A timeout is left to a worker (the plain event resumes the task), so it fails
    without retries like every sensor timeout, as Airflow's own trigger timeout does.
    """
    outcome = read_event(payload, str(payload.get("job_id") or ""))
    if outcome.status == TIMEOUT:
        return TriggerEvent(payload)
    xcoms: dict[str, Any] | None = {"return_value": outcome.state.to_dict()} if outcome.state is not None else None
    if outcome.succeeded:
        return TaskSuccessEvent(xcoms=xcoms)
    if soft_fail:
        return TaskSkippedEvent(xcoms=xcoms)
    return TaskFailedEvent(xcoms=xcoms)
