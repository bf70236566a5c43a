"""A fresh triggerer's event-loop lag while it loads the provider's trigger: eager imports vs lazy (0.2).

Airflow's triggerer imports a trigger's class by classpath inside its event loop (``TriggerRunner.
create_triggers`` -> ``import_string``), so whatever the trigger module imports at module level blocks
every trigger of that triggerer once. 0.1's trigger module pulled in the hook, the clients and their
transports (grpc, protobuf, requests); 0.2 imports them in a thread on first ``run()``.

Each run is a fresh triggerer-like process (``tests/airflow_env/trigger_process.py``, with
``airflow.jobs.triggerer_job_runner`` preloaded, as in a real triggerer) that runs one
``MilvusImportTrigger`` against the REST v2 emulator (another process) while a 5 ms probe measures how
late the loop wakes up during the first 2 s. Variants, interleaved, ``--runs`` each:

- ``eager``: the 0.1 behaviour: the hook and poller modules imported in the loop right before the class;
- ``lazy``: the 0.2 trigger module as it is (those modules load in a thread when ``run()`` starts);
- ``lazy, gc off``: the same with the garbage collector off until the event, to tell the import's own
  cost from the full collection its allocations set off in a process holding Airflow's heap.

Run: ``.venv/bin/python benchmarks/trigger_import_lag.py [--runs 7]``. Prints the medians and the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import PYTHON, REPO, EmulatorProcess, airflow_env, code_version, table

from tests.airflow_env import trigger_process

CONN_ID = "bench_milvus"
TRIGGER = "airflow_provider_milvus.triggers.milvus_import.MilvusImportTrigger"
EAGER = ["airflow_provider_milvus.hooks.milvus_import", "airflow_provider_milvus.polling"]
PRELOAD = ["airflow.jobs.triggerer_job_runner"]


def run_once(emulator: EmulatorProcess, variant: str, home: str) -> dict[str, Any]:
    """One fresh process: load and run one trigger; its lag figures."""
    (job_id,) = emulator.command("create", n=1, advance=100)["ids"]  # already Completed: one read, one event
    config = {
        "classpath": TRIGGER,
        "kwargs": [{"job_id": job_id, "milvus_conn_id": CONN_ID, "poll_interval": 1.0, "protocol": "rest"}],
        "tick": 0.005,
        "start_window": 2.0,
        "preload": PRELOAD,
        "in_loop_imports": EAGER if variant == "eager" else [],
        "gc_off": variant == "lazy, gc off",
    }
    env = airflow_env(CONN_ID, emulator.base_url, home)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run(
        trigger_process.command(config, PYTHON),
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    (event,) = result["events"]
    if event["status"] != "success":
        raise RuntimeError(f"the trigger did not see the job complete: {event}")
    return result


def main() -> None:
    """Interleave the variants, print medians and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    results: dict[str, list[dict[str, Any]]] = {"eager": [], "lazy": [], "lazy, gc off": []}
    with tempfile.TemporaryDirectory() as home, EmulatorProcess(mode="rest", speed=0, job_duration=10) as emulator:
        run_once(emulator, "lazy", home)  # warm the page cache: the first process pays for cold files
        for _ in range(args.runs):
            for variant in results:
                results[variant].append(run_once(emulator, variant, home))
    rows = []
    for variant, runs in results.items():
        rows.append(
            [
                variant,
                1000 * statistics.median(r["lag_at_start_max"] for r in runs),
                1000 * max(r["lag_at_start_max"] for r in runs),
                1000 * statistics.median(r["import_seconds"] for r in runs),
                1000 * statistics.median(r["lag_idle_max"] for r in runs),
            ]
        )
    ratio = rows[0][1] / rows[1][1] if rows[1][1] else float("inf")
    print(f"code {code_version()}; {args.runs} runs per variant, interleaved; 2 s start window, 5 ms probe")
    print(
        table(
            [
                "variant",
                "max loop lag at start, median (ms)",
                "worst run (ms)",
                "class import in the loop (ms)",
                "same loop idle before (ms)",
            ],
            rows,
        )
    )
    print(f"\nloop lag at start, eager / lazy: {ratio:.1f}x")
    if rows[2][1]:
        print(f"loop lag at start, eager / lazy with the collector off: {rows[0][1] / rows[2][1]:.1f}x")


if __name__ == "__main__":
    main()
