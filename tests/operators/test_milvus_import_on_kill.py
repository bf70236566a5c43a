"""Killing the operator while it waits in the worker aborts its job where the server can, else says it cannot.

Against the emulator's 3.0 profile (a real ``abort`` route: the job ends aborted) and 2.6 (no abort).
"""

from __future__ import annotations

import pytest

from airflow_provider_milvus.operators.milvus_import import MilvusImportOperator
from tests.emulator.fixtures import ReleaseEndpoint
from tests.triggers.test_milvus_import_on_kill import RecordingLog, started_job


def killed(endpoint: ReleaseEndpoint, monkeypatch: pytest.MonkeyPatch) -> tuple[str, RecordingLog]:
    """Kill an operator before its start (nothing to abort), then while its job imports."""
    job_id = started_job(endpoint)
    op = MilvusImportOperator(
        task_id="load",
        collection_name="c",
        files=endpoint.paths("killed"),
        milvus_conn_id=endpoint.conn_id,
        deferrable=False,
    )
    log = RecordingLog()
    monkeypatch.setattr(MilvusImportOperator, "log", property(lambda self: log))
    op.on_kill()  # before the start: no job, nothing to abort
    assert endpoint.emulator.request_count("abort") == 0
    op.job_id = job_id
    op.on_kill()
    assert endpoint.emulator.request_count("abort") == 1
    return job_id, log


@pytest.mark.parametrize("release", ["3.0"], indirect=True)
def test_on_kill_aborts_the_job_on_the_server(
    release_endpoint: ReleaseEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id, log = killed(release_endpoint, monkeypatch)
    after = release_endpoint.emulator.job(job_id)
    assert (after["state"], after["reason"]) == ("Failed", "import job aborted")
    assert ("info", f"Aborted import job {job_id}") in log.lines


@pytest.mark.parametrize("release", ["2.6-late"], indirect=True)
def test_on_kill_says_milvus_cannot_cancel(release_endpoint: ReleaseEndpoint, monkeypatch: pytest.MonkeyPatch) -> None:
    job_id, log = killed(release_endpoint, monkeypatch)
    assert release_endpoint.emulator.job(job_id)["state"] in ("Pending", "Importing"), "the job runs on"
    warnings = [line for level, line in log.lines if level == "warning"]
    assert len(warnings) == 1
    assert warnings[0].startswith(
        f"Milvus cannot cancel a running import: job {job_id} runs on to its end on the server ("
    )
    assert "no two-phase imports" in warnings[0]
