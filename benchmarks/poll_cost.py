"""The cost of ONE poll of an import job's state, against the bare HTTP / gRPC call, interleaved.

(a) sync REST: ``MilvusImportHook.get_import_state`` and ``MilvusImportClient.get_import_state`` vs a bare
    ``requests.Session().post`` of the same bytes to the same server (the REST v2 emulator in another
    process, latency 0), with and without ``json.loads`` of the answer;
(b) async REST: ``AsyncMilvusImportClient.get_import_state`` (and the hook's async twin) vs a bare
    ``httpx.AsyncClient.post``, in one event loop;
(c) gRPC against the REAL Milvus 2.3.5 (``tests/milvus_server``): ``MilvusImportClient`` (and the hook) vs
    pymilvus ``utility.get_bulk_insert_state`` for the same task id, plus our async gRPC client.

The contenders of a group run in turn, in a rotating order, for many rounds; medians and p90 of each, and
two ratios against the baseline: of the medians, and the median of the per-round ratios (robust to the
machine's noise, since both calls of a round run back to back).

Run: ``.venv/bin/python benchmarks/poll_cost.py [--quick] [--no-grpc]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import EmulatorProcess, code_version, median, percentile, table

CONN_REST = "bench_rest"
CONN_GRPC = "bench_grpc"


def _conn(conn_id: str, host: str, protocol: str) -> None:
    os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(
        {"conn_type": "milvus", "host": host, "extra": {"protocol": protocol}}
    )


Samples = dict[str, tuple[list[float], list[float]]]


def summarize(samples: Samples, baseline: str, title: str) -> str:
    """One row per contender: wall median, p90 (µs), ratios to ``baseline``, and this thread's CPU per call."""
    base, base_cpu = samples[baseline]
    rows = []
    for name, (values, cpu) in samples.items():
        paired = [v / b for v, b in zip(values, base, strict=True)]
        rows.append(
            [
                name,
                len(values),
                median(values) * 1e6,
                percentile(values, 90) * 1e6,
                median(values) / median(base),
                median(paired),
                median(cpu) * 1e6,
                median(cpu) / median(base_cpu),
            ]
        )
    return table(
        [
            "call",
            "rounds",
            "median µs",
            "p90 µs",
            "÷ baseline (medians)",
            "÷ baseline (per-round median)",
            "client CPU µs (median)",
            "client CPU ÷ baseline",
        ],
        rows,
        title,
    )


def interleave_sync(contenders: dict[str, Callable[[], Any]], rounds: int, warmup: int) -> Samples:
    """Time each contender once per round, the order rotating every round."""
    names = list(contenders)
    for _ in range(warmup):
        for name in names:
            contenders[name]()
    samples: Samples = {name: ([], []) for name in names}
    for index in range(rounds):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            call = contenders[name]
            cpu, started = time.thread_time(), time.perf_counter()
            call()
            samples[name][0].append(time.perf_counter() - started)
            samples[name][1].append(time.thread_time() - cpu)
    return samples


async def interleave_async(contenders: dict[str, Callable[[], Awaitable[Any]]], rounds: int, warmup: int) -> Samples:
    """The async twin of :func:`interleave_sync`, in the running event loop."""
    names = list(contenders)
    for _ in range(warmup):
        for name in names:
            await contenders[name]()
    samples: Samples = {name: ([], []) for name in names}
    for index in range(rounds):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            call = contenders[name]
            cpu, started = time.thread_time(), time.perf_counter()
            await call()
            samples[name][0].append(time.perf_counter() - started)
            samples[name][1].append(time.thread_time() - cpu)
    return samples


# ------------------------------------------------------------------------------------------- REST


def rest_benchmarks(rounds: int, warmup: int) -> list[str]:
    """(a) and (b) against the emulator in another process."""
    import httpx
    import requests

    from airflow_provider_milvus.client import AsyncMilvusImportClient, MilvusImportClient
    from airflow_provider_milvus.hooks.milvus_import import MilvusImportHook
    from airflow_provider_milvus.protocol.rest import RestProtocol

    out = []
    knobs = {"mode": "rest", "latency": 0.0, "job_duration": 1e7, "rate_limit": None}
    with EmulatorProcess(**knobs) as emulator:
        job = emulator.command("create", n=1, advance=2e6)["ids"][0]
        _conn(CONN_REST, emulator.base_url, "rest")
        hook = MilvusImportHook(CONN_REST)
        settings = hook.get_settings()
        client = MilvusImportClient(settings)
        request = RestProtocol(settings.http_base_url, token=settings.token, timeout=settings.timeout).request(
            "describe", {"jobId": job}, job_id=job
        )
        url, body, headers = request.url, request.body, dict(request.headers)
        session = requests.Session()
        assert client.get_import_state(job).task_id == job

        def bare() -> bytes:
            return session.post(url, data=body, headers=headers, timeout=30).content

        def bare_json() -> Any:
            return json.loads(session.post(url, data=body, headers=headers, timeout=30).content)

        samples = interleave_sync(
            {
                "bare requests.Session.post": bare,
                "bare post + json.loads": bare_json,
                "MilvusImportClient.get_import_state": lambda: client.get_import_state(job),
                "MilvusImportHook.get_import_state": lambda: hook.get_import_state(job),
            },
            rounds,
            warmup,
        )
        out.append(
            summarize(samples, "bare requests.Session.post", "(a) sync REST poll vs a bare requests post (same bytes):")
        )
        client.close()
        hook.close()
        session.close()

        async def run_async() -> Samples:
            async_client = AsyncMilvusImportClient(settings)
            async_hook = MilvusImportHook(CONN_REST)
            bare_client = httpx.AsyncClient(trust_env=False)

            async def bare_async() -> bytes:
                return (await bare_client.post(url, content=body, headers=headers, timeout=30)).content

            async def bare_async_json() -> Any:
                return json.loads((await bare_client.post(url, content=body, headers=headers, timeout=30)).content)

            try:
                return await interleave_async(
                    {
                        "bare httpx.AsyncClient.post": bare_async,
                        "bare post + json.loads": bare_async_json,
                        "AsyncMilvusImportClient.get_import_state": lambda: async_client.get_import_state(job),
                        "MilvusImportHook.aget_import_state": lambda: async_hook.aget_import_state(job),
                    },
                    rounds,
                    warmup,
                )
            finally:
                await async_client.aclose()
                await async_hook.aclose()
                await bare_client.aclose()

        samples = asyncio.run(run_async())
        out.append(
            summarize(samples, "bare httpx.AsyncClient.post", "(b) async REST poll vs a bare httpx post (same bytes):")
        )
    return out


# ------------------------------------------------------------------------------------------- gRPC


def grpc_benchmark(rounds: int, warmup: int, lock_timeout: float) -> list[str]:
    """(c) against the real Milvus 2.3.5, started here (it waits for the machine-wide Milvus lock)."""
    from pymilvus import connections, utility

    from airflow_provider_milvus.client import AsyncMilvusImportClient, MilvusImportClient
    from airflow_provider_milvus.hooks.milvus_import import MilvusImportHook
    from tests.milvus_server.data import create_import_collection, drop_collection, write_row_json
    from tests.milvus_server.server import MilvusServer

    out = []
    with tempfile.TemporaryDirectory(prefix="bench-milvus-") as tmp:
        server = MilvusServer(Path(tmp) / "server", lock_timeout=lock_timeout)
        waited = time.monotonic()
        server.start()
        print(f"  real Milvus up after {time.monotonic() - waited:.0f} s", flush=True)
        alias = "bench"
        try:
            connections.connect(alias=alias, host=server.host, port=str(server.port), timeout=30)
            collection = create_import_collection(alias)
            path = write_row_json(Path(tmp) / "files" / "rows.json", 1000)
            task_id = int(utility.do_bulk_insert(collection.name, [path], using=alias))
            deadline = time.monotonic() + 120
            while utility.get_bulk_insert_state(task_id, using=alias).state not in (1, 6, 7):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"import task {task_id} did not end in 120 s")
                time.sleep(0.3)
            _conn(CONN_GRPC, server.uri, "grpc")
            hook = MilvusImportHook(CONN_GRPC)
            client = MilvusImportClient(hook.get_settings())
            ours, theirs = client.get_import_state(str(task_id)), utility.get_bulk_insert_state(task_id, using=alias)
            assert (ours.state, ours.row_count) == (theirs.state, theirs.row_count), (ours, theirs)
            samples = interleave_sync(
                {
                    "pymilvus utility.get_bulk_insert_state": lambda: utility.get_bulk_insert_state(
                        task_id, using=alias
                    ),
                    "MilvusImportClient.get_import_state (gRPC)": lambda: client.get_import_state(str(task_id)),
                    "MilvusImportHook.get_import_state (gRPC)": lambda: hook.get_import_state(str(task_id)),
                },
                rounds,
                warmup,
            )
            out.append(
                summarize(
                    samples,
                    "pymilvus utility.get_bulk_insert_state",
                    f"(c) gRPC GetImportState on the real Milvus 2.3.5 vs pymilvus {_pymilvus_version()}:",
                )
            )
            client.close()
            hook.close()

            async def run_async() -> Samples:
                async_client = AsyncMilvusImportClient(hook.get_settings())
                sync_client = MilvusImportClient(hook.get_settings())

                async def sync_in_loop() -> Any:  # the blocking client, for scale (blocks the loop)
                    return sync_client.get_import_state(str(task_id))

                try:
                    return await interleave_async(
                        {
                            "MilvusImportClient (sync, same loop)": sync_in_loop,
                            "AsyncMilvusImportClient.get_import_state (gRPC aio)": lambda: (
                                async_client.get_import_state(str(task_id))
                            ),
                        },
                        rounds,
                        warmup,
                    )
                finally:
                    await async_client.aclose()
                    sync_client.close()

            out.append(
                summarize(
                    asyncio.run(run_async()),
                    "MilvusImportClient (sync, same loop)",
                    "(c') our async gRPC client vs our sync one, on the same server:",
                )
            )
            drop_collection(alias, collection.name)
            connections.disconnect(alias)
        finally:
            server.stop()
    return out


def _pymilvus_version() -> str:
    import pymilvus

    return str(pymilvus.__version__)


def main() -> None:
    """Run the groups and print their tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="300 rounds instead of 3,000; gRPC too")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--no-grpc", action="store_true", help="skip (c): no real Milvus")
    parser.add_argument("--lock-timeout", type=float, default=900.0, help="wait for another session's Milvus, s")
    args = parser.parse_args()
    rounds = args.rounds or (300 if args.quick else 3000)
    warmup = 30 if args.quick else 200
    os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="bench-airflow-home-"))
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    began = time.monotonic()
    tables = rest_benchmarks(rounds, warmup)
    for text in tables:
        print(text, end="\n\n", flush=True)
    if not args.no_grpc:
        for text in grpc_benchmark(rounds, warmup, args.lock_timeout):
            print(text, end="\n\n", flush=True)
    print(f"poll_cost: {rounds} rounds per group (after {warmup} warm-up), {time.monotonic() - began:.0f} s in all")
    print(f"package at {code_version()}")


if __name__ == "__main__":
    main()
