"""Waiting on a BUSY server: the shared poller against per-job polling, measured in the same run.

A relative of ``triggerer_scale.py`` (many waits in one event loop) and ``poll_cost.py`` (the cost of one
read), on a server that remembers other runs' jobs (spec section 7). For each API (REST v2, Milvus 2.4+'s
legacy gRPC shim, Zilliz Cloud), server history (0, 1,000, 20,000 finished jobs, a fifth of them in the
watched collection) and number of waits (1, 10, 100, 1,000), a fresh set of short jobs (about
``--job`` seconds, ends spread over two intervals) is waited on in ONE event loop by
``SharedPoller.read`` / ``pause`` (what each ``MilvusImportTrigger`` does), once coalesced (the cost
model's choice) and once per job (``coalesce=False``), in alternating order. The emulator runs in another
process (its CPU is not ours). Measured client-side for each run: requests, answer bytes and this
process's CPU per poll interval, event-loop lag p99 (a 10 ms ticker), and detection delay (from the job's
real end to the read that saw it). With ``--real`` also the real Milvus 2.3.5 (``tests/milvus_server``)
after a few hundred finished imports, over its gRPC.

Run: ``.venv/bin/python benchmarks/busy_server.py [--quick] [--real] [--plot PATH]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import BENCH_DIR, EmulatorProcess, code_version, percentile, table

from airflow_provider_milvus.client import AsyncMilvusImportClient
from airflow_provider_milvus.exceptions import MilvusImportError
from airflow_provider_milvus.polling import SharedPoller
from airflow_provider_milvus.settings import MilvusSettings
from airflow_provider_milvus.waiting import Pause
from tests.emulator.server import DEFAULT_API_KEY, DEFAULT_CLUSTER_ID

TICK = 0.010
REAL = "milvus 2.3.5 gRPC"
APIS = ("rest", "grpc", "cloud")
#: Zilliz Cloud allows 20 requests/s: 1,000 waits cannot even be read once within an interval there.
CLOUD_MAX_WAITS = 100


def settings_for(api: str, base_url: str) -> MilvusSettings:
    port = int(base_url.rsplit(":", 1)[1])
    if api == "cloud":
        return MilvusSettings(
            host="127.0.0.1",
            port=port,
            secure=False,
            protocol="cloud",
            cloud_api_key=DEFAULT_API_KEY,
            cloud_cluster_id=DEFAULT_CLUSTER_ID,
            cloud_endpoint=base_url,
        )
    return MilvusSettings(host="127.0.0.1", port=port, secure=False, protocol=api)


async def wait_all(
    settings: MilvusSettings, jobs: list[str], ends: list[float], *, coalesce: bool, interval: float
) -> dict[str, Any]:
    """Wait for ``jobs`` (real ends at monotonic ``ends``) as triggers do; what it cost and how late it saw them."""
    client = AsyncMilvusImportClient(settings)
    full_reads = 0
    read = client.get_import_state

    async def counted(job_id: str, db_name: str | None = None) -> Any:
        nonlocal full_reads
        full_reads += 1
        return await read(job_id, db_name)

    client.get_import_state = counted  # type: ignore[method-assign]
    poller = SharedPoller(client, coalesce=coalesce)
    lags: list[float] = []
    delays: list[float] = []
    plans: list[str] = []

    async def ticker() -> None:
        while True:
            started = time.monotonic()
            await asyncio.sleep(TICK)
            lags.append(time.monotonic() - started - TICK)

    async def one(job_id: str, end: float) -> None:
        poller.watch(job_id, interval)
        try:
            while True:
                try:
                    state = await poller.read(job_id)
                except MilvusImportError as error:
                    if not error.retryable:
                        raise
                    await poller.pause(Pause(interval, backoff=True), job_id)
                    continue
                if state.is_terminal:
                    delays.append(time.monotonic() - end)
                    return
                await poller.pause(Pause(interval), job_id)
                if poller.last_plan.reason and (not plans or plans[-1] != poller.last_plan.reason):
                    plans.append(poller.last_plan.reason)
        finally:
            poller.unwatch(job_id)

    tick = asyncio.get_running_loop().create_task(ticker())
    cpu, started = time.process_time(), time.monotonic()
    try:
        await asyncio.gather(*(one(j, e) for j, e in zip(jobs, ends, strict=True)))
    finally:
        elapsed, cpu = time.monotonic() - started, time.process_time() - cpu
        tick.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await tick
        await poller.aclose()
    intervals = elapsed / interval
    return {
        "total_requests": client.stats.requests,
        "total_bytes": client.stats.bytes,
        "requests": client.stats.requests / intervals,
        "bytes": client.stats.bytes / intervals,
        "cpu_ms": cpu * 1000 / intervals,
        "lag_p99_ms": percentile(lags, 99) * 1000,
        "delay_max": max(delays),
        "extra_per_job": (client.stats.requests - full_reads) / len(jobs) / intervals,
        "full_reads_per_job": full_reads / len(jobs),
        "plans": plans,
    }


def run_cell(
    emulator: EmulatorProcess, api: str, history: int, waits: int, *, coalesce: bool, interval: float, job: float
) -> dict[str, Any]:
    """One measurement on a fresh job store holding ``history`` finished jobs."""
    emulator.command("reset")
    if history:
        emulator.command("history", n=history, collection="watched", collections=5)
    durations = [job + 2 * interval * i / max(waits - 1, 1) for i in range(waits)]
    emulator.command("script", durations=durations)
    ids = emulator.command("create", n=waits, collection="watched")["ids"]
    now = time.monotonic()
    ends = [now + s for s in emulator.command("ends", ids=ids)["seconds"]]
    result = asyncio.run(
        wait_all(settings_for(api, emulator.base_url), ids, ends, coalesce=coalesce, interval=interval)
    )
    return result


def emulator_for(api: str) -> EmulatorProcess:
    if api == "grpc":
        return EmulatorProcess(endpoint="2.5", speed=1.0)
    if api == "cloud":
        return EmulatorProcess(mode="cloud", token=DEFAULT_API_KEY, speed=1.0)
    return EmulatorProcess(profile="2.5", describe_routed=True, speed=1.0)


#: Two runs of the same strategy differ by up to one read per job: where the last read falls against the job's
#: end (the per-job baseline and a per-job round alike). Above this, extra requests are the poller's own.
PHASE_NOISE = 0.05
GOAL = "requests ≤ 1.0x and bytes ≤ 1.5x per-job, loop lag p99 < 20 ms, seen ≤ interval + 1 s"


#: Zilliz Cloud's limit for all clients of one user together, requests/s per endpoint (spec section 4).
CLOUD_LIMIT = 20.0


def unreachable_delay(api: str, waits: int, interval: float) -> float:
    """The least "seen after end" any client has on Zilliz Cloud: its list has no row counts, so each final
    state is one ``getProgress``, and ``waits`` of them at the whole 20/s take waits / 20 s, from the first
    end on (the ends are spread over two intervals). 0 elsewhere."""
    return max(waits / CLOUD_LIMIT - 2 * interval, 0.0) if api == "cloud" else 0.0


def verdict(c: dict[str, Any], p: dict[str, Any], *, interval: float, history: int, waits: int, api: str = "") -> str:
    misses = []
    notes = []
    extra = c["total_requests"] / p["total_requests"] - 1 if p["total_requests"] else 0.0
    if extra > PHASE_NOISE:
        misses.append("requests")
    elif extra > 0:
        notes.append(f"+{extra:.0%} req: phase")
    if c["total_bytes"] > p["total_bytes"] * 1.5:
        misses.append("bytes")
    if c["lag_p99_ms"] >= 20:
        misses.append("lag")
    if c["delay_max"] > interval + 1.0:
        bound = unreachable_delay(api, waits, interval)
        misses.append(f"late (any client ≥ {bound:.0f} s)" if bound > interval + 1.0 else "late")
    if history == 0 and waits >= 100 and c["extra_per_job"] > 0.1:
        misses.append("gain")
    if misses:
        return "MISS " + ",".join(misses)
    return "ok" + (f" ({', '.join(notes)})" if notes else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="history {0, 1000}, waits {1, 10, 100}")
    parser.add_argument("--real", action="store_true", help="also the real Milvus 2.3.5 (waits for its lock)")
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--job", type=float, default=2.0, help="seconds each job runs (ends spread over 2 intervals)")
    parser.add_argument("--apis", default=",".join(APIS))
    parser.add_argument("--waits", default="", help="only these numbers of waits (comma-separated)")
    parser.add_argument(
        "--cloud-max-waits",
        type=int,
        default=CLOUD_MAX_WAITS,
        help="Zilliz Cloud cells up to this many waits (1,000 takes about 20 min: reads at the rate limit)",
    )
    parser.add_argument("--json", type=Path, default=None, help="write the raw results here")
    parser.add_argument("--plot", type=Path, default=None, help="draw bytes and requests per interval (PNG)")
    parser.add_argument("--from-json", type=Path, default=None, help="only print the table and plot of a --json")
    args = parser.parse_args()
    if args.from_json:
        raw = json.loads(args.from_json.read_text())
        rows = [row(r["api"], r["history"], r["waits"], r["coalesced"], r["per_job"], args.interval) for r in raw]
        print(table(HEADERS, rows, f"Busy server; goal: {GOAL}"))
        if args.plot:
            plot(raw, args.plot)
        return
    histories = (0, 1_000) if args.quick else (0, 1_000, 20_000)
    waits_list = (1, 10, 100) if args.quick else (1, 10, 100, 1_000)
    if args.waits:
        waits_list = tuple(int(w) for w in args.waits.split(","))
    rows: list[list[Any]] = []
    raw: list[dict[str, Any]] = []
    print(f"# busy_server.py at {code_version()}; interval {args.interval} s, jobs ~{args.job} s; goal: {GOAL}")
    started = time.monotonic()
    for api in [a for a in args.apis.split(",") if a]:
        with emulator_for(api) as emulator:
            for coalesce in (True, False):  # warm-up: first imports, first connections; not recorded
                run_cell(emulator, api, 0, 3, coalesce=coalesce, interval=args.interval, job=args.job)
            for history in histories:
                for waits in waits_list:
                    if api == "cloud" and waits > args.cloud_max_waits:
                        continue
                    order = [True, False] if (waits + history) % 2 else [False, True]
                    result = {}
                    for coalesce in order:
                        result[coalesce] = run_cell(
                            emulator, api, history, waits, coalesce=coalesce, interval=args.interval, job=args.job
                        )
                    c, p = result[True], result[False]
                    raw.append({"api": api, "history": history, "waits": waits, "coalesced": c, "per_job": p})
                    rows.append(row(api, history, waits, c, p, args.interval))
                    print(" | ".join(str(v) for v in rows[-1]), flush=True)
    if args.real:
        raw += real_milvus(args.interval, rows)
    print()
    print(table(HEADERS, rows, f"Busy server, {time.monotonic() - started:.0f} s; goal: {GOAL}"))
    if args.json:
        args.json.write_text(json.dumps(raw, indent=1))
    if args.plot:
        plot(raw, args.plot)


HEADERS = [
    "API",
    "history",
    "waits",
    "req/interval (per-job)",
    "req ÷ per-job",
    "kB/interval (per-job)",
    "bytes ÷ per-job",
    "CPU ms/interval (per-job)",
    "loop lag p99 ms (per-job)",
    "seen after end, max s (per-job)",
    "list req/job/interval",
    "strategy",
    "goal",
]


def row(api: str, history: int, waits: int, c: dict[str, Any], p: dict[str, Any], interval: float) -> list[Any]:
    def ratio(a: float, b: float) -> float:
        return a / b if b else math.nan

    return [
        api,
        f"{history:,}",
        waits,
        f"{c['requests']:.1f} ({p['requests']:.1f})",
        ratio(c["total_requests"], p["total_requests"]),
        f"{c['bytes'] / 1000:.1f} ({p['bytes'] / 1000:.1f})",
        ratio(c["total_bytes"], p["total_bytes"]),
        f"{c['cpu_ms']:.1f} ({p['cpu_ms']:.1f})",
        f"{c['lag_p99_ms']:.1f} ({p['lag_p99_ms']:.1f})",
        "n/a" if api in (REAL, "milvus-2.3.5") else f"{c['delay_max']:.2f} ({p['delay_max']:.2f})",
        c["extra_per_job"],
        " → ".join(dict.fromkeys(c["plans"])) or "per-job",
        verdict(
            {**c, "delay_max": 0.0} if api in (REAL, "milvus-2.3.5") else c,
            p,
            interval=interval,
            history=history,
            waits=waits,
            api=api,
        ),
    ]


def real_milvus(interval: float, rows: list[list[Any]]) -> list[dict[str, Any]]:
    """The real Milvus 2.3.5 after a few hundred finished imports: the same two ways of waiting."""
    from pymilvus import connections, utility

    from tests.milvus_server.data import create_import_collection, write_row_json
    from tests.milvus_server.server import MilvusServer

    raw: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-busy-milvus-") as tmp:
        server = MilvusServer(Path(tmp) / "server", lock_timeout=1800)
        server.start()
        alias = "busy"
        try:
            connections.connect(alias=alias, host=server.host, port=str(server.port), timeout=30)
            other = create_import_collection(alias)
            watched = create_import_collection(alias)
            path = write_row_json(Path(tmp) / "files" / "rows.json", 10)
            history = [int(utility.do_bulk_insert(other.name, [path], using=alias)) for _ in range(300)]
            deadline = time.monotonic() + 900
            while any(utility.get_bulk_insert_state(t, using=alias).state not in (1, 6, 7) for t in history[-5:]):
                if time.monotonic() > deadline:
                    raise RuntimeError("the history imports did not end in 15 min")
                time.sleep(1)
            settings = MilvusSettings(host=server.host, port=server.port, secure=False, protocol="grpc")
            for waits in (1, 10, 100):
                result = {}
                for coalesce in (False, True):
                    jobs = [str(utility.do_bulk_insert(watched.name, [path], using=alias)) for _ in range(waits)]
                    result[coalesce] = asyncio.run(
                        wait_all(settings, jobs, [time.monotonic()] * waits, coalesce=coalesce, interval=interval)
                    )
                c, p = result[True], result[False]
                raw.append({"api": REAL, "history": len(history), "waits": waits, "coalesced": c, "per_job": p})
                rows.append(row(REAL, len(history), waits, c, p, interval))  # its jobs' real ends are not known
                print(" | ".join(str(v) for v in rows[-1]), flush=True)
        finally:
            with contextlib.suppress(Exception):
                connections.disconnect(alias)
            server.stop()
    return raw


def plot(raw: list[dict[str, Any]], path: Path) -> None:
    """Bytes and requests per interval against server history, per API and strategy (waits 10 and 100)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (BENCH=1 bash scripts/setup.sh): no plot", file=sys.stderr)
        return
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for metric, ax, label in (("bytes", axes[0], "kB per interval"), ("requests", axes[1], "requests per interval")):
        for entry_api in dict.fromkeys(r["api"] for r in raw if r["api"] in APIS):
            for waits, style in ((10, "-"), (100, "--")):
                points = sorted((r["history"], r) for r in raw if r["api"] == entry_api and r["waits"] == waits)
                if not points:
                    continue
                xs = [max(h, 1) for h, _ in points]
                scale = 1000 if metric == "bytes" else 1
                for key, marker in (("coalesced", "o"), ("per_job", "x")):
                    ys = [r[key][metric] / scale for _, r in points]
                    ax.plot(xs, ys, style, marker=marker, label=f"{entry_api}, {waits} waits, {key.replace('_', '-')}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("finished jobs the server remembers (0 drawn at 1)")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
    axes[1].legend(fontsize=6, ncol=2)
    fig.suptitle("Shared poller (o) vs per-job polling (x) on a busy server")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"plot written to {path.relative_to(BENCH_DIR.parent) if path.is_relative_to(BENCH_DIR.parent) else path}")


if __name__ == "__main__":
    main()
