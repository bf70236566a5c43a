"""MilvusImportSensor: deferring, each trigger event, poke mode, soft_fail, XCom in every outcome."""

from __future__ import annotations

from typing import Any

import pytest
from airflow.providers.common.compat.sdk import (
    AirflowException,
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    PokeReturnValue,
    TaskDeferred,
)

from airflow_provider_milvus import BulkInsertState
from airflow_provider_milvus import exceptions as exc
from airflow_provider_milvus.events import make_event
from airflow_provider_milvus.hooks.milvus_import import MilvusImportHook
from airflow_provider_milvus.sensors.milvus_import import MilvusImportSensor
from airflow_provider_milvus.triggers.milvus_import import MilvusImportTrigger
from tests.airflow_context import make_context

DONE = BulkInsertState(task_id="42", state=6, progress=100, row_count=1000)
FAILED = BulkInsertState(task_id="42", state=1, failed_reason="array size 4 doesn't equal to vector dimension 8")
RUNNING = BulkInsertState(task_id="42", state=2, progress=40, row_count=400)
#: A two-phase import waiting for its commit: a success only for a wait that asked for it (auto_commit=False).
STAGED = BulkInsertState(task_id="42", state=2, progress=99, row_count=1000, server_state="Uncommitted")


def answer_with(monkeypatch: pytest.MonkeyPatch, answer: BulkInsertState | Exception) -> None:
    def get_import_state(self: MilvusImportHook, job_id: str, db_name: str | None = None) -> BulkInsertState:
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(MilvusImportHook, "get_import_state", get_import_state)
    monkeypatch.setattr(MilvusImportHook, "protocol", property(lambda self: "grpc"))


def sensor(**kwargs: Any) -> MilvusImportSensor:
    return MilvusImportSensor(**({"task_id": "wait", "job_id": "42", "poke_interval": 7, "timeout": 600} | kwargs))


def test_defers_while_running(monkeypatch: pytest.MonkeyPatch) -> None:
    answer_with(monkeypatch, RUNNING)
    with pytest.raises(TaskDeferred) as deferred:
        sensor(stall_timeout=60).execute(make_context())
    trigger = deferred.value.trigger
    assert isinstance(trigger, MilvusImportTrigger)
    _, kwargs = trigger.serialize()
    assert (kwargs["job_id"], kwargs["poll_interval"], kwargs["protocol"], kwargs["stall_timeout"]) == (
        "42",
        7.0,
        "grpc",
        60,
    )
    assert kwargs["end_time"] is not None
    assert deferred.value.method_name == "execute_complete"


def test_retryable_first_read_still_defers(monkeypatch: pytest.MonkeyPatch) -> None:
    answer_with(monkeypatch, exc.MilvusImportServerBusyError("503", server="s"))
    with pytest.raises(TaskDeferred):
        sensor().execute(make_context())


def test_permanent_first_read_fails_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    answer_with(monkeypatch, exc.MilvusImportJobNotFoundError("unknown job", job_id="42", server="s"))
    with pytest.raises(AirflowException, match="unknown job"):
        sensor().execute(make_context())


def test_already_completed_finishes_without_deferring(monkeypatch: pytest.MonkeyPatch) -> None:
    answer_with(monkeypatch, DONE)
    context = make_context()
    assert sensor().execute(context) == DONE.to_dict()
    assert context["ti"].pushed["return_value"] == DONE.to_dict()


@pytest.mark.parametrize("job_id", ["", "  ", "None"])
def test_empty_job_id_is_refused(job_id: str) -> None:
    with pytest.raises(AirflowException, match="job_id is empty"):
        sensor(job_id=job_id).execute(make_context())


def test_success_event_returns_and_pushes_the_state() -> None:
    context = make_context()
    result = sensor().execute_complete(context, make_event("success", "42", DONE, "done"))
    assert result == DONE.to_dict() and context["ti"].pushed["return_value"] == DONE.to_dict()


def test_failed_event_pushes_then_fails_with_the_reason() -> None:
    context = make_context()
    with pytest.raises(AirflowFailException, match="vector dimension 8"):
        sensor().execute_complete(
            context, make_event("failed", "42", FAILED, "failed: array size 4 doesn't equal to vector dimension 8")
        )
    assert context["ti"].pushed["return_value"]["failed_reason"] == FAILED.failed_reason


def test_failed_event_with_soft_fail_skips() -> None:
    with pytest.raises(AirflowSkipException):
        sensor(soft_fail=True).execute_complete(make_context(), make_event("failed", "42", FAILED, "failed"))


def test_timeout_event_is_a_sensor_timeout() -> None:
    context = make_context()
    with pytest.raises(AirflowSensorTimeout):
        sensor().execute_complete(context, make_event("timeout", "42", RUNNING, "deadline"))
    assert context["ti"].pushed["return_value"]["progress"] == 40


def test_error_event_fails() -> None:
    with pytest.raises(AirflowException, match="refused"):
        sensor().execute_complete(make_context(), make_event("error", "42", None, "credentials refused"))


@pytest.mark.parametrize(
    "event",
    [
        None,
        "success",
        {"status": "success", "job_id": "42", "state": None, "message": ""},
        {"status": "success", "job_id": "42", "state": RUNNING.to_dict(), "message": ""},
        {"status": "weird", "job_id": "42", "state": DONE.to_dict(), "message": ""},
        {"status": "success", "job_id": "42", "state": {"task_id": 1}, "message": ""},
        {"status": "success", "job_id": "42", "state": STAGED.to_dict(), "message": "staged"},
    ],
)
def test_anything_but_a_completed_success_fails_closed(event: Any) -> None:
    with pytest.raises(AirflowException):
        sensor().execute_complete(make_context(), event)


def test_poke_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    s = sensor(deferrable=False)
    answer_with(monkeypatch, RUNNING)
    assert s.poke(make_context()) is False
    answer_with(monkeypatch, exc.MilvusImportConnectionError("refused", server="s"))
    assert s.poke(make_context()) is False
    answer_with(monkeypatch, DONE)
    done = s.poke(make_context())
    assert isinstance(done, PokeReturnValue) and done.xcom_value == DONE.to_dict()
    answer_with(monkeypatch, FAILED)
    context = make_context()
    with pytest.raises(AirflowFailException):
        s.poke(context)
    assert context["ti"].pushed["return_value"]["state_name"] == "Failed"
    answer_with(monkeypatch, exc.MilvusImportAuthError("refused credentials", server="s"))
    with pytest.raises(AirflowException, match="refused credentials"):
        s.poke(make_context())


def test_job_id_is_templated() -> None:
    assert "job_id" in MilvusImportSensor.template_fields
