"""Killing or clearing a deferred import (Airflow 3.3 calls the trigger's ``on_kill``) aborts the job
where the server can, and otherwise says that Milvus cannot cancel a running import. A trigger that
merely ends (success, triggerer shutdown or handover) never aborts anything.

Run against the emulator's release profiles: 3.0 has the real ``abort`` route and the job on the
server ends aborted; 2.6 has none (404) and the trigger says the job runs on.
"""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_milvus.hooks.milvus_import import MilvusImportHook
from airflow_provider_milvus.triggers.milvus_import import MilvusImportTrigger
from airflow_provider_milvus.version_compat import HAS_TRIGGER_ON_KILL
from tests.emulator.fixtures import ReleaseEndpoint
from tests.triggers.test_milvus_import import events_of


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


def started_job(endpoint: ReleaseEndpoint) -> str:
    """A job that is still importing on the endpoint (its clock stands still)."""
    job_id = MilvusImportHook(endpoint.conn_id).start_import("c", endpoint.paths("killed"))
    assert endpoint.emulator.job(job_id)["state"] in ("Pending", "Importing")
    return job_id


def trigger(
    endpoint: ReleaseEndpoint, job_id: str, abort_on_kill: bool = True
) -> tuple[MilvusImportTrigger, RecordingLog]:
    made = MilvusImportTrigger(
        job_id=job_id, milvus_conn_id=endpoint.conn_id, poll_interval=0.01, abort_on_kill=abort_on_kill
    )
    log = RecordingLog()
    made._log = log  # type: ignore[assignment]
    return made, log


def test_on_kill_is_the_triggers_own_and_cleanup_frees_nothing_external() -> None:
    from airflow.triggers.base import BaseTrigger

    from airflow_provider_milvus.version_compat import AIRFLOW_V_3_3_PLUS

    assert HAS_TRIGGER_ON_KILL == AIRFLOW_V_3_3_PLUS  # before 3.3 the triggerer never calls on_kill
    assert MilvusImportTrigger.on_kill is not getattr(BaseTrigger, "on_kill", None)
    assert MilvusImportTrigger.cleanup is BaseTrigger.cleanup


@pytest.mark.parametrize("release", ["3.0"], indirect=True)
async def test_on_kill_aborts_the_job_on_the_server(release_endpoint: ReleaseEndpoint) -> None:
    job_id = started_job(release_endpoint)
    made, log = trigger(release_endpoint, job_id)
    await made.on_kill()
    assert release_endpoint.emulator.request_count("abort") == 1
    after = release_endpoint.emulator.job(job_id)
    assert (after["state"], after["reason"]) == ("Failed", "import job aborted")
    assert log.lines == [("info", f"Aborted import job {job_id}")]


@pytest.mark.parametrize("release", ["2.6-late"], indirect=True)
async def test_on_kill_says_milvus_cannot_cancel(release_endpoint: ReleaseEndpoint) -> None:
    job_id = started_job(release_endpoint)
    made, log = trigger(release_endpoint, job_id)
    await made.on_kill()
    assert release_endpoint.emulator.request_count("abort") == 1, "the provider asked; the server has no abort"
    assert release_endpoint.emulator.job(job_id)["state"] in ("Pending", "Importing"), "the job runs on"
    (level, line), *_ = log.lines
    assert level == "warning" and f"Milvus cannot cancel a running import: job {job_id} runs on" in line
    assert "no two-phase imports" in line


@pytest.mark.parametrize("release", ["3.0"], indirect=True)
async def test_a_hook_without_its_abort_is_an_error_not_a_silent_no_op(
    release_endpoint: ReleaseEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = started_job(release_endpoint)
    monkeypatch.delattr(MilvusImportHook, "aabort_import")
    made, _ = trigger(release_endpoint, job_id)
    with pytest.raises(AttributeError, match="aabort_import"):
        await made.on_kill()


@pytest.mark.parametrize("release", ["3.0"], indirect=True)
async def test_a_sensors_trigger_never_aborts(release_endpoint: ReleaseEndpoint) -> None:
    job_id = started_job(release_endpoint)
    made, log = trigger(release_endpoint, job_id, abort_on_kill=False)
    await made.on_kill()
    assert release_endpoint.emulator.request_count("abort") == 0 and log.lines == []
    assert release_endpoint.emulator.job(job_id)["state"] in ("Pending", "Importing")


@pytest.mark.parametrize("release", ["3.0"], indirect=True)
async def test_a_trigger_that_ends_never_aborts(release_endpoint: ReleaseEndpoint) -> None:
    job_id = started_job(release_endpoint)
    release_endpoint.emulator.advance(3600.0)
    made, _ = trigger(release_endpoint, job_id)
    events = await events_of(made)
    await made.cleanup()
    assert [e["status"] for e in events] == ["success"]
    assert release_endpoint.emulator.request_count("abort") == 0
    assert release_endpoint.emulator.job(job_id)["state"] == "Completed"
