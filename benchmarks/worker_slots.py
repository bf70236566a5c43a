"""Worker slots held while N imports wait: deferrable MilvusImportSensor vs a pymilvus PythonSensor in poke mode.

Real Milvus 2.3.5 (machine-wide lock: waits for another session's server) and, per mode, a fresh real
Airflow 3 (api-server, scheduler, triggerer, dag-processor; SQLite + LocalExecutor with
``AIRFLOW__CORE__PARALLELISM`` raised to 64) running the DAGs of ``tests/e2e/dags/bench_worker_slots.py``:

- ``deferrable``: N ``MilvusImportSensor`` tasks (they wait in the triggerer),
- ``poke``: N ``PythonSensor(mode="poke")`` tasks calling pymilvus ``utility.get_bulk_insert_state``.

The N sensors wait on N distinct real import jobs, queued in Milvus behind enough small imports
(Milvus 2.3 runs imports one at a time, about 2 s each here) to stay Pending for the whole
measurement. Every second the script reads the task states from the REST API and the Airflow
processes with psutil. It measures until every sensor is waiting, then a settling time (15 s, quick
10 s) and a steady window for CPU (45 s, quick 15 s), then stops Airflow. The Milvus server is reniced
(19) so that its import work does not starve Airflow on this small machine: in production Milvus runs
elsewhere.

    .venv/bin/python benchmarks/worker_slots.py [--quick] [--waits 50] [--parallelism 64]

Exit status: 0 after a measurement, 1 if setup failed.
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
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import warnings  # noqa: E402

warnings.filterwarnings("ignore", module="pymilvus")
warnings.filterwarnings("ignore", message=".*ORM-style PyMilvus API")

import psutil  # noqa: E402
from pymilvus import connections, utility  # noqa: E402

from tests.airflow_env.harness import AirflowEnv, AirflowEnvError  # noqa: E402
from tests.milvus_server.data import create_import_collection, write_numpy_files  # noqa: E402
from tests.milvus_server.server import MilvusServer, MilvusServerError  # noqa: E402

DAGS_FOLDER = REPO / "tests" / "e2e" / "dags"
DAG_IDS = {"deferrable": "bench_slots_deferrable", "poke": "bench_slots_poke"}
NOT_STARTED = {None, "none", "scheduled", "queued"}
SECONDS_PER_IMPORT = 1.0  # lower bound of a small import's turn in Milvus 2.3's queue (about 2 s measured)
MB = 1024 * 1024


class SetupError(RuntimeError):
    """Milvus, Airflow or the data could not be prepared: exit 1."""


@dataclass
class ProcSample:
    """The Airflow processes at one moment."""

    total: int = 0
    idle_workers: int = 0
    busy_workers: int = 0
    task_processes: int = 0
    rss: float = 0.0
    pss: float | None = None
    cpu: float = 0.0
    cpu_by_service: dict[str, float] = field(default_factory=dict)


@dataclass
class ModeResult:
    """What one mode's measurement found."""

    mode: str
    waits: int
    idle: ProcSample
    all_waiting_after: float | None = None
    max_running: int = 0
    steady_running: list[int] = field(default_factory=list)
    max_deferred: int = 0
    max_busy_workers: int = 0
    max_task_processes: int = 0
    max_processes: int = 0
    peak_rss: float = 0.0
    peak_pss: float = 0.0
    steady_cpu: list[float] = field(default_factory=list)
    steady_cpu_by_service: dict[str, list[float]] = field(default_factory=dict)
    steady_machine_cpu: list[float] = field(default_factory=list)
    steady_busy_workers: list[int] = field(default_factory=list)
    steady_task_processes: list[int] = field(default_factory=list)
    steady_processes: list[int] = field(default_factory=list)
    steady_rss: list[float] = field(default_factory=list)
    steady_pss: list[float] = field(default_factory=list)
    jobs_still_pending: int = 0
    final_states: Counter[str] = field(default_factory=Counter)
    window: float = 0.0


class ProcessMeter:
    """Samples an AirflowEnv's processes: counts by role, summed RSS/PSS (MB) and CPU % (100 = one core)."""

    def __init__(self, env: AirflowEnv) -> None:
        self.env = env
        self._known: dict[int, psutil.Process] = {}

    def family(self) -> list[psutil.Process]:
        """Every service process and its descendants, plus marked processes outside those trees.

        ``env.processes()`` alone misses the LocalExecutor's workers and task processes: setproctitle
        overwrites their ``/proc/<pid>/environ``, where the harness looks for its marker.
        """
        found: dict[int, psutil.Process] = {p.pid: p for p in self.env.processes()}
        for pid in self.env.pids.values():
            with contextlib.suppress(psutil.Error):
                main = psutil.Process(pid)
                found.setdefault(pid, main)
                for child in main.children(recursive=True):
                    found.setdefault(child.pid, child)
        return list(found.values())

    def sample(self, with_pss: bool) -> ProcSample:
        """One sample; PSS (reads smaps, slower) only when asked.

        LocalExecutor workers are the scheduler's children titled ``airflow worker -- LocalExecutor: ...``
        (busy unless ``<idle>``); a task process is a worker's child.
        """
        result = ProcSample(pss=0.0 if with_pss else None)
        services = {pid: name for name, pid in self.env.pids.items()}
        scheduler = self.env.pids.get("scheduler")
        seen: dict[int, tuple[psutil.Process, int, str]] = {}
        current: dict[int, psutil.Process] = {}
        for found in self.family():
            proc = self._known.get(found.pid, found)
            try:
                seen[proc.pid] = (proc, proc.ppid(), " ".join(proc.cmdline()).strip())
            except psutil.Error:
                continue
        workers = {pid for pid, (_, ppid, title) in seen.items() if ppid == scheduler and "LocalExecutor" in title}
        for pid, (proc, ppid, title) in seen.items():
            try:
                cpu = proc.cpu_percent(None)  # 0.0 on the first call for a process: it primes the counter
                rss = proc.memory_info().rss
                pss = proc.memory_full_info().pss if with_pss else 0
            except psutil.Error:
                continue
            current[pid] = proc
            result.total += 1
            result.rss += rss / MB
            result.cpu += cpu
            if result.pss is not None:
                result.pss += pss / MB
            if pid in workers:
                if title.endswith("<idle>"):
                    result.idle_workers += 1
                else:
                    result.busy_workers += 1
            elif ppid in workers:
                result.task_processes += 1
            service = self._service_of(pid, seen, services)
            result.cpu_by_service[service] = result.cpu_by_service.get(service, 0.0) + cpu
        self._known = current
        return result

    @staticmethod
    def _service_of(pid: int, seen: dict[int, tuple[psutil.Process, int, str]], services: dict[int, str]) -> str:
        """The service whose process tree holds ``pid`` (``other`` if none)."""
        for _ in range(10):
            if pid in services:
                return services[pid]
            if pid not in seen:
                return "other"
            pid = seen[pid][1]
        return "other"


def task_states(env: AirflowEnv, dag_id: str, run_id: str) -> Counter[str]:
    """Counts of the run's task instance states (``none`` for not yet scheduled)."""
    path = env._run_path(dag_id, run_id) + "/taskInstances"
    items = env.api_json("GET", path, params={"limit": 1000})["task_instances"]
    return Counter(str(ti["state"] or "none") for ti in items)


def queue_imports(alias: str, collection: str, files: list[str], head: int, watched: int) -> list[str]:
    """Queue ``head`` imports, then ``watched`` more; return the watched job ids (they wait behind the head)."""
    for _ in range(head):
        utility.do_bulk_insert(collection, files=files, using=alias, timeout=30)
    return [str(utility.do_bulk_insert(collection, files=files, using=alias, timeout=30)) for _ in range(watched)]


def measure_mode(
    mode: str,
    *,
    work: Path,
    server: MilvusServer,
    alias: str,
    collection: str,
    files: list[str],
    waits: int,
    parallelism: int,
    poke_interval: float,
    settle: float,
    steady: float,
    max_window: float,
) -> ModeResult:
    """A fresh Airflow for one mode: trigger N sensors on N queued jobs, sample, stop."""
    dag_id = DAG_IDS[mode]
    env = AirflowEnv(
        work / f"airflow-{mode}",
        dags_folder=DAGS_FOLDER,
        extra_env={
            "AIRFLOW__CORE__PARALLELISM": str(parallelism),
            "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": str(max(waits, 16)),
            "BENCH_SLOTS_WAITS": str(waits),
            "BENCH_SLOTS_POKE_INTERVAL": str(poke_interval),
        },
    )
    try:
        try:
            env.migrate()
            env.start()
            env.add_connection("milvus_default", "milvus", host=server.uri, extra={"protocol": "grpc"})
            env.wait_for_dag(dag_id, timeout=120)
        except AirflowEnvError as error:
            raise SetupError(f"{mode}: {error}") from error
        meter = ProcessMeter(env)
        meter.sample(with_pss=False)
        time.sleep(2)
        result = ModeResult(mode=mode, waits=waits, idle=meter.sample(with_pss=True))

        head = math.ceil((max_window + 30) / SECONDS_PER_IMPORT)
        job_ids = queue_imports(alias, collection, files, head, waits)
        run_id = env.trigger_dag(dag_id, {"job_ids": job_ids, "uri": server.uri})
        began = time.monotonic()
        psutil.cpu_percent(None)
        tick = 0
        while True:
            time.sleep(1.0)
            tick += 1
            elapsed = time.monotonic() - began
            states = task_states(env, dag_id, run_id)
            procs = meter.sample(with_pss=tick % 5 == 0)
            machine_cpu = psutil.cpu_percent(None)
            result.max_running = max(result.max_running, states["running"])
            result.max_deferred = max(result.max_deferred, states["deferred"])
            result.max_busy_workers = max(result.max_busy_workers, procs.busy_workers)
            result.max_task_processes = max(result.max_task_processes, procs.task_processes)
            result.max_processes = max(result.max_processes, procs.total)
            result.peak_rss = max(result.peak_rss, procs.rss)
            if procs.pss is not None:
                result.peak_pss = max(result.peak_pss, procs.pss)
            not_started = sum(n for state, n in states.items() if state in NOT_STARTED)
            # A deferrable sensor waits once deferred (running = its first read); a poke sensor waits running.
            waiting = states["deferred"] if mode == "deferrable" else states["running"] + states["up_for_reschedule"]
            if result.all_waiting_after is None and not_started == 0 and waiting == waits:
                result.all_waiting_after = elapsed
            if result.all_waiting_after is not None:
                result.steady_running.append(states["running"])
                if elapsed >= result.all_waiting_after + settle:  # CPU after the start-up work settled
                    result.steady_cpu.append(procs.cpu)
                    result.steady_machine_cpu.append(machine_cpu)
                    result.steady_busy_workers.append(procs.busy_workers)
                    result.steady_task_processes.append(procs.task_processes)
                    result.steady_processes.append(procs.total)
                    result.steady_rss.append(procs.rss)
                    if procs.pss is not None:
                        result.steady_pss.append(procs.pss)
                    for service, cpu in procs.cpu_by_service.items():
                        result.steady_cpu_by_service.setdefault(service, []).append(cpu)
            print(
                f"  {mode:<10} t={elapsed:5.0f}s {dict(states)} procs={procs.total} busy={procs.busy_workers} "
                f"rss={procs.rss:,.0f}MB cpu={procs.cpu:.0f}%",
                flush=True,
            )
            if result.all_waiting_after is not None and elapsed >= result.all_waiting_after + settle + steady:
                break
            if elapsed >= max_window:
                break
        result.window = time.monotonic() - began
        result.final_states = task_states(env, dag_id, run_id)
        jobs = [utility.get_bulk_insert_state(int(j), using=alias, timeout=10) for j in job_ids]
        result.jobs_still_pending = sum(1 for s in jobs if s.state_name in ("Pending", "Started", "Persisted"))
        return result
    finally:
        env.stop()


def mean(values: list[float]) -> str:
    """Mean, rounded, with thousands separators, or ``-``."""
    return f"{statistics.fmean(values):,.0f}" if values else "-"


def top(values: list[int]) -> str:
    """Maximum, or ``-``."""
    return str(max(values)) if values else "-"


def print_table(results: list[ModeResult], parallelism: int, poke_interval: float) -> None:
    """The comparison tables and the verdict."""
    print(
        f"\nWorker slots while N imports wait: real Airflow 3.3 (LocalExecutor, parallelism {parallelism}), "
        f"Milvus 2.3.5, poke_interval {poke_interval:g} s, 2 cores"
    )
    print(
        "\n| mode | waits | all waiting after | max running | slots held while all wait | max deferred "
        "| busy workers / task procs: max -> steady | Airflow procs idle -> steady | PSS MB idle -> steady (peak) "
        "| RSS MB idle -> steady | Airflow CPU % | machine CPU % | jobs pending at end |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        waiting = "never" if r.all_waiting_after is None else f"{r.all_waiting_after:.0f} s"
        held = f"{max(r.steady_running)}" if r.steady_running else "-"
        print(
            f"| {r.mode} | {r.waits} | {waiting} | {r.max_running} | {held} | {r.max_deferred} "
            f"| {r.max_busy_workers} / {r.max_task_processes} -> {top(r.steady_busy_workers)} / "
            f"{top(r.steady_task_processes)} | {r.idle.total} -> {top(r.steady_processes)} "
            f"| {(r.idle.pss or 0):,.0f} -> {mean(r.steady_pss)} ({r.peak_pss:,.0f}) "
            f"| {r.idle.rss:,.0f} -> {mean(r.steady_rss)} "
            f"| {mean(r.steady_cpu)} | {mean(r.steady_machine_cpu)} | {r.jobs_still_pending}/{r.waits} |"
        )
    services = sorted({name for r in results for name in r.steady_cpu_by_service})
    print("\nSteady-state CPU % by service tree (scheduler includes its LocalExecutor workers and task processes):\n")
    print("| mode | " + " | ".join(services) + " |")
    print("|---|" + "---:|" * len(services))
    for r in results:
        cells = [mean(r.steady_cpu_by_service.get(name, [])) for name in services]
        print(f"| {r.mode} | " + " | ".join(cells) + " |")
    print(
        "\nmax running: at any time, including a deferrable sensor's first read before it defers. "
        "running while all wait: max from the moment every sensor waited (deferred, or running in poke mode) "
        "to the end. steady: mean (processes: max) over the window after settling; CPU 100 = one core. "
        "RSS double-counts pages shared by forked workers; PSS splits them."
    )
    for r in results:
        print(f"  {r.mode}: window {r.window:.0f} s, final task states {dict(r.final_states)}")
    deferrable = next((r for r in results if r.mode == "deferrable"), None)
    if deferrable is not None:
        held_slots = max(deferrable.steady_running) if deferrable.steady_running else None
        ok = held_slots == 0 and deferrable.all_waiting_after is not None
        verdict = "MET" if ok else "MISSED"
        print(f"goal: 0 worker slots held by waiting deferrable sensors -> {verdict} (held: {held_slots})")


def main(argv: list[str] | None = None) -> int:
    """Parse options, set up Milvus, measure each mode in a fresh Airflow, print, clean up."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 waits, parallelism 16, shorter windows")
    parser.add_argument("--waits", type=int, default=None, help="sensors / import jobs (default 50, quick 10)")
    parser.add_argument("--parallelism", type=int, default=None, help="AIRFLOW__CORE__PARALLELISM (64, quick 16)")
    parser.add_argument("--poke-interval", type=float, default=5.0, help="sensor poke_interval in seconds")
    parser.add_argument("--settle", type=float, default=None, help="seconds after all wait before CPU counts (15/10)")
    parser.add_argument("--steady", type=float, default=None, help="seconds of CPU measured after settling (45/15)")
    parser.add_argument("--max-window", type=float, default=None, help="cap per mode in seconds (300, quick 120)")
    parser.add_argument("--modes", default="deferrable,poke", help="comma-separated: deferrable, poke")
    parser.add_argument("--lock-timeout", type=float, default=900, help="seconds to wait for another Milvus server")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs) instead of deleting it")
    args = parser.parse_args(argv)
    waits = args.waits or (10 if args.quick else 50)
    parallelism = args.parallelism or (16 if args.quick else 64)
    settle = args.settle or (10.0 if args.quick else 15.0)
    steady = args.steady or (15.0 if args.quick else 45.0)
    max_window = args.max_window or (120.0 if args.quick else 300.0)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = set(modes) - set(DAG_IDS)
    if unknown:
        parser.error(f"unknown modes {sorted(unknown)}")

    work = Path(tempfile.mkdtemp(prefix="bench-slots-"))
    server: MilvusServer | None = None
    alias = f"bench_{uuid.uuid4().hex[:8]}"
    results: list[ModeResult] = []
    try:
        try:
            files = write_numpy_files(work / "import", 1000)
            server = MilvusServer(work / "milvus", lock_timeout=args.lock_timeout)
            server.start()
            for pid in [server.pid, *server.milvus_pids]:
                with contextlib.suppress(psutil.Error):
                    psutil.Process(pid).nice(19)
            connections.connect(alias=alias, host=server.host, port=str(server.port), timeout=30)
            collection = create_import_collection(alias, f"bench_slots_{uuid.uuid4().hex[:8]}").name
        except (MilvusServerError, OSError) as error:
            raise SetupError(str(error)) from error
        print(f"setup done in {work}: {waits} waits, parallelism {parallelism}, modes {modes}", flush=True)
        for mode in modes:
            results.append(
                measure_mode(
                    mode,
                    work=work,
                    server=server,
                    alias=alias,
                    collection=collection,
                    files=files,
                    waits=waits,
                    parallelism=parallelism,
                    poke_interval=args.poke_interval,
                    settle=settle,
                    steady=steady,
                    max_window=max_window,
                )
            )
    except SetupError as error:
        print(f"setup failed: {error}", file=sys.stderr)
        return 1
    finally:
        with contextlib.suppress(Exception):
            connections.disconnect(alias)
        if server is not None:
            server.stop()
        if args.keep:
            print(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print_table(results, parallelism, args.poke_interval)
    return 0


if __name__ == "__main__":
    sys.exit(main())
