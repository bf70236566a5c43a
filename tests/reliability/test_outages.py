"""Outages in the middle of an import watched by the real trigger.

The real Milvus 2.3.5 is restarted (stopped, then started on the same data) while a big import runs and
the trigger waits over gRPC. Milvus marks an import that a restart interrupted as Failed with "task
marked failed as service restarted": that is the server's truth, and the trigger must end with it
(event ``failed`` carrying the reason), its retries and backoff spanning the ~15 s restart. The REST
emulator version: the job completes while the server is away and the trigger ends in success.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from pymilvus import Collection

from airflow_provider_milvus import BulkInsertState
from airflow_provider_milvus.hooks.milvus_import import MilvusImportHook
from airflow_provider_milvus.triggers.milvus_import import MilvusImportTrigger
from tests.emulator.server import ImportEmulator
from tests.milvus_server.data import write_numpy_files
from tests.milvus_server.server import MilvusServer
from tests.reliability.support import describe_served, events_of, rest_conn, set_conn, until
from tests.reliability.tally import TALLY

ROWS = 2_000_000  # about 5 s of importing on the test machine: the restart lands in the middle of it
RESTARTED = "task marked failed as service restarted"


async def read_state(conn: str, job_id: str) -> BulkInsertState:
    """A fresh read through a new hook (off the event loop)."""

    def read() -> BulkInsertState:
        hook = MilvusImportHook(conn)
        try:
            return hook.get_import_state(job_id)
        finally:
            hook.close()

    return await asyncio.to_thread(read)


@pytest.mark.milvus
async def test_trigger_waits_through_a_milvus_restart_mid_import(
    running_milvus_server: MilvusServer,
    import_collection: Collection,
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = running_milvus_server
    conn = set_conn(monkeypatch, "rel_outage_grpc", host=server.uri, extra={"protocol": "grpc", "timeout": 5})
    files = write_numpy_files(data_dir / "big", ROWS)
    hook = MilvusImportHook(conn)
    job = hook.start_import(import_collection.name, files)
    hook.close()
    # poll 0.5 s, backoff base 0.5 s doubling (full jitter, capped at 60 s): 16 attempts span minutes, not 15 s
    trigger = MilvusImportTrigger(job_id=job, milvus_conn_id=conn, poll_interval=0.5, max_attempts=16)
    task = asyncio.create_task(events_of(trigger, timeout=300))
    before = await read_state(conn, job)
    assert not before.is_terminal, f"the import ended before the restart: {before.summary()}"
    started = time.monotonic()
    await asyncio.to_thread(server.restart)
    outage = time.monotonic() - started
    (event,) = await task
    waited = time.monotonic() - started
    fresh = await read_state(conn, job)
    TALLY.outages["real Milvus restarts mid-import"] += 1
    TALLY.outages[f"event after the restart: {event['status']}"] += 1
    state = BulkInsertState.from_dict(event["state"])
    same = state.state == fresh.state and state.failed_reason == fresh.failed_reason
    TALLY.fault(
        "real Milvus 2.3.5 restarted mid-import (gRPC)",
        injected=1,
        outcome=event["status"],
        survived=same and event["status"] in ("failed", "success"),
    )
    TALLY.false_successes += int(event["status"] == "success" and not fresh.succeeded)
    print(f"\nrestart took {outage:.1f} s; the trigger ended {waited:.1f} s after it began: {event['message']}")
    assert same, f"the event says {state.summary()}, the server now says {fresh.summary()}"
    if fresh.failed:
        assert event["status"] == "failed" and RESTARTED in fresh.failed_reason
        assert RESTARTED in event["message"] and state.failed_reason == fresh.failed_reason
    else:  # the import beat the stop: then it must be a success with every row
        assert fresh.succeeded and event["status"] == "success" and state.row_count == ROWS


async def test_trigger_waits_through_an_emulator_restart_and_the_job_completes(
    make_emulator: Callable[..., ImportEmulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    """REST v2: the server goes away mid-import and comes back on the same port; the job finished meanwhile."""
    emulator = make_emulator(mode="rest", speed=1, job_duration=2.0, rows_per_file=5000)
    conn = rest_conn(monkeypatch, emulator)
    hook = MilvusImportHook(conn)
    job = hook.start_import("articles", [["/data/1.parquet"], ["/data/2.parquet"]])
    hook.close()
    trigger = MilvusImportTrigger(job_id=job, milvus_conn_id=conn, poll_interval=0.05, max_attempts=12)
    task = asyncio.create_task(events_of(trigger, timeout=60))
    assert await until(lambda: describe_served(emulator, job))
    assert emulator.job(job)["state"] in ("Pending", "Importing")
    emulator.stop()
    await asyncio.sleep(2.5)  # the job's clock runs on: it completes while nobody can ask
    assert emulator.job(job)["state"] == "Completed"
    emulator.start()
    (event,) = await task
    fresh = await read_state(conn, job)
    TALLY.outages["emulator restarts mid-import"] += 1
    survived = event["status"] == "success" and fresh.succeeded and event["state"]["row_count"] == fresh.row_count
    TALLY.fault(
        "REST emulator stopped mid-import, job completes", injected=1, outcome=event["status"], survived=survived
    )
    assert event["status"] == "success", event
    assert BulkInsertState.from_dict(event["state"]) == fresh
    assert fresh.row_count == 10_000


async def test_trigger_sees_the_failure_a_cloud_outage_hid(
    make_emulator: Callable[..., ImportEmulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Zilliz Cloud: the job fails while the control plane is away; the trigger reports the failure, not success."""
    emulator = make_emulator(mode="cloud", token="emulator-api-key", speed=1, job_duration=2.0, rate_limit=None)
    from tests.reliability.support import cloud_conn

    conn = cloud_conn(monkeypatch, emulator)
    job = emulator.create_job("articles", [["s3://b/1.parquet"], ["s3://b/fail.parquet"]])
    trigger = MilvusImportTrigger(job_id=job, milvus_conn_id=conn, poll_interval=0.05, max_attempts=12)
    task = asyncio.create_task(events_of(trigger, timeout=60))
    assert await until(lambda: describe_served(emulator, job))
    emulator.stop()
    await asyncio.sleep(2.0)
    assert emulator.job(job)["state"] == "Failed"
    emulator.start()
    (event,) = await task
    TALLY.outages["cloud emulator restarts mid-import"] += 1
    TALLY.fault(
        "cloud emulator stopped mid-import, job fails",
        injected=1,
        outcome=event["status"],
        survived=event["status"] == "failed",
    )
    assert event["status"] == "failed" and "fail.parquet" in event["message"]
