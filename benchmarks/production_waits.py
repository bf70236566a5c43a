"""The cost of waiting for N imports in a production-shaped Airflow: PostgreSQL, LocalExecutor, two triggerers.

One real Airflow 3 (``tests/airflow_env``: api-server, scheduler, dag-processor, ``triggerer`` and
``triggerer-2`` on a private PostgreSQL from Debian's package) runs, one after the other in the same
run, the four DAGs of ``benchmarks/dags/bench_production_waits.py`` with the same N and poll interval:

- ``deferred``: ``MilvusImportSensor`` (a worker starts it, it defers, a worker resumes it);
- ``start_from_trigger``: the same with ``start_from_trigger=True``;
- ``end_from_trigger``: with ``start_from_trigger=True`` and ``end_from_trigger=True`` (no worker);
- ``reschedule``: ``PythonSensor(mode="reschedule")`` + pymilvus's REST helper ``get_import_progress``.

Each wait gates an ``EmptyOperator``, which the scheduler marks done without a worker the moment it may run.

The N jobs live in the REST v2 emulator (another process, its CPU not counted). Its clock stands still
until every wait is waiting (deferred, or poked once), then runs: no job ends during a ``--window`` of
pure waiting, then they end one after another over 30 s. Measured per mode:

- CPU-seconds per hour while waiting: every Airflow process (services, executor workers, task
  processes, reaped ones included), over the waiting window; per wait, what the waits add to the same
  Airflow idling (measured first, same length); the scheduler's own process alone, the same way;
- worker process starts per wait: task runs the api-server saw begin (``PATCH .../run``), from the
  trigger of the run to its end;
- detection latency: from a job's end to its task's end (p50, p99);
- gate latency: from a job's end to the start of the task downstream of its wait (p50, p99);
- requests to the server per wait per poll interval while waiting, and in all.

Run: ``.venv/bin/python benchmarks/production_waits.py [--waits 30] [--poke 15] [--window 60]``
(needs the ``bench`` extra for the reschedule DAG: ``BENCH=1 bash scripts/setup.sh``). Prints a table and ratios.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import psutil
from _common import REPO, EmulatorProcess, code_version, percentile, table

from tests.airflow_env.harness import AirflowEnv
from tests.airflow_env.postgres import PostgresServer

DAGS = REPO / "benchmarks" / "dags"
MODES = {
    "deferred": "bench_prod_deferred",
    "start_from_trigger": "bench_prod_start_from_trigger",
    "end_from_trigger": "bench_prod_end_from_trigger",
    "reschedule": "bench_prod_reschedule",
}
WAITING = {"deferred", "up_for_reschedule"}
ENDS_OVER = 30.0  # seconds over which the jobs end, after the waiting window


@dataclass
class Result:
    """What one mode cost."""

    mode: str
    cpu_per_hour: float = 0.0
    cpu_per_wait_hour: float = 0.0
    scheduler_cpu_per_wait_hour: float = 0.0
    worker_starts_per_wait: float = 0.0
    latency_p50: float = 0.0
    latency_p99: float = 0.0
    gate_p50: float = 0.0
    gate_p99: float = 0.0
    requests_per_wait_interval: float = 0.0
    requests: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)


def cpu(env: AirflowEnv) -> tuple[float, float]:
    """(all Airflow CPU seconds so far, the scheduler's own), reaped children included."""
    total = scheduler = 0.0
    seen: set[int] = set()
    for name, pid in env.pids.items():
        try:
            main = psutil.Process(pid)
            family = [main, *main.children(recursive=True)]
        except psutil.Error:
            continue
        for proc in family:
            if proc.pid in seen:
                continue
            seen.add(proc.pid)
            try:
                t = proc.cpu_times()
            except psutil.Error:
                continue
            total += t.user + t.system + t.children_user + t.children_system
            if name == "scheduler" and proc.pid == pid:
                scheduler = t.user + t.system
    return total, scheduler


def ti_end(ti: dict[str, Any]) -> float:
    """A task instance's end as epoch seconds."""
    return dt.datetime.fromisoformat(str(ti["end_date"]).replace("Z", "+00:00")).timestamp()


def ti_start(ti: dict[str, Any]) -> float:
    """A task instance's start as epoch seconds."""
    return dt.datetime.fromisoformat(str(ti["start_date"]).replace("Z", "+00:00")).timestamp()


def task_instances(env: AirflowEnv, dag_id: str, run_id: str) -> list[dict[str, Any]]:
    """Every task instance of the run (waits and gates: more than the API's default page)."""
    path = f"dags/{dag_id}/dagRuns/{run_id}/taskInstances"
    return list(env.api_json("GET", path, params={"limit": 1000})["task_instances"])


def all_states(env: AirflowEnv, dag_id: str, run_id: str) -> dict[str, str | None]:
    """``{task_id: state}`` of every task instance of the run."""
    return {ti["task_id"]: ti["state"] for ti in task_instances(env, dag_id, run_id)}


def idle_cpu_per_hour(env: AirflowEnv, seconds: float) -> tuple[float, float]:
    """(all Airflow, scheduler) CPU seconds per hour with nothing to run: the baseline the modes add to."""
    cpu0, sched0 = cpu(env)
    time.sleep(seconds)
    cpu1, sched1 = cpu(env)
    return (cpu1 - cpu0) * 3600 / seconds, (sched1 - sched0) * 3600 / seconds


def run_mode(
    env: AirflowEnv, emulator: EmulatorProcess, mode: str, args: argparse.Namespace, idle: tuple[float, float]
) -> Result:
    """One mode, start to end; its figures."""
    dag_id = MODES[mode]
    result = Result(mode)
    emulator.command("speed", speed=0.0)
    durations = [args.window + ENDS_OVER * (i + 1) / args.waits for i in range(args.waits)]
    emulator.command("script", durations=durations)
    ids = emulator.command("create", n=args.waits)["ids"]
    _, offset = env.task_starts(0)
    starts = 0
    run_id = env.trigger_dag(dag_id, {"job_ids": ids, "uri": emulator.base_url}, timeout=120)
    poked: set[str] = set()
    deadline = time.monotonic() + 900
    while True:  # every wait waiting (reschedule: poked at least once)
        states = {task: state for task, state in all_states(env, dag_id, run_id).items() if task.startswith("wait_")}
        poked |= {task for task, state in states.items() if state in WAITING}
        if len(poked) == args.waits and all(s in WAITING | {"running", "queued", "scheduled"} for s in states.values()):
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"{mode}: not every wait started: {states}")
        time.sleep(1.0)
    counted, offset = env.task_starts(offset)
    starts += counted
    before = emulator.command("counters")["requests"]
    cpu0, sched0 = cpu(env)
    emulator.command("speed", speed=1.0)
    now = time.time()
    ends = [now + s for s in emulator.command("ends", ids=ids)["seconds"]]
    time.sleep(args.window - 1.0)  # before the first job ends: waiting only
    cpu1, sched1 = cpu(env)
    during = emulator.command("counters")["requests"] - before
    hours = (args.window - 1.0) / 3600
    result.cpu_per_hour = (cpu1 - cpu0) / hours
    # Per wait: what the waits add to the same Airflow idling (its services' own loops).
    result.cpu_per_wait_hour = (result.cpu_per_hour - idle[0]) / args.waits
    result.scheduler_cpu_per_wait_hour = ((sched1 - sched0) / hours - idle[1]) / args.waits
    result.requests_per_wait_interval = during / args.waits / ((args.window - 1.0) / args.poke)
    state = env.wait_for_run(dag_id, run_id, timeout=1200, interval=2.0)
    counted, offset = env.task_starts(offset)
    starts += counted
    result.worker_starts_per_wait = starts / args.waits
    result.requests = emulator.command("counters")["requests"]
    tis = task_instances(env, dag_id, run_id)
    by_task = {ti["task_id"]: ti for ti in tis}
    # Latency of the waits that succeeded (Airflow 3.3.2 can fail a reschedule sensor on a stale executor
    # event: those are counted in the outcomes instead).
    latencies = [
        ti_end(by_task[f"wait_{i:03d}"]) - ends[i]
        for i in range(args.waits)
        if by_task[f"wait_{i:03d}"]["state"] == "success"
    ]
    result.latency_p50, result.latency_p99 = percentile(latencies, 50), percentile(latencies, 99)
    gates = [
        ti_start(by_task[f"gate_{i:03d}"]) - ends[i]
        for i in range(args.waits)
        if by_task[f"gate_{i:03d}"]["state"] == "success"
    ]
    result.gate_p50, result.gate_p99 = percentile(gates, 50), percentile(gates, 99)
    waits = [ti for ti in tis if ti["task_id"].startswith("wait_")]
    result.outcomes = {s: sum(ti["state"] == s for ti in waits) for s in {ti["state"] for ti in waits}}
    if state != "success":
        print(f"{mode}: run {state}: {result.outcomes}", file=sys.stderr, flush=True)
    emulator.command("reset")  # counters per mode (jobs too: the next mode creates its own)
    return result


def main() -> None:
    """Start PostgreSQL, Airflow and the emulator; run the modes; print the table and the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--waits", type=int, default=30)
    parser.add_argument("--poke", type=float, default=15.0)
    parser.add_argument("--window", type=float, default=60.0)
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--home", help="keep Airflow's home (logs) here instead of a temporary directory")
    args = parser.parse_args()
    results: list[Result] = []
    with (
        contextlib.nullcontext(args.home) if args.home else tempfile.TemporaryDirectory(prefix="bench-prod-") as home,
        PostgresServer() as pg,
        EmulatorProcess(mode="rest", speed=0) as emulator,
    ):
        env = AirflowEnv(
            Path(home),
            dags_folder=DAGS,
            database_url=pg.create_database("airflow"),
            triggerers=2,
            extra_env={
                "AIRFLOW_CONN_MILVUS_DEFAULT": json.dumps(
                    {"conn_type": "milvus", "host": emulator.base_url, "extra": {"protocol": "rest"}}
                ),
                "BENCH_PROD_WAITS": str(args.waits),
                "BENCH_PROD_POKE_INTERVAL": str(args.poke),
                "AIRFLOW__CORE__PARALLELISM": "8",
                "AIRFLOW__API__MAXIMUM_PAGE_LIMIT": "1000",
            },
        )
        with env:
            env.migrate()
            env.start()
            env.start("triggerer-2")
            time.sleep(10)  # past the start-up work (first parse, first heartbeats)
            idle = idle_cpu_per_hour(env, args.window - 1.0)
            print(f"idle Airflow: {idle[0]:.0f} CPU s/hour, scheduler {idle[1]:.0f}", file=sys.stderr, flush=True)
            for mode in args.modes.split(","):
                results.append(run_mode(env, emulator, mode, args, idle))
                print(f"{mode}: {results[-1]}", file=sys.stderr, flush=True)
    print(report(results, args, idle))


def report(results: list[Result], args: argparse.Namespace, idle: tuple[float, float]) -> str:
    """The table and the ratios against the deferrable sensor."""
    rows = [
        [
            r.mode,
            r.cpu_per_hour,
            r.cpu_per_wait_hour,
            r.scheduler_cpu_per_wait_hour,
            r.worker_starts_per_wait,
            r.latency_p50,
            r.latency_p99,
            r.gate_p50,
            r.gate_p99,
            r.requests_per_wait_interval,
            r.requests,
            ", ".join(f"{n} {s}" for s, n in sorted(r.outcomes.items())),
        ]
        for r in results
    ]
    headers = [
        "mode",
        "Airflow CPU s / hour while waiting",
        "added CPU s / wait / hour",
        "scheduler CPU s / wait / hour",
        "worker starts / wait",
        "detection p50 (s)",
        "detection p99 (s)",
        "job end to downstream start p50 (s)",
        "p99 (s)",
        "requests / wait / interval",
        "requests in all",
        "outcomes",
    ]
    lines = [
        f"code {code_version()}; N={args.waits} waits, poll {args.poke:.0f} s, {args.window:.0f} s waiting window; "
        "Airflow 3.3.2 on PostgreSQL, LocalExecutor, 2 triggerers; "
        f"the same Airflow idle: {idle[0]:.0f} CPU s / hour (scheduler {idle[1]:.0f})",
        "",
        table(headers, rows),
    ]
    by_mode = {r.mode: r for r in results}
    # Against the deferred sensor (what the provider did by default) and the pymilvus reschedule baseline.
    for base_mode in ("deferred", "reschedule"):
        base = by_mode.get(base_mode)
        if base is None:
            continue
        lines.append("")
        for other in results:
            if other is base:
                continue
            ratios = {
                "CPU": (other.cpu_per_wait_hour, base.cpu_per_wait_hour),
                "scheduler CPU": (other.scheduler_cpu_per_wait_hour, base.scheduler_cpu_per_wait_hour),
                "worker starts": (other.worker_starts_per_wait, base.worker_starts_per_wait),
                "detection p50": (other.latency_p50, base.latency_p50),
                "downstream start p50": (other.gate_p50, base.gate_p50),
                "requests/interval": (other.requests_per_wait_interval, base.requests_per_wait_interval),
            }
            lines.append(
                f"{other.mode} / {base_mode}: "
                + ", ".join(f"{name} {a / b:.2f}x" if b else f"{name} n/a" for name, (a, b) in ratios.items())
            )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
