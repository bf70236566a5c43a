"""Helpers shared by the reliability tests: connections from env vars, running the real trigger, waiting."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_milvus.triggers.milvus_import import MilvusImportTrigger
from tests.emulator.server import DEFAULT_API_KEY, DEFAULT_CLUSTER_ID, ImportEmulator

POLL = 0.05


def set_conn(monkeypatch: pytest.MonkeyPatch, conn_id: str, **fields: Any) -> str:
    """Define connection ``conn_id`` as ``AIRFLOW_CONN_<ID>`` in Airflow's JSON form; returns the id."""
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "milvus", **fields}))
    return conn_id


def rest_conn(
    monkeypatch: pytest.MonkeyPatch, emulator: ImportEmulator, conn_id: str = "rel_rest", **extra: Any
) -> str:
    """A REST v2 connection to ``emulator`` (request timeout 2 s unless given)."""
    return set_conn(monkeypatch, conn_id, host=emulator.base_url, extra={"protocol": "rest", "timeout": 2, **extra})


def cloud_conn(
    monkeypatch: pytest.MonkeyPatch, emulator: ImportEmulator, conn_id: str = "rel_cloud", **extra: Any
) -> str:
    """A Zilliz Cloud connection to ``emulator`` (the default API key and cluster id)."""
    fields = {
        "protocol": "cloud",
        "cloud_endpoint": emulator.base_url,
        "cloud_api_key": DEFAULT_API_KEY,
        "cloud_cluster_id": DEFAULT_CLUSTER_ID,
        "timeout": 2,
    }
    return set_conn(monkeypatch, conn_id, extra={**fields, **extra})


async def events_of(trigger: MilvusImportTrigger, timeout: float = 30.0) -> list[dict[str, Any]]:
    """Every event the trigger fires; fails the test (instead of hanging) if it fires none within ``timeout``."""

    async def collect() -> list[dict[str, Any]]:
        return [event.payload async for event in trigger.run()]

    try:
        return await asyncio.wait_for(collect(), timeout)
    except asyncio.TimeoutError:
        raise AssertionError(f"the trigger fired no event within {timeout} s (it hangs)") from None


async def until(condition: Callable[[], bool], timeout: float = 10.0, step: float = 0.005) -> bool:
    """Wait (without blocking the loop) until ``condition()``; False if ``timeout`` passed first."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(step)
    return True


def describe_served(emulator: ImportEmulator, job_id: str) -> bool:
    """True once the emulator answered a progress read of ``job_id`` without a fault (the job's state was sent)."""
    for record in emulator.requests:
        if record.route.rsplit("/", 1)[-1] in ("describe", "get_progress", "getProgress") and record.fault is None:
            body = record.json
            if record.status == 200 and isinstance(body, dict) and body.get("jobId") == job_id:
                return True
    return False


def running_jobs(emulator: ImportEmulator, count: int, collection: str = "articles") -> list[str]:
    """``count`` jobs frozen half-way through importing (the emulator's clock must be stopped: ``speed=0``)."""
    jobs = [emulator.create_job(collection, [["/data/1.parquet"], ["/data/2.parquet"]]) for _ in range(count)]
    emulator.advance(emulator.job_duration * 0.5)
    assert all(emulator.job(job)["state"] == "Importing" for job in jobs)
    return jobs


def running_job(emulator: ImportEmulator, collection: str = "articles") -> str:
    """One job frozen half-way through importing."""
    return running_jobs(emulator, 1, collection)[0]
