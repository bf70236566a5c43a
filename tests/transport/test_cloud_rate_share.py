"""Zilliz Cloud's 20 requests/s hold across triggerers: two triggerer-like processes, the cloud emulator's limiter.

Each process (``tests/airflow_env/trigger_process.py``: one event loop, as a triggerer runs triggers) waits
for its own ``JOBS`` cloud jobs with per-job polling every ``POLL`` s, which asks for far more than the
cloud allows (2 x 40 requests/s). Run once with the default share (``[milvus] cloud_requests_per_second``
unset: 6 per process) and once with 18 per process (0.1's fixed budget, right for ONE process only):

- the default share: the emulator's limiter (20/s per API key and endpoint, sliding window) never answers 429;
- 18 each: the cloud answers 429 (the limiter is real and the shares add up) and the waits back off and
  still end right.
Every wait ends with its job's real outcome in both runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.airflow_env import trigger_process
from tests.emulator.server import DEFAULT_API_KEY, DEFAULT_CLUSTER_ID, ImportEmulator

REPO = Path(__file__).resolve().parents[2]
TRIGGER = "airflow_provider_milvus.triggers.milvus_import.MilvusImportTrigger"
PROCESSES = 2
JOBS = 20  # per process
POLL = 0.5
JOB_SECONDS = 14.0  # from creation; the processes need about 5 s to start


def run_processes(emulator: ImportEmulator, share: str | None, tmp_path: Path) -> tuple[list[dict[str, Any]], dict]:
    """Start PROCESSES triggerer-like processes on fresh jobs at once; return their results and the expected states."""
    expected: dict[str, str] = {}
    configs = []
    for p in range(PROCESSES):
        kwargs = []
        for j in range(JOBS):
            fails = j % 5 == 0
            emulator.script_next_job(duration=JOB_SECONDS, fail_after=JOB_SECONDS / 2 if fails else None)
            job_id = emulator.create_job("share", [[f"p{p}-{j}.json"]], cluster_id=DEFAULT_CLUSTER_ID)
            expected[job_id] = "failed" if fails else "success"
            kwargs.append(
                {"job_id": job_id, "poll_interval": POLL, "coalesce": False, "protocol": "cloud", "max_attempts": 30}
            )
        configs.append({"classpath": TRIGGER, "kwargs": kwargs, "start_window": 0.5})
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env["AIRFLOW_HOME"] = str(tmp_path)
    env["AIRFLOW_CONN_MILVUS_DEFAULT"] = json.dumps(
        {
            "conn_type": "milvus",
            "host": "",
            "extra": {
                "protocol": "cloud",
                "cloud_endpoint": emulator.base_url,
                "cloud_api_key": DEFAULT_API_KEY,
                "cloud_cluster_id": DEFAULT_CLUSTER_ID,
            },
        }
    )
    if share is not None:
        env["AIRFLOW__MILVUS__CLOUD_REQUESTS_PER_SECOND"] = share
    procs = [
        subprocess.Popen(
            trigger_process.command(cfg),
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for cfg in configs
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err[-3000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results, expected


def outcomes(results: list[dict[str, Any]]) -> dict[str, str]:
    """job id -> event status, over every process."""
    return {event["job_id"]: event["status"] for result in results for event in result["events"]}


@pytest.mark.parametrize(("share", "over_limit"), [(None, False), ("18", True)], ids=["default-share", "18-each"])
def test_two_triggerers_share_the_cloud_limit(
    share: str | None, over_limit: bool, make_emulator: Callable[..., ImportEmulator], tmp_path: Path
) -> None:
    emulator = make_emulator(mode="cloud", token=DEFAULT_API_KEY, rate_limit="auto", speed=1.0)
    assert emulator.rate_limit == 20
    began = time.monotonic()
    results, expected = run_processes(emulator, share, tmp_path)
    seconds = time.monotonic() - began
    limited = emulator.rate_limited_count()
    answered = emulator.request_count() - limited
    events = [e for r in results for e in r["events"]]
    print(
        f"\nshare {share or 'default (6)'} x {PROCESSES} processes, {PROCESSES * JOBS} waits polled every {POLL} s: "
        f"{emulator.request_count()} requests, {limited} answered 429, {answered / seconds:.1f} answered/s "
        f"over {seconds:.1f} s"
    )
    assert len(events) == PROCESSES * JOBS
    assert outcomes(results) == expected  # every wait ended with its job's real outcome, once
    assert all(e["status"] != "error" for e in events)
    if over_limit:
        assert limited > 0, "two processes at 18/s each must exceed the cloud's 20/s"
    else:
        assert limited == 0, f"the default share let {limited} requests hit the cloud's limiter"
