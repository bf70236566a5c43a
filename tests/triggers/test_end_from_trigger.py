"""MilvusImportTrigger(end_from_trigger=True): the event that ends the task in the triggerer, per outcome.

Success carries the final state as the ``return_value`` XCom; a failed or unreadable job ends the task
failed (skipped with ``soft_fail``) with the server's reason in the trigger's log; a timeout resumes
the task on a worker. On Airflow 3 the end events must survive the triggerer's own (pydantic) encoding
between the trigger process and its supervisor, which is what really carries them.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from airflow.triggers.base import TaskFailedEvent, TaskSkippedEvent, TaskSuccessEvent, TriggerEvent

from airflow_provider_milvus import exceptions as exc
from airflow_provider_milvus.triggers.milvus_import import MilvusImportTrigger
from airflow_provider_milvus.version_compat import AIRFLOW_V_3_0_PLUS
from tests.triggers.test_milvus_import import script, st

REASON = "array size 4 doesn't equal to vector dimension 8"


def trigger(**kwargs: Any) -> MilvusImportTrigger:
    return MilvusImportTrigger(**({"job_id": "42", "poll_interval": 0.01, "end_from_trigger": True} | kwargs))


async def only_event(t: MilvusImportTrigger) -> TriggerEvent:
    events = [event async for event in t.run()]
    assert len(events) == 1, events
    return events[0]


def state_name(event: TriggerEvent) -> str:
    return str(event.task_instance_state)  # type: ignore[attr-defined]


def through_the_triggerer(event: TriggerEvent) -> TriggerEvent:
    """The event as the triggerer's supervisor receives it from the trigger process (Airflow 3)."""
    if not AIRFLOW_V_3_0_PLUS:
        return event  # Airflow 2 submits the event object in the triggerer's own process
    from airflow.triggers.base import DiscrimatedTriggerEvent
    from pydantic import TypeAdapter

    adapter = TypeAdapter(DiscrimatedTriggerEvent)
    return adapter.validate_json(adapter.dump_json(event))  # type: ignore[no-any-return]


async def test_completed_ends_the_task_successfully_with_the_state_as_xcom(monkeypatch: pytest.MonkeyPatch) -> None:
    script(monkeypatch, [st(2, 40, 400), st(6, 100, 1000)])
    event = through_the_triggerer(await only_event(trigger()))
    assert isinstance(event, TaskSuccessEvent) and state_name(event) == "success"
    assert event.xcoms is not None
    state = event.xcoms["return_value"]
    assert (state["task_id"], state["state_name"], state["row_count"]) == ("42", "Completed", 1000)


class RecordingLog:
    """Stands in for the trigger's logger (Airflow 3's structlog bypasses caplog): (level, message) pairs."""

    def __init__(self) -> None:
        self.lines: list[tuple[int, str]] = []

    def _at(self, level: int) -> Any:
        return lambda message, *args, **kwargs: self.lines.append((level, message % args))

    def __getattr__(self, name: str) -> Any:
        return self._at(logging.getLevelName(name.upper()) if name != "exception" else logging.ERROR)


async def test_failed_job_ends_the_task_failed_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    script(monkeypatch, [st(1, reason=REASON)])
    log = RecordingLog()
    monkeypatch.setattr(MilvusImportTrigger, "log", property(lambda self: log))
    event = through_the_triggerer(await only_event(trigger()))
    assert isinstance(event, TaskFailedEvent) and state_name(event) == "failed"
    assert event.xcoms is not None and event.xcoms["return_value"]["failed_reason"] == REASON
    # The task log (the trigger's log of that try) says why the task failed.
    assert any(level == logging.ERROR and REASON in line for level, line in log.lines), log.lines


async def test_failed_job_with_soft_fail_skips_the_task(monkeypatch: pytest.MonkeyPatch) -> None:
    script(monkeypatch, [st(1, reason=REASON)])
    event = through_the_triggerer(await only_event(trigger(soft_fail=True)))
    assert isinstance(event, TaskSkippedEvent) and state_name(event) == "skipped"
    assert event.xcoms is not None and event.xcoms["return_value"]["state_name"] == "Failed"


async def test_unreadable_job_ends_the_task_failed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries exhausted on a busy server: failed (a retry of the task may help; 3.3.1+ applies retries)."""
    script(monkeypatch, [exc.MilvusImportServerBusyError("503 busy", server="s")])
    event = through_the_triggerer(await only_event(trigger(max_attempts=2)))
    assert isinstance(event, TaskFailedEvent)
    assert event.xcoms is None  # no state was ever read


async def test_unknown_job_with_soft_fail_skips(monkeypatch: pytest.MonkeyPatch) -> None:
    """As the deferred sensor's resume: soft_fail turns every failure of the wait into a skip."""
    script(monkeypatch, [exc.MilvusImportJobNotFoundError("unknown job", job_id="42", server="s")])
    assert isinstance(await only_event(trigger(soft_fail=True)), TaskSkippedEvent)


async def test_timeout_resumes_on_a_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """A timeout is not ended here: the worker raises AirflowSensorTimeout, which no retry follows."""
    script(monkeypatch, [st(2, 40, 400)])
    event = await only_event(trigger(end_time=0.0, soft_fail=True))
    assert type(event) is TriggerEvent
    assert event.payload["status"] == "timeout" and event.payload["state"]["progress"] == 40


async def test_without_end_from_trigger_every_outcome_resumes_on_a_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    script(monkeypatch, [st(1, reason=REASON)])
    event = await only_event(trigger(end_from_trigger=False, soft_fail=True))
    assert type(event) is TriggerEvent and event.payload["status"] == "failed"


def test_the_settings_are_serialized() -> None:
    _, kwargs = trigger(soft_fail=True).serialize()
    assert (kwargs["end_from_trigger"], kwargs["soft_fail"]) == (True, True)
    assert MilvusImportTrigger(**kwargs).serialize()[1] == kwargs
