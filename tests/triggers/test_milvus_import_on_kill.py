"""Killing or clearing a deferred import (Airflow 3.3 calls the trigger's ``on_kill``) aborts the job
where the server can, and otherwise says that Milvus cannot cancel a running import. A trigger that
merely ends (success, triggerer shutdown or handover) never aborts anything.
"""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_milvus import BulkInsertState
from airflow_provider_milvus.exceptions import MilvusImportError
from airflow_provider_milvus.hooks.milvus_import import MilvusImportHook
from airflow_provider_milvus.triggers.milvus_import import MilvusImportTrigger
from airflow_provider_milvus.version_compat import HAS_TRIGGER_ON_KILL
from tests.triggers.test_milvus_import import events_of, script


class RecordingLog:
    """Keeps (level, message) of every call, as a logger would print them."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def _record(self, level: str, message: str, *args: Any, **_: Any) -> None:
        self.lines.append((level, message % args if args else message))

    def info(self, message: str, *args: Any, **kwargs: Any) -> None:
        self._record("info", message, *args, **kwargs)

    def warning(self, message: str, *args: Any, **kwargs: Any) -> None:
        self._record("warning", message, *args, **kwargs)

    def exception(self, message: str, *args: Any, **kwargs: Any) -> None:
        self._record("error", message, *args, **kwargs)


def trigger(abort_on_kill: bool = True) -> tuple[MilvusImportTrigger, RecordingLog]:
    made = MilvusImportTrigger(job_id="42", poll_interval=0.001, db_name="db1", abort_on_kill=abort_on_kill)
    log = RecordingLog()
    made._log = log  # type: ignore[assignment]
    return made, log


def abort_answers(monkeypatch: pytest.MonkeyPatch, answer: Exception | None) -> list[tuple[str, str | None]]:
    calls: list[tuple[str, str | None]] = []

    async def aabort_import(self: MilvusImportHook, job_id: str, db_name: str | None = None) -> None:
        calls.append((job_id, db_name))
        if answer is not None:
            raise answer

    monkeypatch.setattr(MilvusImportHook, "aabort_import", aabort_import, raising=False)
    return calls


def test_on_kill_is_the_triggers_own_and_cleanup_frees_nothing_external() -> None:
    from airflow.triggers.base import BaseTrigger

    from airflow_provider_milvus.version_compat import AIRFLOW_V_3_3_PLUS

    assert HAS_TRIGGER_ON_KILL == AIRFLOW_V_3_3_PLUS  # before 3.3 the triggerer never calls on_kill
    assert MilvusImportTrigger.on_kill is not getattr(BaseTrigger, "on_kill", None)
    assert MilvusImportTrigger.cleanup is BaseTrigger.cleanup


async def test_on_kill_aborts_where_the_server_can(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = abort_answers(monkeypatch, None)
    made, log = trigger()
    await made.on_kill()
    assert calls == [("42", "db1")]
    assert ("info", "Aborted import job 42") in log.lines


async def test_on_kill_says_milvus_cannot_cancel(monkeypatch: pytest.MonkeyPatch) -> None:
    reason = "the server at 127.0.0.1:19530 has no two-phase imports (Milvus 3.0+): it cannot abort job 42"
    calls = abort_answers(monkeypatch, MilvusImportError(reason))
    made, log = trigger()
    await made.on_kill()
    assert calls == [("42", "db1")]
    (level, line), *_ = log.lines
    assert level == "warning" and "Milvus cannot cancel a running import: job 42 runs on" in line and reason in line


async def test_on_kill_without_an_abort_in_the_hook_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(MilvusImportHook, "aabort_import", raising=False)
    made, log = trigger()
    await made.on_kill()
    assert log.lines and log.lines[0][0] == "warning" and "cannot cancel" in log.lines[0][1]


async def test_a_sensors_trigger_never_aborts(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = abort_answers(monkeypatch, None)
    made, log = trigger(abort_on_kill=False)
    await made.on_kill()
    assert calls == [] and log.lines == []


async def test_a_trigger_that_ends_never_aborts(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = abort_answers(monkeypatch, None)
    script(monkeypatch, [BulkInsertState(task_id="42", state=6, progress=100, row_count=3)])
    made = MilvusImportTrigger(job_id="42", poll_interval=0.001, abort_on_kill=True)
    events = await events_of(made)
    await made.cleanup()
    assert [e["status"] for e in events] == ["success"] and calls == []
