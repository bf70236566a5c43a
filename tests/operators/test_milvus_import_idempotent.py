"""``execute_complete`` is idempotent: a trigger event delivered twice gives the same outcome and XCom.

Triggers can run in two triggerers during a handover, so the same event may reach the task twice.
"""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_milvus import BulkInsertState
from airflow_provider_milvus.events import make_event
from airflow_provider_milvus.operators.milvus_import import MilvusImportOperator
from tests.airflow_context import make_context

DONE = BulkInsertState(task_id="42", state=6, progress=100, row_count=1000, collection_name="c", files=["/a.json"])
FAILED = BulkInsertState(task_id="42", state=1, failed_reason="no such file", collection_name="c")
EVENTS = [
    make_event("success", "42", DONE, "completed"),
    make_event("failed", "42", FAILED, "no such file"),
    make_event("timeout", "42", None, "deadline passed"),
    make_event("error", "42", None, "retries exhausted"),
    {"status": "success", "job_id": "42", "state": None},  # malformed: success without a state
]


def outcome(call: Any) -> tuple[str, Any]:
    """What a call ended with: its return value, or the exception's type and message."""
    try:
        return "returned", call()
    except Exception as error:
        return type(error).__name__, str(error)


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: str(e["status"]) + ("" if e.get("message") else "-bad"))
def test_operator_same_event_twice_same_outcome_and_xcom(event: dict[str, Any]) -> None:
    op = MilvusImportOperator(task_id="load", collection_name="c", files=["/a.json"])
    context = make_context()
    first = outcome(lambda: op.execute_complete(context, dict(event)))
    pushed = dict(context["ti"].pushed)
    second = outcome(lambda: op.execute_complete(context, dict(event)))
    assert first == second and context["ti"].pushed == pushed
    assert first == ("returned", DONE.to_dict()) if event.get("state") == DONE.to_dict() else first[0] != "returned"
    # A fresh task process (the second delivery resumes a new one) ends the same way too.
    fresh = make_context()
    third = outcome(
        lambda: MilvusImportOperator(task_id="load", collection_name="c", files=["/a.json"]).execute_complete(
            fresh, dict(event)
        )
    )
    assert third == first and fresh["ti"].pushed == pushed
