"""Detection latency in a real Airflow 3: Milvus reports the import Completed -> the downstream task starts.

Starts a real Milvus 2.3.5 (machine-wide lock: waits for another session's server) and real Airflow
services (api-server, scheduler, triggerer, dag-processor; SQLite + LocalExecutor), then runs the repo's
``example_milvus_import_then_gate`` DAG (``start_import`` -> deferrable ``wait_for_import`` with
poke_interval 5 s -> ``check_rows``) several times. Each run's import is queued behind one blocker
import, so the sensor is deferred before the job can finish.

Milvus's own view of the end: this process polls GetImportState with pymilvus every ``--milvus-poll``
seconds and records the first time the state is Completed. The downstream task's start is its
``start_date`` from the REST API (same machine clock). Also shown per run: when the trigger logged the
Completed state and when the sensor task ended.

    .venv/bin/python benchmarks/airflow_detection_latency.py [--quick] [--runs 5]

Exit status: 0 after a measurement (the verdict against the goal is printed), 1 if setup failed.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import warnings  # noqa: E402

warnings.filterwarnings("ignore", module="pymilvus")
warnings.filterwarnings("ignore", message=".*ORM-style PyMilvus API")

from pymilvus import connections, utility  # noqa: E402

from tests.airflow_env.harness import AirflowEnv, AirflowEnvError  # noqa: E402
from tests.milvus_server.data import create_import_collection, write_numpy_files  # noqa: E402
from tests.milvus_server.server import MilvusServer, MilvusServerError  # noqa: E402

DAG_ID = "example_milvus_import_then_gate"
SENSOR = "wait_for_import"
DOWNSTREAM = "check_rows"
POKE_INTERVAL = 5.0  # the example DAG's sensor poke_interval
GOAL_SLACK = 3.0  # goal: median latency within poll interval + 3 s


class SetupError(RuntimeError):
    """Milvus, Airflow or the data could not be prepared: exit 1."""


@dataclass
class Sample:
    """One run's timestamps (epoch seconds) and derived latencies."""

    run_id: str
    job_id: str
    milvus_completed: float
    trigger_saw: float | None
    sensor_end: float | None
    downstream_start: float
    sensor_state_at_completion: str | None

    @property
    def latency(self) -> float:
        """Milvus Completed -> downstream task start."""
        return self.downstream_start - self.milvus_completed

    def since_completed(self, stamp: float | None) -> str:
        """A timestamp as seconds after Milvus's Completed, or ``-``."""
        return "-" if stamp is None else f"{stamp - self.milvus_completed:5.1f}"


def epoch(text: str | None) -> float | None:
    """An ISO-8601 timestamp (``...Z`` or ``+00:00``) as epoch seconds."""
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) with linear interpolation between closest ranks."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    position = (len(ordered) - 1) * q
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def wait_xcom(env: AirflowEnv, run_id: str, task_id: str, key: str, timeout: float) -> Any:
    """Poll an XCom until it exists."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(AirflowEnvError):
            return env.xcom(DAG_ID, run_id, task_id, key)
        if time.monotonic() > deadline:
            raise AirflowEnvError(f"no XCom {task_id}.{key} in run {run_id} after {timeout} s")
        time.sleep(0.2)


def first_completed(alias: str, job_id: str, poll: float, timeout: float) -> float:
    """Poll Milvus until the job is Completed; return the epoch time of the first answer saying so."""
    deadline = time.monotonic() + timeout
    while True:
        state = utility.get_bulk_insert_state(int(job_id), using=alias, timeout=10)
        seen = time.time()
        if state.state_name == "Completed":
            return seen
        if state.state_name == "Failed":
            raise AirflowEnvError(f"import {job_id} failed: {state.failed_reason}")
        if time.monotonic() > deadline:
            raise AirflowEnvError(f"import {job_id} still {state.state_name} after {timeout} s")
        time.sleep(poll)


def trigger_saw_completed(env: AirflowEnv, run_id: str, job_id: str) -> float | None:
    """When the trigger logged the job as Completed (its trigger log's timestamp), if it did."""
    for path in env.trigger_log_files(DAG_ID, run_id, SENSOR):
        for event in env.read_log_events(path):
            if str(event.get("event", "")).startswith(f"job {job_id}: Completed"):
                return epoch(str(event.get("timestamp", "")))
    return None


def one_run(env: AirflowEnv, alias: str, collection: str, blocker: str, files: list[str], milvus_poll: float) -> Sample:
    """Queue a blocker, run the DAG, time Milvus's Completed against the downstream task's start."""
    utility.do_bulk_insert(blocker, files=files, using=alias, timeout=30)
    run_id = env.trigger_dag(DAG_ID, {"collection_name": collection, "files": files})
    job_id = str(wait_xcom(env, run_id, "start_import", "job_id", timeout=120))
    completed = first_completed(alias, job_id, milvus_poll, timeout=300)
    sensor_state = env.task_instance(DAG_ID, run_id, SENSOR).get("state")
    state = env.wait_for_run(DAG_ID, run_id, timeout=180)
    tis = {ti["task_id"]: ti for ti in env.task_instances(DAG_ID, run_id)}
    if state != "success":
        states = {task_id: ti["state"] for task_id, ti in tis.items()}
        raise AirflowEnvError(f"run {run_id} {state}: {states}")
    downstream = epoch(tis[DOWNSTREAM]["start_date"])
    assert downstream is not None
    return Sample(
        run_id=run_id,
        job_id=job_id,
        milvus_completed=completed,
        trigger_saw=trigger_saw_completed(env, run_id, job_id),
        sensor_end=epoch(tis[SENSOR]["end_date"]),
        downstream_start=downstream,
        sensor_state_at_completion=sensor_state,
    )


def print_table(samples: list[Sample], rows: int) -> None:
    """Per-run table and the summary against the goal."""
    print(f"\nDetection latency, real Airflow 3.3 + Milvus 2.3.5, poke_interval {POKE_INTERVAL:g} s, {rows:,} rows/job")
    print("(seconds after Milvus first answered Completed)\n")
    header = f"| run | sensor at completion | trigger logged Completed | sensor task ended | {DOWNSTREAM} started |"
    print(header)
    print("|---:|---|---:|---:|---:|")
    for number, s in enumerate(samples, 1):
        print(
            f"| {number} | {s.sensor_state_at_completion} | {s.since_completed(s.trigger_saw)} | "
            f"{s.since_completed(s.sensor_end)} | {s.latency:5.1f} |"
        )
    valid = [s for s in samples if s.sensor_state_at_completion == "deferred"]
    latencies = [s.latency for s in valid]
    goal = POKE_INTERVAL + GOAL_SLACK
    if not latencies:
        print("\nno run had the sensor deferred at completion: no valid sample")
        return
    median = statistics.median(latencies)
    p90 = percentile(latencies, 0.9)
    triggers = [s.trigger_saw - s.milvus_completed for s in valid if s.trigger_saw is not None]
    print(
        f"\n{len(latencies)} valid runs: median {median:.1f} s, p90 {p90:.1f} s, "
        f"min {min(latencies):.1f} s, max {max(latencies):.1f} s"
    )
    if triggers:
        print(f"  of which poll detection (trigger logged Completed): median {statistics.median(triggers):.1f} s")
    verdict = "MET" if median <= goal else "MISSED"
    print(f"goal: median within poll interval + {GOAL_SLACK:g} s = {goal:g} s -> {verdict}")


def main(argv: list[str] | None = None) -> int:
    """Parse options, set up Milvus and Airflow, measure, print, clean up."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 runs of 1M-row imports")
    parser.add_argument("--runs", type=int, default=None, help="number of DAG runs (default 5, quick 2)")
    parser.add_argument("--rows", type=int, default=None, help="rows per import (default 3M, quick 1M)")
    parser.add_argument("--milvus-poll", type=float, default=0.05, help="seconds between GetImportState polls")
    parser.add_argument("--lock-timeout", type=float, default=900, help="seconds to wait for another Milvus server")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs) instead of deleting it")
    args = parser.parse_args(argv)
    runs = args.runs or (2 if args.quick else 5)
    rows = args.rows or (1_000_000 if args.quick else 3_000_000)

    work = Path(tempfile.mkdtemp(prefix="bench-detection-"))
    server: MilvusServer | None = None
    env: AirflowEnv | None = None
    alias = f"bench_{uuid.uuid4().hex[:8]}"
    samples: list[Sample] = []
    try:
        try:
            files = write_numpy_files(work / "import", rows)
            server = MilvusServer(work / "milvus", lock_timeout=args.lock_timeout)
            server.start()
            connections.connect(alias=alias, host=server.host, port=str(server.port), timeout=30)
            collection = create_import_collection(alias, f"bench_{uuid.uuid4().hex[:10]}").name
            blocker = create_import_collection(alias, f"bench_blocker_{uuid.uuid4().hex[:8]}").name
            env = AirflowEnv(work / "airflow", dags_folder=REPO / "example_dags")
            env.migrate()
            env.start()
            env.add_connection("milvus_default", "milvus", host=server.uri, extra={"protocol": "auto"})
            env.wait_for_dag(DAG_ID, timeout=90)
        except (MilvusServerError, AirflowEnvError, OSError) as error:
            raise SetupError(str(error)) from error
        print(f"setup done in {work}; {runs} runs of {rows:,} rows", flush=True)
        for number in range(1, runs + 1):
            sample = one_run(env, alias, collection, blocker, files, args.milvus_poll)
            samples.append(sample)
            print(
                f"  run {number}: job {sample.job_id} latency {sample.latency:.1f} s "
                f"(sensor {sample.sensor_state_at_completion} at completion)",
                flush=True,
            )
    except SetupError as error:
        print(f"setup failed: {error}", file=sys.stderr)
        return 1
    finally:
        with contextlib.suppress(Exception):
            connections.disconnect(alias)
        if env is not None:
            env.stop()
        if server is not None:
            server.stop()
        if args.keep:
            print(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print_table(samples, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
