"""Killing the operator while it waits in the worker aborts its job where the server can, else says it cannot."""

from __future__ import annotations

import pytest

from airflow_provider_milvus.exceptions import MilvusImportError
from airflow_provider_milvus.hooks.milvus_import import MilvusImportHook
from airflow_provider_milvus.operators.milvus_import import MilvusImportOperator
from tests.triggers.test_milvus_import_on_kill import RecordingLog


def killed(monkeypatch: pytest.MonkeyPatch, answer: Exception | None) -> tuple[list[str], RecordingLog]:
    calls: list[str] = []

    def abort_import(self: MilvusImportHook, job_id: str, db_name: str | None = None) -> None:
        calls.append(job_id)
        if answer is not None:
            raise answer

    monkeypatch.setattr(MilvusImportHook, "abort_import", abort_import, raising=False)
    op = MilvusImportOperator(task_id="load", collection_name="c", files=["/a.json"], deferrable=False)
    log = RecordingLog()
    monkeypatch.setattr(MilvusImportOperator, "log", property(lambda self: log))
    op.on_kill()  # before the start: no job, nothing to abort
    op.job_id = "42"
    op.on_kill()
    return calls, log


def test_on_kill_aborts(monkeypatch: pytest.MonkeyPatch) -> None:
    calls, log = killed(monkeypatch, None)
    assert calls == ["42"] and log.lines == [("info", "Aborted import job 42")]


def test_on_kill_says_milvus_cannot_cancel(monkeypatch: pytest.MonkeyPatch) -> None:
    calls, log = killed(monkeypatch, MilvusImportError("no two-phase imports on this server"))
    assert calls == ["42"]
    assert log.lines == [
        (
            "warning",
            "Milvus cannot cancel a running import: job 42 runs on to its end on the server "
            "(no two-phase imports on this server)",
        )
    ]
