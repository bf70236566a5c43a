"""Many waiting MilvusImportTriggers in ONE asyncio event loop, as Airflow's triggerer runs them.

For each size (100, 1,000, 5,000 triggers) and each mode (coalesced, per-job: ``coalesce=False``),
interleaved, a fresh worker process runs that many ``MilvusImportTrigger.run()`` coroutines in one event
loop against the REST v2 emulator, which runs in ANOTHER process (its CPU is not ours) with a per-request
latency. Jobs stay in flight (Importing, progress frozen) for the whole run, so what is measured is the
cost of waiting. Each worker measures, over a window of whole poll intervals after a warm-up:

- event-loop lag: how late a 10 ms ticker task wakes up (p50, p99, max), and the same idle, before the
  triggers start (the baseline of this machine at this moment);
- CPU seconds of the worker per job per poll interval (net of the idle process's CPU rate), and per hour;
- memory per waiting trigger: RSS growth (and, in separate runs, tracemalloc growth) over the same
  process just before the triggers start;
- the requests the server saw per poll interval (and new TCP connections), asked from the emulator.

The benchmark process samples each worker's TCP sockets from outside (psutil) every 0.5 s.
With ``--refresh`` (on by default, off with ``--quick``) one more coalesced run of 1,000 triggers covers a
whole full-read refresh period (``polling.REFRESH_SECONDS``) to show the amortized request rate.

Run: ``.venv/bin/python benchmarks/triggerer_scale.py [--quick]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import itertools
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import CACHE_DIR, PYTHON, EmulatorProcess, airflow_env, code_version, control, percentile, table

CONN_ID = "bench_milvus"
TICK = 0.010
#: Emulated job length: jobs sit in Importing with progress that moves every ~10^5 s, i.e. never here.
JOB_DURATION = 1e7
ADVANCE = 2e6


# ----------------------------------------------------------------------------------------- the worker


def _cpu() -> float:
    """CPU seconds of this process, all threads (ns resolution; os.times() ticks are 10 ms)."""
    return time.process_time()


async def _counters(control_url: str) -> dict[str, Any]:
    result: dict[str, Any] = await asyncio.to_thread(control, control_url, "counters")
    return result


async def run_worker(cfg: dict[str, Any]) -> dict[str, Any]:
    """Run ``cfg["n"]`` triggers in this event loop and measure them (see the module docstring)."""
    import psutil

    import airflow_provider_milvus.waiting as waiting
    from airflow_provider_milvus.triggers.milvus_import import MilvusImportTrigger

    n, interval, coalesce = int(cfg["n"]), float(cfg["interval"]), bool(cfg["coalesce"])
    control_url = cfg["control_url"]
    process = psutil.Process()

    retries = 0
    original_backoff = waiting.backoff_delay

    def counting_backoff(*args: Any, **kwargs: Any) -> float:
        nonlocal retries
        retries += 1
        return original_backoff(*args, **kwargs)

    waiting.backoff_delay = counting_backoff  # counts failed reads; no cost unless a read fails

    lags: list[tuple[float, float]] = []
    _dump_tasks_on_sigusr1()
    collections: list[tuple[float, int, float]] = []  # (end, generation, seconds) of each garbage collection
    gc_started = [0.0]

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            gc_started[0] = time.monotonic()
        else:
            now = time.monotonic()
            collections.append((now, info["generation"], now - gc_started[0]))

    gc.callbacks.append(on_gc)

    def gc_stats(since: float, until: float) -> dict[str, float]:
        full = [seconds for at, gen, seconds in collections if since <= at <= until and gen == 2]
        every = [seconds for at, _, seconds in collections if since <= at <= until]
        return {
            "gen2_runs": len(full),
            "gen2_max_ms": max(full, default=0.0) * 1000,
            "gc_ms": sum(every) * 1000,
            "objects": len(gc.get_objects()),
        }

    async def ticker() -> None:
        while True:
            started = time.monotonic()
            await asyncio.sleep(TICK)
            now = time.monotonic()
            lags.append((now, now - started - TICK))

    def lag_stats(since: float, until: float) -> dict[str, float]:
        window = [lag * 1000 for at, lag in lags if since <= at <= until]
        # A loop blocked for L ms delays one tick by L but also swallows the ticks that would have come
        # meanwhile: add them back (L-10, L-20, ... ms) for a time-weighted view (coordinated omission).
        weighted = [*window]
        for lag in window:
            missed = lag - TICK * 1000
            while missed > 0:
                weighted.append(missed)
                missed -= TICK * 1000
        return {
            "p50": percentile(window, 50),
            "p99": percentile(window, 99),
            "p99_weighted": percentile(weighted, 99),
            "max": max(window, default=float("nan")),
            "over50": sum(1 for lag in window if lag > 50),
            "blocked_s": sum(lag for lag in window if lag > 50) / 1000,
            "ticks": len(window),
        }

    await asyncio.to_thread(control, control_url, "reset")
    created = await asyncio.to_thread(control, control_url, "create", n=n, advance=ADVANCE)
    ids: list[str] = created["ids"]

    tick_task = asyncio.create_task(ticker())
    # Idle baseline: this process, ticker running, no trigger yet.
    gc.collect()
    idle_t0, idle_c0 = time.monotonic(), _cpu()
    await asyncio.sleep(cfg["idle"])
    idle_t1, idle_c1 = time.monotonic(), _cpu()
    idle_rate = (idle_c1 - idle_c0) / (idle_t1 - idle_t0)
    gc.collect()
    base_rss = process.memory_info().rss
    base_traced = _traced()

    events: list[dict[str, Any]] = []

    async def drive(trigger: MilvusImportTrigger) -> None:
        async for event in trigger.run():
            events.append(event.payload)

    start_counters = await _counters(control_url)
    started = time.monotonic()
    tasks = [
        asyncio.create_task(
            drive(
                MilvusImportTrigger(
                    job_id, CONN_ID, poll_interval=interval, coalesce=coalesce, stall_timeout=cfg.get("stall_timeout")
                )
            ),
            name=job_id,
        )
        for job_id in ids
    ]
    # Warm-up: every trigger has read its job once (n full reads in both modes), then settle.
    deadline = started + cfg["warmup_timeout"]
    while time.monotonic() < deadline:
        seen = await _counters(control_url)
        if seen["routes"].get("describe", 0) - start_counters["routes"].get("describe", 0) >= n:
            break
        await asyncio.sleep(0.5)
    warmed = time.monotonic() - started
    await asyncio.sleep(cfg["settle"] * interval)

    before = await _counters(control_url)
    t0, c0 = time.monotonic(), _cpu()
    await asyncio.sleep(cfg["window"] * interval)
    t1, c1 = time.monotonic(), _cpu()
    after = await _counters(control_url)
    events_in_window = len(events)

    garbage = gc_stats(t0, t1)
    rss = process.memory_info().rss
    traced = _traced()
    sockets = len(process.net_connections(kind="tcp"))
    done_early = sum(1 for t in tasks if t.done())

    for task in tasks:
        task.cancel()
    # asyncio.wait, not wait_for: a trigger that ignores its cancellation is counted, not waited for forever.
    _, stuck = await asyncio.wait(tasks, timeout=cfg["cancel_timeout"])
    closed = [t.exception() for t in tasks if t.done() and not t.cancelled()]
    for task in list(stuck)[:3]:  # to the worker's log: where a trigger ignored its cancellation
        print(f"--- trigger task {task.get_name()} still running {cfg['cancel_timeout']} s after cancel():")
        task.print_stack(file=sys.stdout)
    sys.stdout.flush()
    tick_task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await tick_task
    intervals = (t1 - t0) / interval
    routes = {k: v - before["routes"].get(k, 0) for k, v in after["routes"].items()}
    return {
        "n": n,
        "mode": "coalesced" if coalesce else "per-job",
        "interval": interval,
        "window_s": t1 - t0,
        "window_start": t0,
        "window_end": t1,
        "warmup_s": warmed,
        "intervals": intervals,
        "requests_per_interval": (after["requests"] - before["requests"]) / intervals,
        "routes_per_interval": {k: v / intervals for k, v in routes.items() if v},
        "new_connections_per_interval": (after["total_connections"] - before["total_connections"]) / intervals,
        "server_cpu_ms_per_interval": (after["cpu"] - before["cpu"]) * 1000 / intervals,
        "cpu_s": c1 - c0,
        "idle_cpu_rate": idle_rate,
        "cpu_ms_per_job_interval": (c1 - c0) * 1000 / n / intervals,
        "cpu_ms_per_job_interval_net": max(0.0, c1 - c0 - idle_rate * (t1 - t0)) * 1000 / n / intervals,
        "lag": lag_stats(t0, t1),
        "idle_lag": lag_stats(idle_t0, idle_t1),
        "rss_kb_per_trigger": (rss - base_rss) / 1024 / n,
        "base_rss_mb": base_rss / 2**20,
        "traced_kb_per_trigger": None if traced is None or base_traced is None else (traced - base_traced) / 1024 / n,
        "sockets_end": sockets,
        "events_before_end": events_in_window,
        "tasks_done_before_end": done_early,
        "read_retries": retries,
        "cancel_errors": sum(1 for r in closed if isinstance(r, Exception)),
        "cancel_stuck": len(stuck),
        "gc": garbage,
    }


def _dump_tasks_on_sigusr1() -> None:
    """``kill -USR1 <worker>`` prints every task's stack to the worker's log (for a worker that hangs)."""

    def dump() -> None:
        tasks = asyncio.all_tasks()
        print(f"--- {len(tasks)} tasks ---", flush=True)
        for task in list(tasks)[:30]:
            task.print_stack(limit=12, file=sys.stdout)
        sys.stdout.flush()

    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, dump)


def _traced() -> int | None:
    import tracemalloc

    return tracemalloc.get_traced_memory()[0] if tracemalloc.is_tracing() else None


def worker_entry(config_path: str) -> None:
    """``--worker CONFIG``: run one measurement and write its result next to the config."""
    cfg = json.loads(Path(config_path).read_text())
    if cfg.get("tracemalloc"):
        import tracemalloc

        tracemalloc.start()
    # Import everything the triggers use before the baseline, as a triggerer process would have.
    import airflow_provider_milvus.polling
    import airflow_provider_milvus.triggers.milvus_import  # noqa: F401

    result = asyncio.run(run_worker(cfg))
    Path(cfg["result"]).write_text(json.dumps(result))


# --------------------------------------------------------------------------------- the orchestrator


def run_one(emulator: EmulatorProcess, cfg: dict[str, Any], home: str, log_dir: Path) -> dict[str, Any]:
    """One worker process; its TCP sockets sampled from here every 0.5 s."""
    import psutil

    tag = f"{cfg['n']}-{'coalesced' if cfg['coalesce'] else 'perjob'}{'-tm' if cfg.get('tracemalloc') else ''}"
    tag += cfg.get("tag", "")
    with tempfile.TemporaryDirectory(prefix="bench-worker-") as tmp:
        config_path = Path(tmp) / "config.json"
        cfg = {**cfg, "control_url": emulator.control_url, "result": str(Path(tmp) / "result.json")}
        config_path.write_text(json.dumps(cfg))
        log_path = log_dir / f"triggerer_scale-{tag}.log"
        with open(log_path, "w") as log:
            proc = subprocess.Popen(
                [PYTHON, __file__, "--worker", str(config_path)],
                env=airflow_env(CONN_ID, emulator.base_url, home),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            samples: list[tuple[float, int]] = []
            stop = threading.Event()

            def sample() -> None:
                watched = psutil.Process(proc.pid)
                while not stop.wait(0.5):
                    with contextlib.suppress(psutil.Error):
                        samples.append((time.monotonic(), len(watched.net_connections(kind="tcp"))))

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            try:
                code = proc.wait(
                    timeout=cfg["warmup_timeout"]
                    + cfg["cancel_timeout"]
                    + 120
                    + (cfg["settle"] + cfg["window"]) * cfg["interval"]
                    + 60
                )
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGUSR1)  # the worker prints its tasks' stacks to its log
                time.sleep(2)
                proc.kill()
                code = proc.wait()
            stop.set()
            sampler.join()
        if code != 0:
            raise RuntimeError(f"worker {tag} exited with {code}; see {log_path}")
        result: dict[str, Any] = json.loads(Path(cfg["result"]).read_text())
    in_window = [count for at, count in samples if result["window_start"] <= at <= result["window_end"]]
    result["sockets_max"] = max(in_window, default=result["sockets_end"])
    result["sockets_mean"] = statistics.fmean(in_window) if in_window else float(result["sockets_end"])
    return result


def _pick(results: list[dict[str, Any]], key: str) -> float:
    """The median over repeats of one metric (dotted keys reach into dicts)."""
    values = []
    for result in results:
        value: Any = result
        for part in key.split("."):
            value = value[part]
        values.append(float(value))
    return statistics.median(values)


def main() -> None:
    """Run the interleaved measurements and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="100 and 1,000 triggers, 2 s interval, no refresh run")
    parser.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], default=None)
    parser.add_argument("--interval", type=float, default=None, help="poll interval, s (default 5; quick 2)")
    parser.add_argument("--window", type=int, default=None, help="poll intervals measured (default 3; quick 2)")
    parser.add_argument("--repeats", type=int, default=1, help="runs per size and mode (medians reported)")
    parser.add_argument("--latency", type=float, default=0.010, help="emulator latency per request, s")
    parser.add_argument("--no-tracemalloc", action="store_true", help="skip the tracemalloc runs")
    parser.add_argument("--refresh", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument(
        "--refresh-period", type=float, default=60.0, help="full-read refresh period of the refresh run, s"
    )
    parser.add_argument("--report", metavar="RAW_JSON", help="print the tables of an earlier run's raw results")
    args = parser.parse_args()
    if args.worker:
        worker_entry(args.worker)
        return
    if args.report:
        print(report_from(json.loads(Path(args.report).read_text())))
        return

    sizes = args.sizes or ([100, 1000] if args.quick else [100, 1000, 5000])
    interval = args.interval or (2.0 if args.quick else 5.0)
    window = args.window or (2 if args.quick else 3)
    refresh = (not args.quick) if args.refresh is None else args.refresh
    log_dir = CACHE_DIR / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    base = {
        "interval": interval,
        "window": window,
        "settle": 1,
        "idle": min(interval, 5.0),
        "warmup_timeout": 180,
        "cancel_timeout": 60,
    }

    results: dict[tuple[int, str], list[dict[str, Any]]] = {}
    traced: dict[tuple[int, str], dict[str, Any]] = {}
    began = time.monotonic()
    knobs = {"mode": "rest", "latency": args.latency, "job_duration": JOB_DURATION, "rate_limit": None}
    with tempfile.TemporaryDirectory(prefix="bench-airflow-home-") as home, EmulatorProcess(**knobs) as emulator:
        for index, n in enumerate(sizes):
            for rep in range(args.repeats):
                modes = [True, False] if (index + rep) % 2 == 0 else [False, True]
                for coalesce in modes:
                    result = run_one(emulator, {**base, "n": n, "coalesce": coalesce}, home, log_dir)
                    results.setdefault((n, result["mode"]), []).append(result)
                    _progress(result)
        if not args.no_tracemalloc:
            for index, n in enumerate(sizes):
                for coalesce in [True, False] if index % 2 == 0 else [False, True]:
                    cfg = {**base, "n": n, "coalesce": coalesce, "tracemalloc": True, "window": 1}
                    result = run_one(emulator, cfg, home, log_dir)
                    traced[(n, result["mode"])] = result
                    _progress(result)
        refreshed = None
        if refresh:
            # stall_timeout=3R makes the poller re-read each job in full every R s (coalesce: refresh = stall / 3),
            # so one whole refresh period fits in a short window; the default period is then predicted from it.
            period = args.refresh_period
            cfg = {
                **base,
                "n": 1000,
                "coalesce": True,
                "window": int(period // interval) + 1,
                "stall_timeout": 3 * period,
                "refresh_period": period,
                "tag": "-refresh",
            }
            refreshed = run_one(emulator, cfg, home, log_dir)
            _progress(refreshed)

    print()
    print(
        f"triggerer_scale: poll interval {interval:g} s, emulator latency {args.latency * 1000:g} ms in another "
        f"process, window {window} intervals after warm-up, {args.repeats} run(s) per cell (medians), "
        f"{time.monotonic() - began:.0f} s in all; package at {code_version()}"
    )
    print()
    print(report(sizes, results, traced, interval, refreshed))
    raw = CACHE_DIR / "triggerer_scale.json"
    raw.write_text(
        json.dumps(
            {
                "runs": [r for rs in results.values() for r in rs],
                "tracemalloc": list(traced.values()),
                "refresh": refreshed,
            },
            indent=1,
        )
    )
    print(f"\nraw results: {raw.relative_to(CACHE_DIR.parents[1])}")


def report(
    sizes: list[int],
    results: dict[tuple[int, str], list[dict[str, Any]]],
    traced: dict[tuple[int, str], dict[str, Any]],
    interval: float,
    refreshed: dict[str, Any] | None,
) -> str:
    """The tables: what the server sees, then what our process pays."""
    server_rows = []
    process_rows = []
    for n in sizes:
        per_job = _pick(results[(n, "per-job")], "requests_per_interval")
        for mode in ("coalesced", "per-job"):
            runs = results[(n, mode)]
            routes = {
                k: statistics.median(r["routes_per_interval"].get(k, 0.0) for r in runs) for k in ("list", "describe")
            }
            requests = _pick(runs, "requests_per_interval")
            server_rows.append(
                [
                    n,
                    mode,
                    requests,
                    routes["list"],
                    routes["describe"],
                    per_job / requests if requests else float("nan"),
                    n / requests if requests else float("nan"),
                    _pick(runs, "new_connections_per_interval"),
                    int(_pick(runs, "sockets_max")),
                    _pick(runs, "server_cpu_ms_per_interval"),
                    _pick(runs, "warmup_s"),
                    int(sum(r["read_retries"] for r in runs)),
                ]
            )
            tm = traced.get((n, mode))
            process_rows.append(
                [
                    n,
                    mode,
                    _pick(runs, "lag.p50"),
                    _pick(runs, "lag.p99"),
                    _pick(runs, "lag.p99_weighted"),
                    _pick(runs, "lag.max"),
                    _pick(runs, "lag.blocked_s") * 1000 / _pick(runs, "intervals"),
                    _pick(runs, "gc.gen2_runs") / _pick(runs, "intervals"),
                    _pick(runs, "gc.gen2_max_ms"),
                    _pick(runs, "idle_lag.p99"),
                    _pick(runs, "cpu_ms_per_job_interval_net"),
                    _pick(runs, "cpu_ms_per_job_interval_net") * 3600 / interval / 1000,
                    _pick(runs, "idle_cpu_rate") * 100,
                    _pick(runs, "rss_kb_per_trigger"),
                    float("nan") if tm is None else tm["traced_kb_per_trigger"],
                    int(sum(r["cancel_stuck"] for r in runs)),
                ]
            )
    parts = [
        table(
            [
                "triggers",
                "mode",
                "req/interval",
                "list",
                "describe",
                "per-job ÷ this",
                "jobs ÷ req",
                "new conns/interval",
                "sockets max",
                "server CPU ms/interval",
                "warm-up s",
                "failed reads",
            ],
            server_rows,
            "What the server sees (per poll interval, in the window):",
        ),
        "",
        table(
            [
                "triggers",
                "mode",
                "lag p50 ms",
                "lag p99 ms",
                "lag p99 ms time-weighted",
                "lag max ms",
                "ms blocked >50 ms /interval",
                "full GCs /interval",
                "full GC max ms",
                "idle lag p99 ms",
                "CPU ms/job/interval",
                "CPU s/job/hour",
                "idle CPU %",
                "RSS KB/trigger",
                "tracemalloc KB/trigger",
                "ignored cancel()",
            ],
            process_rows,
            "What our process pays (CPU net of the idle process; memory over the same process before the triggers):",
        ),
    ]
    marginal = []
    for mode in ("coalesced", "per-job"):
        for small, large in itertools.pairwise(sizes):
            grow = large - small
            rss = (
                _pick(results[(large, mode)], "rss_kb_per_trigger") * large
                - _pick(results[(small, mode)], "rss_kb_per_trigger") * small
            ) / grow
            tm_small, tm_large = traced.get((small, mode)), traced.get((large, mode))
            tm = (
                (tm_large["traced_kb_per_trigger"] * large - tm_small["traced_kb_per_trigger"] * small) / grow
                if tm_small and tm_large
                else float("nan")
            )
            marginal.append([mode, f"{small} -> {large}", rss, tm])
    if marginal:
        parts += [
            "",
            table(
                ["mode", "triggers", "RSS KB per added trigger", "tracemalloc KB per added trigger"],
                marginal,
                "Memory per trigger at the margin (growth between two sizes, fixed costs cancelled):",
            ),
        ]
    if refreshed is not None:
        parts += ["", refresh_report(refreshed)]
    return "\n".join(parts)


def refresh_report(run: dict[str, Any]) -> str:
    """The refresh run: measured over one period, the model checked, and the package default predicted."""
    from airflow_provider_milvus.polling import REFRESH_SECONDS

    n, interval = run["n"], run["interval"]
    period = run.get("refresh_period", 300.0)
    routes = run["routes_per_interval"]

    def model(refresh: float, every: float) -> float:
        return 1 + n * every / refresh

    rows = [
        [
            "measured",
            period,
            interval,
            run["requests_per_interval"],
            routes.get("describe", 0.0),
            n / run["requests_per_interval"],
        ],
        [
            "model 1 + N·interval/refresh",
            period,
            interval,
            model(period, interval),
            n * interval / period,
            n / model(period, interval),
        ],
        [
            "package default, this interval",
            REFRESH_SECONDS,
            interval,
            model(REFRESH_SECONDS, interval),
            n * interval / REFRESH_SECONDS,
            n / model(REFRESH_SECONDS, interval),
        ],
        [
            "package default, default interval (10 s)",
            REFRESH_SECONDS,
            10.0,
            model(REFRESH_SECONDS, 10.0),
            n * 10.0 / REFRESH_SECONDS,
            n / model(REFRESH_SECONDS, 10.0),
        ],
        [
            "any N, default interval (upper bound)",
            REFRESH_SECONDS,
            10.0,
            float("nan"),
            float("nan"),
            REFRESH_SECONDS / 10.0,
        ],
    ]
    return "\n".join(
        [
            table(
                ["", "refresh s", "interval s", "req/interval (amortized)", "describe", f"{n:,} jobs ÷ req"],
                rows,
                f"Coalesced, {n:,} triggers, over one whole full-read refresh period ({run['window_s']:.0f} s "
                f"window; stall_timeout = 3 x refresh):",
            ),
            "",
            table(
                ["lag p99 ms", "lag p99 ms time-weighted", "lag max ms", "CPU ms/job/interval", "ignored cancel()"],
                [
                    [
                        run["lag"]["p99"],
                        run["lag"]["p99_weighted"],
                        run["lag"]["max"],
                        run["cpu_ms_per_job_interval_net"],
                        run["cancel_stuck"],
                    ]
                ],
                "The refresh run's own costs (full reads of every job once in the window):",
            ),
        ]
    )


def report_from(raw: dict[str, Any]) -> str:
    """The tables of a saved run (``.cache/benchmarks/triggerer_scale.json``)."""
    results: dict[tuple[int, str], list[dict[str, Any]]] = {}
    for run in raw["runs"]:
        results.setdefault((run["n"], run["mode"]), []).append(run)
    traced = {(run["n"], run["mode"]): run for run in raw["tracemalloc"]}
    sizes = sorted({n for n, _ in results})
    interval = raw["runs"][0]["interval"]
    return report(sizes, results, traced, interval, raw.get("refresh"))


def _progress(result: dict[str, Any]) -> None:
    print(
        f"  {result['n']:>5} {result['mode']:<9} req/interval {result['requests_per_interval']:8.1f}  "
        f"lag p99 {result['lag']['p99']:6.1f} ms  CPU {result['cpu_ms_per_job_interval_net']:.3f} ms/job/interval  "
        f"RSS {result['rss_kb_per_trigger']:.1f} KB/trigger"
        + (f"  traced {result['traced_kb_per_trigger']:.1f} KB" if result.get("traced_kb_per_trigger") else ""),
        flush=True,
    )


if __name__ == "__main__":
    main()
