"""Ending a task on an import's outcome: shared by the sensor and the operator.

The final state is pushed as ``return_value`` before anything is raised, so a
downstream task with ``trigger_rule="all_done"`` can read ``failed_reason``.
Only a state the server reported Completed ends the task successfully.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.common.compat.sdk import (
    AirflowException,
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
)

from airflow_provider_milvus.events import FAILED, TIMEOUT, ImportOutcome


def push_state(context: Any, outcome: ImportOutcome) -> None:
    """Push the outcome's state as the task's ``return_value`` XCom, where one was read."""
    if outcome.state is not None:
        context["ti"].xcom_push(key="return_value", value=outcome.state.to_dict())


def complete(context: Any, outcome: ImportOutcome, *, soft_fail: bool = False, sensor: bool = False) -> dict[str, Any]:
    """Return the final state's dict on success; otherwise push it and raise the matching Airflow error."""
    push_state(context, outcome)
    if outcome.succeeded:
        assert outcome.state is not None
        return outcome.state.to_dict()
    message = f"Milvus import job {outcome.job_id}: {outcome.message}"
    if soft_fail and outcome.status in (FAILED, TIMEOUT):
        raise AirflowSkipException(message)
    if outcome.status == TIMEOUT and sensor:
        raise AirflowSensorTimeout(message)
    if outcome.status == FAILED and sensor:
        raise AirflowFailException(message)  # the sensor's job failed: no retry of the sensor changes that
    # The operator's failed job, a timeout or an error: a retry may help (it starts a new import
    # only after a failure, and reattaches to the job otherwise).
    raise AirflowException(message)
