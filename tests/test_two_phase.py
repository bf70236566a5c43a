"""Two-phase imports (Milvus 3.0): hook commit/abort, auto_commit=False, the commit and abort operators, the sensor.

Run against every release profile: 3.0 stages and publishes; every other release says it has no
two-phase imports, and ``auto_commit=False`` fails there before anything is imported.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException

from airflow_provider_milvus import exceptions as exc
from airflow_provider_milvus.hooks.milvus_import import MilvusImportHook
from airflow_provider_milvus.operators.milvus_import import (
    MilvusImportAbortOperator,
    MilvusImportCommitOperator,
)
from airflow_provider_milvus.sensors.milvus_import import MilvusImportSensor
from airflow_provider_milvus.triggers.milvus_import import MilvusImportTrigger
from tests.airflow_context import fire, make_context, run_deferred
from tests.emulator.fixtures import ReleaseEndpoint
from tests.emulator.grpc_server import MilvusEndpoint
from tests.emulator.profiles import OUTCOMES

POLL = 0.05


def test_commit_and_abort_where_the_server_has_them(release_endpoint: ReleaseEndpoint) -> None:
    endpoint, emulator = release_endpoint, release_endpoint.emulator
    hook = MilvusImportHook(endpoint.conn_id)
    assert hook.supports_two_phase() is endpoint.release.two_phase
    job_id = hook.start_import("c", endpoint.paths("a"), options={"auto_commit": "false"})
    if not endpoint.release.two_phase:
        for call in (hook.commit_import, hook.abort_import):
            with pytest.raises(exc.MilvusImportError, match="no two-phase imports") as caught:
                call(job_id)
            assert job_id in str(caught.value) and not caught.value.retryable
        with pytest.raises(exc.MilvusImportError, match="no two-phase imports"):
            asyncio.run(hook.acommit_import(job_id))
        return
    with pytest.raises(exc.MilvusImportRequestError, match="expected Uncommitted"):
        hook.commit_import(job_id)  # still importing: not staged yet
    emulator.advance(10.0)
    staged = hook.get_import_state(job_id)
    assert (staged.server_state, staged.progress, staged.state_name, staged.staged) == (
        "Uncommitted",
        99,
        "Started",
        True,
    )
    asyncio.run(hook.acommit_import(job_id))
    assert hook.get_import_state(job_id).server_state == "Committing"
    hook.commit_import(job_id)  # Committing counts as done
    emulator.advance(1.0)
    assert hook.get_import_state(job_id).succeeded
    other = hook.start_import("c", endpoint.paths("b"), options={"auto_commit": "false"})
    asyncio.run(hook.aabort_import(other))
    assert hook.get_import_state(other).failed
    with pytest.raises(exc.MilvusImportJobNotFoundError):
        hook.commit_import("1")


@pytest.mark.parametrize("deferrable", [True, False], ids=["deferred", "in-worker"])
def test_stage_then_commit_with_the_operators(release_endpoint: ReleaseEndpoint, deferrable: bool) -> None:
    endpoint, emulator = release_endpoint, release_endpoint.emulator
    stage = endpoint.import_operator("stage", endpoint.paths("s"), auto_commit=False, deferrable=deferrable)
    context = make_context()
    if not endpoint.release.two_phase:
        with pytest.raises(AirflowFailException, match="auto_commit=False needs two-phase imports"):
            stage.execute(context)
        assert emulator.request_count("create") == 0, "nothing may be imported"
        return
    staged = run_deferred(stage, context)
    job_id = context["ti"].pushed["job_id"]
    assert staged["server_state"] == "Uncommitted" and staged["task_id"] == job_id
    assert context["ti"].pushed["return_value"]["server_state"] == "Uncommitted"
    create = next(r for r in emulator.requests if r.route.endswith("/create"))
    assert create.json["options"] == {"auto_commit": "false"}
    commit = MilvusImportCommitOperator(
        task_id="publish", job_id=job_id, milvus_conn_id=endpoint.conn_id, deferrable=deferrable, poll_interval=POLL
    )
    done = run_deferred(commit, make_context())
    assert done["server_state"] == "Completed" and done["row_count"] == done["total_rows"] > 0
    OUTCOMES.record(f"{endpoint.release.name} two-phase", "success", "success")


def test_abort_operator(release_endpoint: ReleaseEndpoint) -> None:
    endpoint = release_endpoint
    hook = MilvusImportHook(endpoint.conn_id)
    job_id = hook.start_import("c", endpoint.paths("x"))
    abort = MilvusImportAbortOperator(task_id="discard", job_id=job_id, milvus_conn_id=endpoint.conn_id)
    if not endpoint.release.two_phase:
        with pytest.raises(exc.MilvusImportError, match="no two-phase imports"):
            abort.execute(make_context())
        return
    abort.execute(make_context())
    assert hook.get_import_state(job_id).failed


@pytest.mark.parametrize("profile", ["3.0"])
async def test_a_sensor_on_a_staged_job_waits_for_the_commit(
    make_emulator: Callable[..., Any], monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str], profile: str
) -> None:
    emulator = make_emulator(profile=profile, speed=0)
    monkeypatch.setenv(
        "AIRFLOW_CONN_STAGED",
        json.dumps({"conn_type": "milvus", "host": emulator.base_url, "extra": {"protocol": "rest"}}),
    )
    job_id = emulator.create_job("c", [["/d/1.parquet"]], options={"auto_commit": "false"})
    emulator.advance(10.0)
    sensor = MilvusImportSensor(task_id="gate", job_id=job_id, milvus_conn_id="staged", deferrable=False)
    capfd.readouterr()
    assert sensor.poke(make_context()) is False
    said = "".join(capfd.readouterr())  # Airflow's loggers write to the process's output
    assert "staged (Uncommitted)" in said and "waiting for a commit" in said

    async def commit_later() -> None:
        await asyncio.sleep(0.4)
        emulator.commit_job(job_id)
        emulator.advance(1.0)

    committer = asyncio.create_task(commit_later())
    event = await fire(MilvusImportTrigger(job_id=job_id, milvus_conn_id="staged", poll_interval=POLL))
    await committer
    said = "".join(capfd.readouterr())
    assert event["status"] == "success" and event["state"]["server_state"] == "Completed"
    assert said.count("waiting for a commit") == 1, said  # said once, not every poll
    OUTCOMES.record(f"{profile} sensor on a staged job", event["status"], "success")


def test_two_phase_over_legacy_grpc(
    make_endpoint: Callable[..., MilvusEndpoint], monkeypatch: pytest.MonkeyPatch
) -> None:
    """gRPC has no commit call: the hook commits over the same port's REST API; the staged job never looks failed."""
    endpoint = make_endpoint("3.0", speed=0)
    conn = {"conn_type": "milvus", "host": endpoint.base_url, "extra": {"protocol": "grpc"}}
    monkeypatch.setenv("AIRFLOW_CONN_LEGACY_TWO_PHASE", json.dumps(conn))
    hook = MilvusImportHook("legacy_two_phase")
    assert hook.supports_two_phase()
    job_id = hook.start_import("c", ["/d/1.parquet"], options={"auto_commit": "false"})
    endpoint.rest.advance(10.0)
    staged = hook.get_import_state(job_id)  # gRPC says ImportFailed with no reason; REST says Uncommitted
    assert (staged.failed, staged.server_state, staged.task_id) == (False, "Uncommitted", job_id)
    hook.commit_import(job_id)
    endpoint.rest.advance(1.0)
    assert hook.get_import_state(job_id).succeeded
    older = make_endpoint("2.6-late", speed=0)
    monkeypatch.setenv(
        "AIRFLOW_CONN_LEGACY_OLD",
        json.dumps({"conn_type": "milvus", "host": older.base_url, "extra": {"protocol": "grpc"}}),
    )
    old_hook = MilvusImportHook("legacy_old")
    assert not old_hook.supports_two_phase()
    with pytest.raises(exc.MilvusImportError, match="no two-phase imports"):
        old_hook.commit_import(old_hook.start_import("c", ["/d/1.parquet"]))
