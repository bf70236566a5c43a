"""The provider against every Milvus release profile (2.4.0 .. 3.0) and Zilliz Cloud variant of the emulator.

Start, wait (trigger coalesced and per job, sensor poke), list, errors; the section-6 facts each profile
pins are asserted where the provider meets them. Every final outcome is counted against the truth the
emulator holds: no false success, no false failure.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_milvus import exceptions as exc
from airflow_provider_milvus.hooks.milvus_import import MilvusImportHook
from airflow_provider_milvus.operators.milvus_import import MilvusImportOperator
from airflow_provider_milvus.sensors.milvus_import import MilvusImportSensor
from airflow_provider_milvus.triggers.milvus_import import MilvusImportTrigger
from tests.airflow_context import fire, make_context, run_deferred
from tests.emulator.fixtures import ReleaseEndpoint
from tests.emulator.grpc_server import MilvusEndpoint
from tests.emulator.profiles import OUTCOMES, REST_PROFILES

POLL = 0.05


async def wait_event(endpoint: ReleaseEndpoint, job_id: str, *, coalesce: bool = True, **kwargs: Any) -> dict[str, Any]:
    """The one event of a trigger on ``job_id``."""
    return await fire(
        MilvusImportTrigger(
            job_id=job_id, milvus_conn_id=endpoint.conn_id, poll_interval=POLL, coalesce=coalesce, **kwargs
        )
    )


def count(endpoint: ReleaseEndpoint, event: dict[str, Any], truth: str) -> None:
    """Tally a final outcome against what the emulator knows (``truth``: success or failed)."""
    OUTCOMES.record(endpoint.release.name, event["status"], truth)
    assert event["status"] == truth, event


@pytest.mark.parametrize("coalesce", [True, False], ids=["coalesced", "per-job"])
async def test_start_wait_list(release_endpoint: ReleaseEndpoint, coalesce: bool) -> None:
    endpoint, emulator = release_endpoint, release_endpoint.emulator
    hook = MilvusImportHook(endpoint.conn_id)
    units = [endpoint.paths("a"), [*endpoint.paths("b"), *endpoint.paths("c")]]
    job_id = await hook.astart_import("c", units)
    await hook.aclose()
    assert job_id in emulator.job_ids  # kept as sent: digit for digit, or job-...
    running = hook.get_import_state(job_id)
    assert running.task_id == job_id and not running.is_terminal
    emulator.finish_job(job_id)
    event = await wait_event(endpoint, job_id, coalesce=coalesce)
    count(endpoint, event, "success")
    state = event["state"]
    assert state["server_state"] == "Completed" and state["task_id"] == job_id
    assert state["files"] == [p for unit in units for p in unit]  # both fileName formats
    expect_created = endpoint.release.mode == "rest" and emulator.create_time
    assert (state["create_timestamp"] > 0) is expect_created
    listed = hook.list_import_states()
    assert [s.task_id for s in listed] == [job_id]
    assert listed[0].succeeded


async def test_failure_is_reported_with_the_reason(release_endpoint: ReleaseEndpoint) -> None:
    endpoint = release_endpoint
    job_id = MilvusImportHook(endpoint.conn_id).start_import("c", endpoint.paths("x"))
    endpoint.emulator.fail_job(job_id, "the field 'wrong' is not defined in collection schema")
    event = await wait_event(endpoint, job_id)
    count(endpoint, event, "failed")
    assert "'wrong' is not defined" in event["message"] and event["state"]["server_state"] == "Failed"


async def test_state_none_is_unknown_and_the_wait_goes_on(release_endpoint: ReleaseEndpoint) -> None:
    endpoint, emulator = release_endpoint, release_endpoint.emulator
    job_id = MilvusImportHook(endpoint.conn_id).start_import("c", endpoint.paths("n"))
    emulator.set_job(job_id, state="None", progress=0)
    seen = MilvusImportHook(endpoint.conn_id).get_import_state(job_id)
    assert (seen.state_name, seen.server_state, seen.is_terminal) == ("Unknown", "None", False)

    async def later() -> None:
        await asyncio.sleep(0.3)
        emulator.set_job(job_id, clear=True)
        emulator.finish_job(job_id)

    clear = asyncio.create_task(later())
    event = await wait_event(endpoint, job_id)
    await clear
    count(endpoint, event, "success")


def test_sensor_pokes_until_completed(release_endpoint: ReleaseEndpoint) -> None:
    endpoint = release_endpoint
    job_id = MilvusImportHook(endpoint.conn_id).start_import("c", endpoint.paths("p"))
    sensor = MilvusImportSensor(task_id="s", job_id=job_id, milvus_conn_id=endpoint.conn_id, deferrable=False)
    context = make_context()
    assert sensor.poke(context) is False
    endpoint.emulator.finish_job(job_id)
    done = sensor.poke(context)
    assert not isinstance(done, bool) and done.is_done
    assert done.xcom_value["state_name"] == "Completed"


def test_unknown_job_is_not_found(release_endpoint: ReleaseEndpoint) -> None:
    endpoint = release_endpoint
    hook = MilvusImportHook(endpoint.conn_id)
    job_id = hook.start_import("c", endpoint.paths("gone"))
    endpoint.emulator.expire_job(job_id)
    with pytest.raises(exc.MilvusImportJobNotFoundError) as caught:
        hook.get_import_state(job_id)
    assert job_id in str(caught.value) and not caught.value.retryable
    if endpoint.release.mode == "rest":
        assert caught.value.code == endpoint.emulator.not_found_code


def test_job_limit_is_retryable(release_endpoint: ReleaseEndpoint) -> None:
    endpoint = release_endpoint
    endpoint.emulator.max_jobs = 1
    hook = MilvusImportHook(endpoint.conn_id)
    hook.start_import("c", endpoint.paths("first"))
    with pytest.raises(exc.MilvusImportServerBusyError) as caught:
        hook.start_import("c", endpoint.paths("second"))
    assert caught.value.retryable and "reached the limit" in str(caught.value)
    if endpoint.release.mode == "rest":
        assert caught.value.code == endpoint.emulator.job_limit_code


def test_progress_route_is_found_once_and_remembered(release_endpoint: ReleaseEndpoint) -> None:
    endpoint, emulator = release_endpoint, release_endpoint.emulator
    hook = MilvusImportHook(endpoint.conn_id)
    job_id = hook.start_import("c", endpoint.paths("r"))
    for _ in range(3):
        assert hook.get_import_state(job_id).task_id == job_id
    routes = [r.route.rsplit("/", 1)[1] for r in emulator.requests if not r.route.endswith(("create", "list"))]
    served = routes[-1]
    assert routes.count(served) == 3 and len(routes) <= 4, routes  # at most one 404 before the served route
    if endpoint.release.name == "2.4.0":
        assert served == "get_progress"
    elif endpoint.release.name == "cloud-describe":
        assert served == "describe"
    elif endpoint.release.mode == "cloud":
        assert served == "getProgress"
    else:
        assert served == "describe"


@pytest.mark.parametrize("deferrable", [True, False], ids=["deferred", "in-worker"])
def test_operator_imports_and_waits(release_endpoint: ReleaseEndpoint, deferrable: bool) -> None:
    endpoint = release_endpoint
    load = endpoint.import_operator("load", [endpoint.paths("o1"), endpoint.paths("o2")], deferrable=deferrable)
    context = make_context()
    final = run_deferred(load, context)
    job_id = context["ti"].pushed["job_id"]
    OUTCOMES.record(endpoint.release.name, "success" if final["state_name"] == "Completed" else "error", "success")
    assert (final["task_id"], final["server_state"], final["row_count"]) == (job_id, "Completed", 20_000)
    assert context["ti"].pushed["return_value"] == final


# --------------------------------------------------------------------------- legacy gRPC on 2.4+ (one port with REST)


@pytest.fixture(params=REST_PROFILES, ids=lambda name: f"grpc-{name}")
def legacy(
    request: pytest.FixtureRequest, make_endpoint: Callable[..., MilvusEndpoint], monkeypatch: pytest.MonkeyPatch
) -> MilvusEndpoint:
    """Each self-hosted release with its legacy gRPC shim, and connection ``legacy`` with protocol grpc."""
    endpoint = make_endpoint(request.param, speed=0)
    conn = {"conn_type": "milvus", "host": endpoint.base_url, "extra": {"protocol": "grpc"}}
    monkeypatch.setenv("AIRFLOW_CONN_LEGACY", json.dumps(conn))
    return endpoint


async def legacy_event(job_id: str, *, coalesce: bool = True) -> dict[str, Any]:
    return await fire(
        MilvusImportTrigger(job_id=job_id, milvus_conn_id="legacy", poll_interval=POLL, coalesce=coalesce)
    )


def legacy_count(endpoint: MilvusEndpoint, event: dict[str, Any], truth: str) -> None:
    OUTCOMES.record(f"grpc-{endpoint.rest.profile}", event["status"], truth)
    assert event["status"] == truth, event


@pytest.mark.parametrize("coalesce", [True, False], ids=["coalesced", "per-job"])
async def test_legacy_grpc_start_wait_list(legacy: MilvusEndpoint, coalesce: bool) -> None:
    hook = MilvusImportHook("legacy")
    job_id = hook.start_import("c", ["/d/1.parquet"])
    assert job_id in legacy.rest.job_ids  # the task id is the v2 job id
    state = hook.get_import_state(job_id)
    assert state.task_id == job_id and state.server_state == "ImportPending"  # the requested id, not the 0 sent
    assert [s.task_id for s in hook.list_import_states()] == ["0"]  # milvus issue 38172, as the server says
    legacy.rest.finish_job(job_id)
    event = await legacy_event(job_id, coalesce=coalesce)
    legacy_count(legacy, event, "success")
    assert event["state"]["task_id"] == job_id and event["state"]["row_count"] == 10_000


async def test_legacy_grpc_real_failure_keeps_its_reason(legacy: MilvusEndpoint) -> None:
    job_id = MilvusImportHook("legacy").start_import("c", ["/d/1.parquet"])
    legacy.rest.fail_job(job_id, "array size 4 doesn't equal to vector dimension 8")
    event = await legacy_event(job_id)
    legacy_count(legacy, event, "failed")
    assert "vector dimension 8" in event["message"]


async def test_legacy_grpc_none_state_is_no_failure(legacy: MilvusEndpoint) -> None:
    """ImportFailed with no reason (a v2 state the shim cannot map) is checked over REST: the wait goes on."""
    hook = MilvusImportHook("legacy")
    job_id = hook.start_import("c", ["/d/1.parquet"])
    legacy.rest.set_job(job_id, state="None", progress=0)
    seen = hook.get_import_state(job_id)
    assert (seen.state_name, seen.server_state, seen.task_id) == ("Unknown", "None", job_id)

    async def later() -> None:
        await asyncio.sleep(0.3)
        legacy.rest.set_job(job_id, clear=True)
        legacy.rest.finish_job(job_id)

    clear = asyncio.create_task(later())
    event = await legacy_event(job_id)
    await clear
    legacy_count(legacy, event, "success")


def test_legacy_grpc_errors(legacy: MilvusEndpoint) -> None:
    hook = MilvusImportHook("legacy")
    with pytest.raises(exc.MilvusImportError, match="accepts only one file"):
        hook.start_import("c", ["/d/1.json", "/d/2.json"])
    job_id = hook.start_import("c", ["/d/id.npy", "/d/vec.npy"])  # NumPy files of one batch: one unit
    legacy.rest.expire_job(job_id)
    with pytest.raises(exc.MilvusImportJobNotFoundError):
        hook.get_import_state(job_id)


def test_legacy_grpc_operator(legacy: MilvusEndpoint) -> None:
    """The operator over gRPC on 2.4+: one unit, the task id kept, the wait deferred and coalesced."""
    legacy.rest.clock.speed = 50.0
    load = MilvusImportOperator(
        task_id="load", collection_name="c", files=["/d/1.parquet"], milvus_conn_id="legacy", poll_interval=POLL
    )
    context = make_context()
    final = run_deferred(load, context)
    legacy_count(legacy, {"status": "success" if final["state_name"] == "Completed" else "error"}, "success")
    assert final["task_id"] == context["ti"].pushed["job_id"] and final["server_state"] == "ImportCompleted"
