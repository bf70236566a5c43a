"""MilvusImportTrigger: serialization, and exactly one event of each kind from scripted server answers."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import pytest

from airflow_provider_milvus import BulkInsertState
from airflow_provider_milvus import exceptions as exc
from airflow_provider_milvus.client import AsyncMilvusImportClient
from airflow_provider_milvus.hooks.milvus_import import MilvusImportHook
from airflow_provider_milvus.settings import MilvusSettings, parse_settings
from airflow_provider_milvus.triggers.milvus_import import MilvusImportTrigger


def st(code: int, progress: int = 0, rows: int = 0, reason: str = "") -> BulkInsertState:
    return BulkInsertState(task_id="42", state=code, progress=progress, row_count=rows, failed_reason=reason)


def script(monkeypatch: pytest.MonkeyPatch, answers: Iterable[BulkInsertState | Exception]) -> list[str]:
    """Make the server answer from ``answers`` in order (the last one repeats); returns the ids asked for.

    The scripted server has no list call, so the shared poller reads job by job.
    """
    queue = list(answers)
    asked: list[str] = []

    async def get_import_state(
        self: AsyncMilvusImportClient, job_id: str, db_name: str | None = None
    ) -> BulkInsertState:
        asked.append(job_id)
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def list_import_states(self: AsyncMilvusImportClient, *args: Any) -> list[BulkInsertState]:
        raise exc.MilvusImportRouteNotFoundError("no list here", server="s")

    async def aclose(self: AsyncMilvusImportClient) -> None:
        asked.append("closed")

    async def aget_settings(self: MilvusImportHook) -> MilvusSettings:
        return parse_settings(host="http://milvus.invalid:19530", extra={"protocol": "rest"})

    monkeypatch.setattr(AsyncMilvusImportClient, "get_import_state", get_import_state)
    monkeypatch.setattr(AsyncMilvusImportClient, "list_import_states", list_import_states)
    monkeypatch.setattr(AsyncMilvusImportClient, "aclose", aclose)
    monkeypatch.setattr(MilvusImportHook, "aget_settings", aget_settings)
    return asked


async def events_of(trigger: MilvusImportTrigger) -> list[dict[str, Any]]:
    return [event.payload async for event in trigger.run()]


def test_serialize_holds_only_ids_and_settings() -> None:
    trigger = MilvusImportTrigger(
        job_id="448761313698322011", milvus_conn_id="m", poll_interval=3, end_time=1.5e9, protocol="grpc"
    )
    path, kwargs = trigger.serialize()
    assert path == "airflow_provider_milvus.triggers.milvus_import.MilvusImportTrigger"
    assert kwargs == {
        "job_id": "448761313698322011",
        "milvus_conn_id": "m",
        "poll_interval": 3.0,
        "end_time": 1.5e9,
        "protocol": "grpc",
        "max_attempts": 10,
        "stall_timeout": None,
        "on_stall": "warn",
        "coalesce": True,
        "db_name": None,
        "abort_on_kill": False,
        "staged_is_done": False,
        "end_from_trigger": False,
        "soft_fail": False,
    }
    assert MilvusImportTrigger(**kwargs).serialize() == (path, kwargs)


async def test_success(monkeypatch: pytest.MonkeyPatch) -> None:
    asked = script(monkeypatch, [st(0), st(2, 30, 300), st(2, 60, 600), st(6, 100, 1000)])
    (event,) = await events_of(MilvusImportTrigger(job_id="42", poll_interval=0.001))
    assert event["status"] == "success" and event["job_id"] == "42"
    assert BulkInsertState.from_dict(event["state"]).row_count == 1000
    assert asked[-1] == "closed" and asked.count("42") == 4


@pytest.mark.parametrize("code", [1, 7])
async def test_failed_carries_the_reason(monkeypatch: pytest.MonkeyPatch, code: int) -> None:
    script(monkeypatch, [st(2, 10), st(code, reason="the field 'wrong' is not defined in collection schema")])
    (event,) = await events_of(MilvusImportTrigger(job_id="42", poll_interval=0.001))
    assert event["status"] == "failed"
    assert "the field 'wrong' is not defined" in event["message"]
    assert event["state"]["failed_reason"] == "the field 'wrong' is not defined in collection schema"


async def test_timeout_keeps_the_last_state(monkeypatch: pytest.MonkeyPatch) -> None:
    script(monkeypatch, [st(2, 50, 500)])
    (event,) = await events_of(MilvusImportTrigger(job_id="42", poll_interval=0.01, end_time=time.time() + 0.05))
    assert event["status"] == "timeout"
    assert event["state"]["progress"] == 50
    assert "deadline" in event["message"]


async def test_unknown_job_is_an_error_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    asked = script(monkeypatch, [exc.MilvusImportJobNotFoundError("no such job", job_id="42", server="s")])
    (event,) = await events_of(MilvusImportTrigger(job_id="42", poll_interval=0.001))
    assert event["status"] == "error" and event["state"] is None
    assert "no such job" in event["message"]
    assert asked.count("42") == 1


async def test_retryable_faults_are_ridden_out(monkeypatch: pytest.MonkeyPatch) -> None:
    busy = exc.MilvusImportServerBusyError("503", server="s", retry_after=0.0)
    script(monkeypatch, [busy, busy, busy, st(2, 50), busy, st(6, 100, 10)])
    (event,) = await events_of(MilvusImportTrigger(job_id="42", poll_interval=0.001, max_attempts=4))
    assert event["status"] == "success"


async def test_retries_exhausted_is_an_error_with_the_last_state(monkeypatch: pytest.MonkeyPatch) -> None:
    down = exc.MilvusImportConnectionError("refused", server="s", retry_after=0.0)
    script(monkeypatch, [st(2, 40), down])
    (event,) = await events_of(MilvusImportTrigger(job_id="42", poll_interval=0.001, max_attempts=3))
    assert event["status"] == "error"
    assert "after 3 attempts" in event["message"]
    assert event["state"]["progress"] == 40


async def test_unknown_state_keeps_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    script(monkeypatch, [st(100), st(100), st(6, 100)])
    (event,) = await events_of(MilvusImportTrigger(job_id="42", poll_interval=0.001))
    assert event["status"] == "success"


async def test_stall_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    script(monkeypatch, [st(2, 95, 950)])
    trigger = MilvusImportTrigger(job_id="42", poll_interval=0.01, stall_timeout=0.05, on_stall="fail")
    (event,) = await events_of(trigger)
    assert event["status"] == "timeout" and "has not moved" in event["message"]


async def test_stall_warn_keeps_waiting(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    script(monkeypatch, [st(2, 95)] * 12 + [st(6, 100)])
    trigger = MilvusImportTrigger(job_id="42", poll_interval=0.01, stall_timeout=0.03)
    (event,) = await events_of(trigger)
    assert event["status"] == "success"


async def test_a_connection_that_cannot_be_read_is_one_error_event(monkeypatch: pytest.MonkeyPatch) -> None:
    script(monkeypatch, [st(6, 100)])

    async def no_connection(self: MilvusImportHook) -> MilvusSettings:
        raise RuntimeError("connection milvus_default not found")

    monkeypatch.setattr(MilvusImportHook, "aget_settings", no_connection)
    (event,) = await events_of(MilvusImportTrigger(job_id="42", poll_interval=0.001))
    assert event["status"] == "error" and "not found" in event["message"]


def test_invalid_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="on_stall"):
        MilvusImportTrigger(job_id="1", on_stall="explode")
    with pytest.raises(ValueError, match="poll_interval"):
        MilvusImportTrigger(job_id="1", poll_interval=0)
