"""MilvusImportOperator: job_id pushed at once, deferring, each event, no-wait, and the in-worker wait."""

from __future__ import annotations

from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException, TaskDeferred

from airflow_provider_milvus import BulkInsertState
from airflow_provider_milvus.events import make_event
from airflow_provider_milvus.hooks.milvus_import import MilvusImportHook
from airflow_provider_milvus.operators.milvus_import import MilvusImportOperator
from airflow_provider_milvus.triggers.milvus_import import MilvusImportTrigger
from tests.airflow_context import make_context

DONE = BulkInsertState(task_id="42", state=6, progress=100, row_count=1000)
FAILED = BulkInsertState(task_id="42", state=1, failed_reason="failed to get file size of '/x.json'")


def fake_server(monkeypatch: pytest.MonkeyPatch, states: list[BulkInsertState]) -> list[tuple[Any, ...]]:
    calls: list[tuple[Any, ...]] = []

    def start_import(self: MilvusImportHook, *args: Any, idempotency_key: str | None = None) -> str:
        calls.append(args)
        return "42"

    def get_import_state(self: MilvusImportHook, job_id: str, db_name: str | None = None) -> BulkInsertState:
        return states.pop(0) if len(states) > 1 else states[0]

    monkeypatch.setattr(MilvusImportHook, "start_import", start_import)
    monkeypatch.setattr(MilvusImportHook, "get_import_state", get_import_state)
    monkeypatch.setattr(MilvusImportHook, "protocol", property(lambda self: "rest"))
    return calls


def operator(**kwargs: Any) -> MilvusImportOperator:
    base = {"task_id": "load", "collection_name": "c", "files": ["/data/a.json"], "poll_interval": 0.01}
    return MilvusImportOperator(**(base | kwargs))


def test_starts_pushes_job_id_and_defers(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = fake_server(monkeypatch, [DONE])
    context = make_context()
    with pytest.raises(TaskDeferred) as deferred:
        operator(partition_name="p", options={"sep": ","}, timeout=60).execute(context)
    assert calls == [("c", ["/data/a.json"], "p", None, {"sep": ","})]
    assert context["ti"].pushed["job_id"] == "42"
    trigger = deferred.value.trigger
    assert isinstance(trigger, MilvusImportTrigger)
    assert trigger.serialize()[1]["protocol"] == "rest" and trigger.serialize()[1]["end_time"] is not None


def test_no_wait_returns_after_the_start(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_server(monkeypatch, [DONE])
    context = make_context()
    assert operator(wait_for_completion=False).execute(context) is None
    assert context["ti"].pushed == {"job_id": "42"}


def test_waits_in_the_worker_when_not_deferrable(monkeypatch: pytest.MonkeyPatch) -> None:
    running = BulkInsertState(task_id="42", state=2, progress=50)
    fake_server(monkeypatch, [running, running, DONE])
    context = make_context()
    assert operator(deferrable=False).execute(context) == DONE.to_dict()
    assert context["ti"].pushed["return_value"] == DONE.to_dict()


def test_failed_import_in_the_worker_pushes_then_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_server(monkeypatch, [FAILED])
    context = make_context()
    # Retryable: a retry of the task starts a new import after a failed one.
    with pytest.raises(AirflowException, match="failed to get file size") as raised:
        operator(deferrable=False).execute(context)
    assert not isinstance(raised.value, AirflowFailException)
    assert context["ti"].pushed["return_value"]["failed_reason"] == FAILED.failed_reason


def test_execute_complete_on_each_event() -> None:
    context = make_context()
    assert operator().execute_complete(context, make_event("success", "42", DONE, "ok")) == DONE.to_dict()
    with pytest.raises(AirflowException, match="failed") as raised:
        operator().execute_complete(make_context(), make_event("failed", "42", FAILED, "failed"))
    assert not isinstance(raised.value, AirflowFailException)
    with pytest.raises(AirflowException, match="deadline"):
        operator().execute_complete(make_context(), make_event("timeout", "42", None, "deadline"))
    with pytest.raises(AirflowException, match="refused"):
        operator().execute_complete(make_context(), make_event("error", "42", None, "refused"))


def test_bad_settings_fail_at_parse_time() -> None:
    with pytest.raises(ValueError, match="on_stall"):
        operator(on_stall="panic")
    with pytest.raises(ValueError, match="poll_interval"):
        operator(poll_interval=0)


def test_templated_fields() -> None:
    assert {"collection_name", "files", "partition_name", "db_name", "options"} <= set(
        MilvusImportOperator.template_fields
    )


def test_a_staged_success_counts_only_for_auto_commit_false() -> None:
    staged = BulkInsertState(task_id="42", state=2, progress=99, row_count=1000, server_state="Uncommitted")
    event = make_event("success", "42", staged, "staged")
    context = make_context()
    assert operator(auto_commit=False).execute_complete(context, event)["server_state"] == "Uncommitted"
    assert context["ti"].pushed["return_value"]["server_state"] == "Uncommitted"
    with pytest.raises(AirflowException, match="without a Completed state"):
        operator().execute_complete(make_context(), event)
