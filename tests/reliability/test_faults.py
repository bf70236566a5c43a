"""Fault injection through the real trigger (and the sync hook path): every wait ends in the right event.

The emulator (REST v2 and Zilliz Cloud) and a scripted gRPC server inject each fault; the trigger runs in
the test's event loop with the connection taken from ``AIRFLOW_CONN_<ID>``. For every case: success only
when the job completed after the fault, error when the retries ran out or the fault is permanent, never a
false success, and never a lost final state (once a state was read, the error/timeout event carries it).
Every case is counted in :data:`tests.reliability.tally.TALLY`.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
import pytest

from airflow_provider_milvus import BulkInsertState
from airflow_provider_milvus import exceptions as exc
from airflow_provider_milvus.hooks.milvus_import import MilvusImportHook
from airflow_provider_milvus.operators.milvus_import import MilvusImportOperator
from airflow_provider_milvus.polling import SharedPoller
from airflow_provider_milvus.proto import milvus_import_pb2 as pb
from airflow_provider_milvus.sensors.milvus_import import MilvusImportSensor
from airflow_provider_milvus.triggers.milvus_import import MilvusImportTrigger
from airflow_provider_milvus.waiting import WaitSettings, wait_for_job, wait_sync
from tests.airflow_context import make_context
from tests.emulator.server import GARBAGE_KINDS, Fault, ImportEmulator
from tests.reliability import fake_grpc
from tests.reliability.fake_grpc import Abort, FakeMilvusGrpc, Raw, Slow
from tests.reliability.support import (
    POLL,
    cloud_conn,
    describe_served,
    events_of,
    rest_conn,
    running_job,
    running_jobs,
    set_conn,
    until,
)
from tests.reliability.tally import TALLY

FOREVER = 10**6
FAIL_REASON = "failed to parse parquet file /data/2.parquet: bad magic number"
Inject = Callable[[ImportEmulator], Awaitable[list[Fault]]]
log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- the judge


def judge(
    kind: str,
    event: dict[str, Any],
    *,
    truth: dict[str, Any] | None,
    expect: str,
    injected: int,
    read_before: bool,
    message: str = "",
) -> None:
    """Count the case, then assert: expected status, no false success, no lost final state."""
    status = event["status"]
    state = BulkInsertState.from_dict(event["state"]) if event["state"] is not None else None
    server_completed = truth is not None and truth.get("state") == "Completed"
    false_success = status == "success" and (state is None or not state.succeeded or not server_completed)
    lost = read_before and status in ("error", "timeout") and state is None
    survived = status == expect and not false_success and not lost and message in event["message"]
    TALLY.fault(kind, injected=injected, outcome=status, survived=survived)
    TALLY.false_successes += int(false_success)
    TALLY.lost_states += int(lost)
    assert not false_success, f"false success: {event} while the server says {truth}"
    assert not lost, f"the final state was lost: {event}"
    assert status == expect, event
    assert message in event["message"], event
    if status == "success":
        assert state is not None and truth is not None
        assert state.progress == 100
        if "importedRows" in truth:  # the legacy cloud shape carries no row counts
            assert state.row_count == truth["importedRows"]
    if status == "failed":
        assert truth is not None and truth["reason"] in event["message"]
        assert state is not None and state.failed_reason == truth["reason"]
    if status in ("error", "timeout") and read_before:
        assert state is not None and not state.is_terminal


@dataclass
class Watched:
    """What one watch saw: the single event and the faults."""

    event: dict[str, Any]
    faults: list[Fault]

    @property
    def injected(self) -> int:
        return sum(f.applied for f in self.faults)


async def watch(
    emulator: ImportEmulator,
    job_id: str,
    conn_id: str,
    inject: Inject | None,
    *,
    then: str | None = "complete",
    max_attempts: int = 5,
    end_in: float | None = None,
    coalesce: bool = True,
    after_first_read: bool = True,
    timeout: float = 30.0,
) -> Watched:
    """Run the real trigger on ``job_id``; inject faults after its first read, then complete or fail the job."""
    trigger = MilvusImportTrigger(
        job_id=job_id,
        milvus_conn_id=conn_id,
        poll_interval=POLL,
        max_attempts=max_attempts,
        end_time=time.time() + end_in if end_in is not None else None,
        coalesce=coalesce,
    )
    task = asyncio.create_task(events_of(trigger, timeout))
    faults: list[Fault] = []
    if after_first_read:
        assert await until(lambda: describe_served(emulator, job_id) or task.done()), "no first read"
    if inject is not None:
        faults = await inject(emulator)
        transient = [f for f in faults if f.count < FOREVER]
        await until(lambda: all(f.applied >= f.count for f in transient) or task.done(), timeout)
    if then == "complete":
        emulator.finish_job(job_id)
    elif then == "fail":
        emulator.fail_job(job_id, FAIL_REASON)
    events = await task
    emulator.clear_faults()
    assert len(events) == 1, f"exactly one event, got {events}"
    return Watched(events[0], faults)


# --------------------------------------------------------------------------- fault makers


def status(code: int, count: int, **kwargs: Any) -> Inject:
    async def inject(emulator: ImportEmulator) -> list[Fault]:
        return [emulator.inject_status(code, count=count, **kwargs)]

    return inject


def json_status(code: int, payload: dict[str, Any], count: int) -> Inject:
    return status(code, count, body=json.dumps(payload), content_type="application/json")


def reset(partial: str, count: int) -> Inject:
    async def inject(emulator: ImportEmulator) -> list[Fault]:
        return [emulator.inject_reset(partial=partial, count=count)]  # type: ignore[arg-type]

    return inject


def close(count: int) -> Inject:
    async def inject(emulator: ImportEmulator) -> list[Fault]:
        return [emulator.inject_close(count=count)]

    return inject


def slow(seconds: float, count: int) -> Inject:
    async def inject(emulator: ImportEmulator) -> list[Fault]:
        return [emulator.inject_slow(seconds, count=count)]

    return inject


def garbage(kind: str, count: int) -> Inject:
    async def inject(emulator: ImportEmulator) -> list[Fault]:
        return [emulator.inject_garbage(kind, count=count)]

    return inject


def oversized(size: int, count: int) -> Inject:
    async def inject(emulator: ImportEmulator) -> list[Fault]:
        return [emulator.inject_oversized(size, count=count)]

    return inject


@dataclass(frozen=True)
class Case:
    """One REST fault scenario for the trigger."""

    id: str
    kind: str
    inject: Inject
    expect: str = "success"
    max_attempts: int = 5
    request_timeout: float = 2.0
    end_in: float | None = None
    message: str = ""
    coalesce: bool = True


PAST = email.utils.formatdate(time.time() - 30, usegmt=True)
MB = 1024 * 1024
RETRYABLE_GARBAGE = [k for k in GARBAGE_KINDS if k not in ("code_as_string", "unknown_state")]

TRANSIENT: list[Case] = [
    *(Case(f"html-{s}-x{n}", f"HTTP {s} HTML page", status(s, n)) for s in (502, 503, 504) for n in (1, 3)),
    Case("html-500-x2", "HTTP 500 HTML page", status(500, 2)),
    Case("html-503-x3-per-job", "HTTP 503 HTML page", status(503, 3), coalesce=False),
    Case("429-x3", "HTTP 429 without Retry-After", status(429, 3)),
    Case("429-retry-after-0-x2", "HTTP 429 Retry-After seconds", status(429, 2, retry_after="0")),
    Case("429-retry-after-date-x2", "HTTP 429 Retry-After date", status(429, 2, retry_after=PAST)),
    Case("429-x3-per-job", "HTTP 429 without Retry-After", status(429, 3), coalesce=False),
    Case("408-x2", "HTTP 408 request timeout", json_status(408, {"code": 10001, "message": "request timeout"}, 2)),
    Case(
        "limiter-1807-x3",
        "code 1807 rate limiter",
        json_status(200, {"code": 1807, "message": "request is rejected by limiter"}, 3),
    ),
    Case("milvus-code-4-x2", "code 4 server busy", json_status(200, {"code": 4, "message": "memory quota"}, 2)),
    *(Case(f"reset-{p}-x2", f"reset ({p})", reset(p, 2)) for p in ("none", "headers", "body")),
    Case("reset-body-x2-per-job", "reset (body)", reset("body", 2), coalesce=False),
    Case("close-x2", "connection closed (FIN)", close(2)),
    Case("slow-x2", "answer slower than the timeout", slow(1.0, 2), request_timeout=0.3),
    Case("slow-x2-per-job", "answer slower than the timeout", slow(1.0, 2), request_timeout=0.3, coalesce=False),
    *(Case(f"garbage-{k}-x2", f"garbage: {k}", garbage(k, 2)) for k in RETRYABLE_GARBAGE),
    Case("garbage-code_as_string-x2", "garbage: code_as_string", garbage("code_as_string", 2)),
    Case("garbage-unknown_state-x4", "garbage: unknown_state", garbage("unknown_state", 4)),
    Case("oversized-17MB-x1", "oversized body (> 16 MiB)", oversized(17 * MB, 1)),
    Case("oversized-1MB-x2", "large body (1 MiB, under the limit)", oversized(1 * MB, 2)),
]

PERMANENT: list[Case] = [
    Case("html-503-forever", "HTTP 503 HTML page", status(503, FOREVER), "error", 4, message="after 4 attempts"),
    Case(
        "html-503-x4-exhausts",
        "HTTP 503 HTML page",
        status(503, 4),
        "error",
        4,
        message="after 4 attempts",
        coalesce=False,
    ),
    Case("429-forever", "HTTP 429 without Retry-After", status(429, FOREVER), "error", 4, message="rate limiting"),
    Case("reset-headers-forever", "reset (headers)", reset("headers", FOREVER), "error", 4, message="after 4"),
    Case("close-forever", "connection closed (FIN)", close(FOREVER), "error", 4, message="after 4"),
    Case(
        "slow-forever", "answer slower than the timeout", slow(1.0, FOREVER), "error", 3, 0.3, message="request timeout"
    ),
    *(
        Case(f"garbage-{k}-forever", f"garbage: {k}", garbage(k, FOREVER), "error", 3, message="unreadable answer")
        for k in RETRYABLE_GARBAGE
    ),
    Case(
        "garbage-unknown_state-forever",
        "garbage: unknown_state",
        garbage("unknown_state", FOREVER),
        "timeout",
        50,
        end_in=0.8,
        message="deadline",
    ),
    Case(
        "oversized-forever", "oversized body (> 16 MiB)", oversized(17 * MB, FOREVER), "error", 3, message="larger than"
    ),
    Case("404-forever", "HTTP 404 route not found", status(404, FOREVER), "error", message="does not serve"),
    Case("400-forever", "HTTP 400 bad request", status(400, FOREVER), "error", message="rejected the request"),
    Case("401-forever", "HTTP 401 refused credentials", status(401, FOREVER), "error", message="credentials"),
    Case("403-forever", "HTTP 403 forbidden", status(403, FOREVER), "error", message="credentials"),
]


@pytest.mark.parametrize("case", TRANSIENT + PERMANENT, ids=lambda c: c.id)
async def test_rest_fault_through_the_trigger(
    case: Case, make_emulator: Callable[..., ImportEmulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator = make_emulator(mode="rest", speed=0, job_duration=100)
    conn = rest_conn(monkeypatch, emulator, timeout=case.request_timeout)
    job = running_job(emulator)
    watched = await watch(
        emulator,
        job,
        conn,
        case.inject,
        then="complete" if case.expect == "success" else None,
        max_attempts=case.max_attempts,
        end_in=case.end_in,
        coalesce=case.coalesce,
    )
    assert watched.injected >= 1
    judge(
        case.kind,
        watched.event,
        truth=emulator.job(job),
        expect=case.expect,
        injected=watched.injected,
        read_before=True,
        message=case.message,
    )


async def test_unknown_state_is_unknown_and_the_wait_goes_on(
    make_emulator: Callable[..., ImportEmulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator = make_emulator(mode="rest", speed=0, job_duration=100)
    conn = rest_conn(monkeypatch, emulator)
    job = running_job(emulator)
    seen: list[int] = []
    read = SharedPoller.read

    async def spy(self: SharedPoller, job_id: str) -> BulkInsertState:
        state = await read(self, job_id)
        seen.append(state.state)
        return state

    async def inject(em: ImportEmulator) -> list[Fault]:
        return [em.inject_garbage("unknown_state", count=6, route="describe")]

    monkeypatch.setattr(SharedPoller, "read", spy)
    watched = await watch(emulator, job, conn, inject, coalesce=False)
    judge(
        "garbage: unknown_state (describe)",
        watched.event,
        truth=emulator.job(job),
        expect="success",
        injected=watched.injected,
        read_before=True,
    )
    assert 100 in seen and seen[-1] == 6, seen  # read as Unknown, waited on, then Completed


async def test_job_that_fails_after_the_faults_is_a_failed_event(
    make_emulator: Callable[..., ImportEmulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator = make_emulator(mode="rest", speed=0, job_duration=100)
    conn = rest_conn(monkeypatch, emulator)
    job = running_job(emulator)
    watched = await watch(emulator, job, conn, status(503, 2), then="fail")
    judge(
        "HTTP 503 then job Failed",
        watched.event,
        truth=emulator.job(job),
        expect="failed",
        injected=watched.injected,
        read_before=True,
    )


async def test_job_expired_mid_wait_is_an_error_with_the_last_state(
    make_emulator: Callable[..., ImportEmulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator = make_emulator(mode="rest", speed=0, job_duration=100)
    conn = rest_conn(monkeypatch, emulator)
    job = running_job(emulator)

    async def expire(em: ImportEmulator) -> list[Fault]:
        em.expire_job(job)
        return []

    watched = await watch(emulator, job, conn, expire, then=None)
    TALLY.fault(
        "job expired (code 2100)",
        injected=1,
        outcome=watched.event["status"],
        survived=watched.event["status"] == "error" and watched.event["state"] is not None,
    )
    assert watched.event["status"] == "error" and "taskRetention" in watched.event["message"]
    assert watched.event["state"]["state_name"] == "Started"


async def test_refused_credentials_are_not_retried(
    make_emulator: Callable[..., ImportEmulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator = make_emulator(mode="rest", speed=0, job_duration=100, token="root:Milvus")
    conn = rest_conn(monkeypatch, emulator, token="root:wrong")
    job = running_job(emulator)
    watched = await watch(emulator, job, conn, None, after_first_read=False, then=None, max_attempts=10)
    TALLY.fault(
        "HTTP 401 refused credentials",
        injected=1,
        outcome=watched.event["status"],
        survived=watched.event["status"] == "error",
    )
    assert watched.event["status"] == "error" and "credentials" in watched.event["message"]
    assert "root:wrong" not in watched.event["message"]
    assert emulator.request_count() <= 2, "a refused credential must not be retried"


def gap_after_the_429(emulator: ImportEmulator) -> float:
    """Seconds between the request answered 429 and the next one, as the emulator recorded them.

    A lower bound the client itself keeps (it sleeps Retry-After before asking again): load on the
    machine can only make the gap longer, never make a client that honours it look as if it did not.
    """
    records = emulator.requests
    faulted = next(i for i, r in enumerate(records) if r.fault == "status")
    return records[faulted + 1].time - records[faulted].time


@pytest.mark.parametrize("coalesce", [True, False], ids=["shared-poller", "per-job"])
async def test_retry_after_is_honoured(
    make_emulator: Callable[..., ImportEmulator], monkeypatch: pytest.MonkeyPatch, coalesce: bool
) -> None:
    """After ``429 Retry-After: 1`` the trigger (coalescing or per job) must not ask again within that second."""
    emulator = make_emulator(mode="rest", speed=0, job_duration=100)
    conn = rest_conn(monkeypatch, emulator)
    job = running_job(emulator)

    async def inject(em: ImportEmulator) -> list[Fault]:
        fault = em.inject_status(429, retry_after="1", count=1)
        await until(lambda: fault.applied >= 1)
        return [fault]

    watched = await watch(emulator, job, conn, inject, coalesce=coalesce)
    gap = gap_after_the_429(emulator)
    TALLY.fault(
        "HTTP 429 Retry-After: 1 (honoured?)",
        injected=1,
        outcome=watched.event["status"],
        survived=gap >= 0.95 and watched.event["status"] == "success",
    )
    assert watched.event["status"] == "success"
    assert gap >= 0.95, f"asked again {gap:.2f} s after 'Retry-After: 1'"


# --------------------------------------------------------------------------- availability


async def test_server_stops_and_comes_back_on_the_same_port(
    make_emulator: Callable[..., ImportEmulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator = make_emulator(mode="rest", speed=0, job_duration=100)
    conn = rest_conn(monkeypatch, emulator)
    job = running_job(emulator)
    port = emulator.port

    async def outage(em: ImportEmulator) -> list[Fault]:
        em.stop()
        await asyncio.sleep(0.5)
        em.start()
        return []

    watched = await watch(emulator, job, conn, outage, max_attempts=12)
    assert emulator.port == port
    judge(
        "server stopped, back on the same port",
        watched.event,
        truth=emulator.job(job),
        expect="success",
        injected=1,
        read_before=True,
    )


async def test_server_that_stays_down_is_an_error_with_the_last_state(
    make_emulator: Callable[..., ImportEmulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator = make_emulator(mode="rest", speed=0, job_duration=100)
    conn = rest_conn(monkeypatch, emulator)
    job = running_job(emulator)

    async def outage(em: ImportEmulator) -> list[Fault]:
        em.stop()
        return []

    watched = await watch(emulator, job, conn, outage, then=None, max_attempts=4)
    judge(
        "server stopped for good",
        watched.event,
        truth=emulator.job(job),
        expect="error",
        injected=1,
        read_before=True,
        message="could not talk to the server",
    )


async def test_paused_server_that_resumes(
    make_emulator: Callable[..., ImportEmulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator = make_emulator(mode="rest", speed=0, job_duration=100)
    conn = rest_conn(monkeypatch, emulator, timeout=0.3)
    job = running_job(emulator)

    async def hang(em: ImportEmulator) -> list[Fault]:
        em.pause(hang=True)
        await asyncio.sleep(1.0)
        em.resume()
        return []

    watched = await watch(emulator, job, conn, hang, max_attempts=12)
    judge(
        "server hangs (accepts, never answers), resumes",
        watched.event,
        truth=emulator.job(job),
        expect="success",
        injected=1,
        read_before=True,
    )


async def test_paused_server_exhausts_the_retries(
    make_emulator: Callable[..., ImportEmulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator = make_emulator(mode="rest", speed=0, job_duration=100)
    conn = rest_conn(monkeypatch, emulator, timeout=0.3)
    job = running_job(emulator)

    async def hang(em: ImportEmulator) -> list[Fault]:
        em.pause(hang=True)
        return []

    watched = await watch(emulator, job, conn, hang, then=None, max_attempts=3)
    judge(
        "server hangs for good",
        watched.event,
        truth=emulator.job(job),
        expect="error",
        injected=1,
        read_before=True,
        message="request timeout",
    )


async def test_paused_server_past_the_deadline_is_a_timeout_with_the_last_state(
    make_emulator: Callable[..., ImportEmulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator = make_emulator(mode="rest", speed=0, job_duration=100)
    conn = rest_conn(monkeypatch, emulator, timeout=0.3)
    job = running_job(emulator)

    async def hang(em: ImportEmulator) -> list[Fault]:
        em.pause(hang=True)
        return []

    watched = await watch(emulator, job, conn, hang, then=None, max_attempts=100, end_in=1.0)
    judge(
        "server hangs past the deadline",
        watched.event,
        truth=emulator.job(job),
        expect="timeout",
        injected=1,
        read_before=True,
        message="deadline",
    )


# --------------------------------------------------------------------------- Zilliz Cloud


CLOUD_CASES: list[Case] = [
    Case("cloud-html-503-x2", "cloud: HTTP 503 HTML page", status(503, 2)),
    Case("cloud-429-json-x3", "cloud: HTTP 429 rate limit", json_status(429, {"code": 429, "message": "Too many"}, 3)),
    Case(
        "cloud-rate-limit-90011-x2",
        "cloud: code 90011 rate limit",
        json_status(200, {"code": 90011, "message": "rate limit exceeded"}, 2),
    ),
    Case("cloud-reset-headers-x2", "cloud: reset (headers)", reset("headers", 2)),
    Case("cloud-garbage-html-x2", "cloud: garbage html_200", garbage("html_200", 2)),
    Case("cloud-garbage-truncated-x2", "cloud: garbage truncated_json", garbage("truncated_json", 2)),
    Case("cloud-slow-x2", "cloud: answer slower than the timeout", slow(1.0, 2), request_timeout=0.3),
    Case("cloud-503-forever", "cloud: HTTP 503 HTML page", status(503, FOREVER), "error", 3, message="after 3"),
]


@pytest.mark.parametrize("case", CLOUD_CASES, ids=lambda c: c.id)
async def test_cloud_fault_through_the_trigger(
    case: Case, make_emulator: Callable[..., ImportEmulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator = make_emulator(mode="cloud", token="emulator-api-key", speed=0, job_duration=100, rate_limit=None)
    conn = cloud_conn(monkeypatch, emulator, timeout=case.request_timeout)
    job = running_job(emulator)
    watched = await watch(
        emulator,
        job,
        conn,
        case.inject,
        then="complete" if case.expect == "success" else None,
        max_attempts=case.max_attempts,
    )
    judge(
        case.kind,
        watched.event,
        truth=emulator.job(job),
        expect=case.expect,
        injected=watched.injected,
        read_before=True,
        message=case.message,
    )


async def test_cloud_legacy_shape_through_faults(
    make_emulator: Callable[..., ImportEmulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator = make_emulator(
        mode="cloud", token="emulator-api-key", speed=0, job_duration=100, rate_limit=None, legacy_shape=True
    )
    conn = cloud_conn(monkeypatch, emulator)
    job = running_job(emulator)
    watched = await watch(emulator, job, conn, status(502, 2))
    judge(
        "cloud (legacy shape): HTTP 502",
        watched.event,
        truth={k: v for k, v in emulator.job(job).items() if k != "importedRows"},  # the legacy shape has no rows
        expect="success",
        injected=watched.injected,
        read_before=True,
    )


# --------------------------------------------------------------------------- several triggers, one connection


async def test_three_triggers_share_one_connection_through_faults(
    make_emulator: Callable[..., ImportEmulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator = make_emulator(mode="rest", speed=0, job_duration=100)
    conn = rest_conn(monkeypatch, emulator)
    jobs = running_jobs(emulator, 3)
    triggers = [MilvusImportTrigger(job_id=j, milvus_conn_id=conn, poll_interval=POLL, max_attempts=6) for j in jobs]
    tasks = [asyncio.create_task(events_of(t, 30)) for t in triggers]
    assert await until(lambda: all(describe_served(emulator, j) for j in jobs))
    faults = [emulator.inject_status(503, count=3), emulator.inject_reset(partial="body", count=2)]
    assert await until(lambda: all(f.applied >= f.count for f in faults))
    emulator.finish_job(jobs[0])
    emulator.fail_job(jobs[1], FAIL_REASON)
    emulator.finish_job(jobs[2])
    results = await asyncio.gather(*tasks)
    injected = sum(f.applied for f in faults)
    for job, events, expect in zip(jobs, results, ("success", "failed", "success"), strict=True):
        assert len(events) == 1
        judge(
            "3 triggers, 1 connection: 503 + reset",
            events[0],
            truth=emulator.job(job),
            expect=expect,
            injected=injected,
            read_before=True,
        )
        injected = 0


# --------------------------------------------------------------------------- gRPC (scripted server)


@dataclass(frozen=True)
class GrpcCase:
    """One gRPC fault scenario: answers scripted for GetImportState and ListImportTasks."""

    id: str
    kind: str
    answers: tuple[Any, ...]
    expect: str = "success"
    max_attempts: int = 5
    request_timeout: float = 2.0
    message: str = ""
    #: the job is missing from the list, so GetImportState is scripted even where the list is supported
    read_directly: bool = False


def busy_status(**fields: Any) -> pb.GetImportStateResponse:
    return pb.GetImportStateResponse(status=pb.Status(**fields))


GRPC_CASES: list[GrpcCase] = [
    GrpcCase("unavailable-x3", "gRPC UNAVAILABLE", (Abort(grpc.StatusCode.UNAVAILABLE, "connection refused"),) * 3),
    GrpcCase("deadline-x2", "gRPC DEADLINE_EXCEEDED", (Abort(grpc.StatusCode.DEADLINE_EXCEEDED),) * 2),
    GrpcCase("exhausted-x2", "gRPC RESOURCE_EXHAUSTED", (Abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "rate"),) * 2),
    GrpcCase(
        "status-retriable-x2",
        "gRPC Status retriable (code 2 not ready)",
        (busy_status(code=2, reason="service not ready", retriable=True),) * 2,
    ),
    GrpcCase(
        "status-legacy-ratelimit-x2",
        "gRPC Status error_code 49 RateLimit",
        (busy_status(error_code=49, reason="rate limit exceeded"),) * 2,
    ),
    GrpcCase("garbage-bytes-x2", "gRPC body not protobuf", (Raw(b"\xff\xff\xff\xff"),) * 2),
    GrpcCase("slow-x2", "gRPC answer slower than the deadline", (Slow(1.0),) * 2, request_timeout=0.3),
    GrpcCase(
        "unavailable-forever",
        "gRPC UNAVAILABLE",
        (Abort(grpc.StatusCode.UNAVAILABLE),) * 200,
        "error",
        4,
        message="after 4 attempts",
    ),
    GrpcCase(
        "unauthenticated",
        "gRPC UNAUTHENTICATED",
        (Abort(grpc.StatusCode.UNAUTHENTICATED, "auth"),) * 200,
        "error",
        message="credentials",
    ),
    GrpcCase(
        "task-not-found",
        "gRPC Status 'key not found'",
        (busy_status(code=65535, reason="importTask key not found"),) * 200,
        "error",
        message="does not know",
        read_directly=True,
    ),
]


@pytest.mark.parametrize("case", GRPC_CASES, ids=lambda c: c.id)
@pytest.mark.parametrize("list_supported", [True, False], ids=["list", "no-list"])
async def test_grpc_fault_through_the_trigger(
    case: GrpcCase, list_supported: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = FakeMilvusGrpc(list_supported=list_supported).start()
    try:
        conn = set_conn(
            monkeypatch,
            "rel_grpc",
            host=f"http://{server.target}",
            extra={"protocol": "grpc", "timeout": case.request_timeout},
        )
        trigger = MilvusImportTrigger(
            job_id=str(server.job_id), milvus_conn_id=conn, poll_interval=POLL, max_attempts=case.max_attempts
        )
        task = asyncio.create_task(events_of(trigger, 30))
        # One wait is read job by job (a list cannot save requests for one job): its reads carry the faults.
        assert await until(lambda: server.count("GetImportState") >= 1 or task.done())
        listing = server.count("ListImportTasks") > 0
        method = "ListImportTasks" if listing else "GetImportState"
        answers = case.answers
        if case.read_directly:
            server.list_empty = True
            method = "GetImportState"
        elif listing:  # the list read carries the state: fault it; a failed list never reaches GetImportState
            answers = tuple(
                pb.ListImportTasksResponse(status=a.status) if isinstance(a, pb.GetImportStateResponse) else a
                for a in answers
            )
        server.script(method, *answers)
        transient = case.expect == "success"
        if transient:
            await until(lambda: server.pending() == 0 or task.done(), 20)
            server.current = fake_grpc.state(6, progress=100, rows=1000, task=server.job_id)
        (event,) = await task
    finally:
        server.stop()
    truth = {"state": "Completed" if server.current.state == 6 else "Importing", "importedRows": 1000}
    judge(
        case.kind,
        event,
        truth=truth,
        expect=case.expect,
        injected=server.faults_served,
        read_before=True,
        message=case.message,
    )


async def test_grpc_server_restarts_on_the_same_port(monkeypatch: pytest.MonkeyPatch) -> None:
    """The aio channel must reconnect once the server is back (its own reconnect backoff included)."""
    server = FakeMilvusGrpc().start()
    conn = set_conn(
        monkeypatch, "rel_grpc_restart", host=f"http://{server.target}", extra={"protocol": "grpc", "timeout": 1}
    )
    trigger = MilvusImportTrigger(job_id=str(server.job_id), milvus_conn_id=conn, poll_interval=POLL, max_attempts=14)
    task = asyncio.create_task(events_of(trigger, 60))
    again = FakeMilvusGrpc(server.job_id)
    try:
        assert await until(lambda: server.count("GetImportState") >= 1)
        server.stop()
        await asyncio.sleep(0.5)
        again.current = fake_grpc.state(6, progress=100, rows=1000, task=server.job_id)
        again.start(server.port)
        started = time.monotonic()
        (event,) = await task
        recovered = time.monotonic() - started
    finally:
        server.stop()
        again.stop()
    judge(
        "gRPC server restarted on the same port",
        event,
        truth={"state": "Completed", "importedRows": 1000},
        expect="success",
        injected=1,
        read_before=True,
    )
    log.info("gRPC trigger recovered %.1f s after the server came back", recovered)


# --------------------------------------------------------------------------- the sync path (hook, worker wait)


SYNC_FAULTS: dict[str, Callable[[ImportEmulator], Fault]] = {
    "HTTP 503 HTML page": lambda em: em.inject_status(503, count=2),
    "HTTP 429 Retry-After seconds": lambda em: em.inject_status(429, count=2, retry_after="0"),
    "reset (headers)": lambda em: em.inject_reset(partial="headers", count=2),
    "reset (body)": lambda em: em.inject_reset(partial="body", count=2),
    "connection closed (FIN)": lambda em: em.inject_close(count=2),
    "answer slower than the timeout": lambda em: em.inject_slow(1.0, count=2),
    "garbage: html_200": lambda em: em.inject_garbage("html_200", count=2),
    "garbage: truncated_json": lambda em: em.inject_garbage("truncated_json", count=2),
    "garbage: float_job_id": lambda em: em.inject_garbage("float_job_id", count=2),
    "oversized body (> 16 MiB)": lambda em: em.inject_oversized(17 * MB, count=1),
}


@pytest.mark.parametrize("kind", list(SYNC_FAULTS))
@pytest.mark.parametrize("permanent", [False, True], ids=["transient", "permanent"])
def test_sync_hook_wait_through_faults(
    kind: str, permanent: bool, make_emulator: Callable[..., ImportEmulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker's wait (``deferrable=False``): the sync hook read inside the shared wait logic."""
    emulator = make_emulator(mode="rest", speed=0, job_duration=100)
    conn = rest_conn(monkeypatch, emulator, timeout=0.3)
    job = running_job(emulator)
    hook = MilvusImportHook(conn)
    faults: list[Fault] = []
    reads = 0

    def read() -> BulkInsertState:
        nonlocal reads
        reads += 1
        if reads == 2:  # after one good read
            fault = SYNC_FAULTS[kind](emulator)
            if permanent:
                fault.count = FOREVER
            faults.append(fault)
        if faults and not permanent and faults[0].applied >= faults[0].count:
            emulator.finish_job(job)
        return hook.get_import_state(job)

    settings = WaitSettings(poll_interval=POLL, max_attempts=3 if permanent else 5)
    try:
        event = wait_sync(wait_for_job(job, settings, log), read)
    finally:
        hook.close()
        emulator.clear_faults()
    judge(
        f"sync: {kind}",
        event,
        truth=emulator.job(job),
        expect="error" if permanent else "success",
        injected=sum(f.applied for f in faults),
        read_before=True,
    )


def test_sync_single_read_classifies_each_fault(
    make_emulator: Callable[..., ImportEmulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One hook read per fault: the error class and ``retryable`` flag the worker and the sensor act on."""
    emulator = make_emulator(mode="rest", speed=0, job_duration=100)
    conn = rest_conn(monkeypatch, emulator, timeout=0.3)
    job = running_job(emulator)
    expected: list[tuple[Callable[[], Any], type[exc.MilvusImportError], bool]] = [
        (lambda: emulator.inject_status(502), exc.MilvusImportServerBusyError, True),
        (lambda: emulator.inject_status(429, retry_after="3"), exc.MilvusImportServerBusyError, True),
        (lambda: emulator.inject_reset(partial="none"), exc.MilvusImportConnectionError, True),
        (lambda: emulator.inject_slow(1.0), exc.MilvusImportTimeoutError, True),
        (lambda: emulator.inject_garbage("json_array"), exc.MilvusImportInvalidResponseError, True),
        (lambda: emulator.inject_status(401), exc.MilvusImportAuthError, False),
        (lambda: emulator.inject_status(400), exc.MilvusImportRequestError, False),
    ]
    hook = MilvusImportHook(conn)
    try:
        for make, error, retryable in expected:
            make()
            with pytest.raises(error) as caught:
                hook.get_import_state(job)
            assert caught.value.retryable is retryable
            assert job in str(caught.value) and emulator.base_url in str(caught.value)
            TALLY.fault("sync: single read classified", injected=1, outcome="raised", survived=True)
        assert hook.get_import_state(job).state_name == "Started"
    finally:
        hook.close()


def test_sync_operator_runs_through_faults(
    make_emulator: Callable[..., ImportEmulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``deferrable=False``: the operator starts the import and waits in the worker through read faults."""
    emulator = make_emulator(mode="rest", speed=1, job_duration=0.6)
    conn = rest_conn(monkeypatch, emulator)
    faults = [
        emulator.inject_status(503, count=2, route="describe"),
        emulator.inject_reset(partial="headers", count=1, route="describe"),
    ]
    op = MilvusImportOperator(
        task_id="load",
        collection_name="articles",
        files=[["/data/1.parquet"]],
        milvus_conn_id=conn,
        deferrable=False,
        poll_interval=POLL,
        max_attempts=5,
    )
    context = make_context()
    result = op.execute(context)
    job = context["ti"].pushed["job_id"]
    event = {"status": "success", "state": result, "message": "operator returned"}
    judge(
        "sync: operator (503 + reset)",
        event,
        truth=emulator.job(job),
        expect="success",
        injected=sum(f.applied for f in faults),
        read_before=False,
    )


def test_sync_sensor_poke_treats_passing_faults_as_not_yet(
    make_emulator: Callable[..., ImportEmulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.providers.common.compat.sdk import AirflowException

    emulator = make_emulator(mode="rest", speed=0, job_duration=100)
    conn = rest_conn(monkeypatch, emulator)
    job = running_job(emulator)
    sensor = MilvusImportSensor(task_id="gate", job_id=job, milvus_conn_id=conn, deferrable=False)
    context = make_context()
    emulator.inject_status(503)
    assert sensor.poke(context) is False
    emulator.inject_reset(partial="body")
    assert sensor.poke(context) is False
    emulator.finish_job(job)
    emulator.inject_garbage("truncated_json")
    assert sensor.poke(context) is False
    done = sensor.poke(context)
    assert getattr(done, "is_done", False) and done.xcom_value["state_name"] == "Completed"  # type: ignore[union-attr]
    emulator.inject_status(403)
    with pytest.raises(AirflowException, match="credentials"):
        sensor.poke(context)
    TALLY.fault("sync: sensor poke (503, reset, garbage, 403)", injected=4, outcome="success", survived=True)


def test_sync_wait_across_a_stop_and_start(
    make_emulator: Callable[..., ImportEmulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator = make_emulator(mode="rest", speed=0, job_duration=100)
    conn = rest_conn(monkeypatch, emulator)
    job = running_job(emulator)
    hook = MilvusImportHook(conn)
    reads = 0

    def comeback() -> None:
        time.sleep(0.5)
        emulator.start()
        emulator.finish_job(job)

    helper = threading.Thread(target=comeback)

    def read() -> BulkInsertState:
        nonlocal reads
        reads += 1
        if reads == 2:
            emulator.stop()
            helper.start()
        return hook.get_import_state(job)

    try:
        event = wait_sync(wait_for_job(job, WaitSettings(poll_interval=POLL, max_attempts=12), log), read)
    finally:
        helper.join()
        hook.close()
    judge(
        "sync: server stopped, back on the same port",
        event,
        truth=emulator.job(job),
        expect="success",
        injected=1,
        read_before=True,
    )


# --------------------------------------------------------------------------- an answer the parser chokes on


async def test_poller_survives_an_unexpected_parse_error_rest(
    make_emulator: Callable[..., ImportEmulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A describe answer whose createTime overflows time.localtime (bug B1) must still end in one event."""
    emulator = make_emulator(mode="rest", speed=0, job_duration=100)
    conn = rest_conn(monkeypatch, emulator)
    job = running_job(emulator)
    payload = {"code": 0, "data": {"jobId": job, "state": "Importing", "progress": 50, "createTime": "4" + "0" * 20}}
    emulator.inject_status(
        200, body=json.dumps(payload), content_type="application/json", count=FOREVER, route="describe"
    )
    trigger = MilvusImportTrigger(job_id=job, milvus_conn_id=conn, poll_interval=POLL, end_time=time.time() + 1)
    try:
        events = await events_of(trigger, timeout=3)
    except AssertionError:
        TALLY.fault("answer that crashes the parser (createTime)", injected=1, outcome="hang", survived=False)
        raise
    TALLY.fault(
        "answer that crashes the parser (createTime)",
        injected=1,
        outcome=events[0]["status"],
        survived=events[0]["status"] in ("error", "timeout"),
    )
    assert len(events) == 1 and events[0]["status"] in ("error", "timeout")


async def test_per_job_wait_survives_an_unexpected_parse_error(
    make_emulator: Callable[..., ImportEmulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the shared poller: a createTime that is no epoch (B1, fixed) is read as unknown, the wait goes on."""
    emulator = make_emulator(mode="rest", speed=0, job_duration=100)
    conn = rest_conn(monkeypatch, emulator)
    job = running_job(emulator)
    payload = {"code": 0, "data": {"jobId": job, "state": "Importing", "progress": 50, "createTime": "4" + "0" * 20}}
    emulator.inject_status(
        200, body=json.dumps(payload), content_type="application/json", count=FOREVER, route="describe"
    )
    trigger = MilvusImportTrigger(
        job_id=job, milvus_conn_id=conn, poll_interval=POLL, coalesce=False, end_time=time.time() + 1
    )
    (event,) = await events_of(trigger, timeout=5)
    TALLY.fault(
        "createTime that is no epoch (per job)",
        injected=1,
        outcome=event["status"],
        survived=event["status"] == "timeout",
    )
    assert event["status"] == "timeout"
    assert event["state"]["progress"] == 50 and event["state"]["create_time_str"] == ""


async def test_poller_survives_an_unexpected_parse_error_grpc(monkeypatch: pytest.MonkeyPatch) -> None:
    """A gRPC list entry whose create_ts is a hybrid timestamp (bug B1) must still end in one event."""
    server = FakeMilvusGrpc().start()
    server.current = fake_grpc.state(2, progress=50, task=server.job_id)
    server.current.create_ts = 449_000_000_000_000_000
    try:
        conn = set_conn(monkeypatch, "rel_grpc_crash", host=f"http://{server.target}", extra={"protocol": "grpc"})
        trigger = MilvusImportTrigger(
            job_id=str(server.job_id), milvus_conn_id=conn, poll_interval=POLL, end_time=time.time() + 1
        )
        try:
            events = await events_of(trigger, timeout=3)
        except AssertionError:
            TALLY.fault("answer that crashes the parser (gRPC create_ts)", injected=1, outcome="hang", survived=False)
            raise
    finally:
        server.stop()
    TALLY.fault(
        "answer that crashes the parser (gRPC create_ts)", injected=1, outcome=events[0]["status"], survived=True
    )
    assert len(events) == 1
