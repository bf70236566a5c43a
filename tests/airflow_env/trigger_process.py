"""A triggerer-like process: runs triggers in one asyncio loop the way Airflow's triggerer does.

``python -m tests.airflow_env.trigger_process '<json>'`` with the config
``{"classpath": "...", "kwargs": [{...}, ...], "tick": 0.005, "idle_window": 1.0, "start_window": 2.0,
"preload": [...], "in_loop_imports": [...], "gc_off": false}``.

``preload``: modules imported before the loop starts (what a triggerer process has loaded already, e.g.
``airflow.jobs.triggerer_job_runner``). Then, inside ONE event loop, as ``TriggerRunner.create_triggers``
does: a lag probe starts first and runs alone for ``idle_window`` s; ``in_loop_imports`` and the trigger
class (by classpath, ``import_string``) are imported in the loop; each trigger is built from its kwargs
and run until its first event (with ``gc_off``, the garbage collector is off from the import to the
events).

Prints one JSON line: the events (in kwargs order); the loop's lag, i.e. how late a ``tick``-second sleep
woke up (max over the ``start_window`` s after the import began, over the idle window before it, and
overall; ``blocks``: each lag over 20 ms and when it ended); the seconds the class import took; wall
seconds and this process's CPU seconds. The connection comes from the environment (``AIRFLOW_CONN_*``),
settings from ``AIRFLOW__*`` variables.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import json
import sys
import time
from typing import Any

_REPO = __file__.rsplit("/tests/", 1)[0]


def command(config: dict[str, Any], python: str = sys.executable) -> list[str]:
    """The command that runs this module with ``config``: the checkout goes AFTER site-packages on sys.path.

    So a matrix leg (``PYTHONSAFEPATH=1``) still imports the provider from its installed wheel, and the
    process finds ``tests`` all the same.
    """
    bootstrap = (
        f"import runpy, sys; sys.path.append({_REPO!r}); "
        "runpy.run_module('tests.airflow_env.trigger_process', run_name='__main__', alter_sys=True)"
    )
    return [python, "-c", bootstrap, json.dumps(config)]


async def run(config: dict[str, Any]) -> dict[str, Any]:
    """Probe the loop, import and run the triggers; return what was measured."""
    tick = float(config.get("tick", 0.005))
    window = float(config.get("start_window", 2.0))
    lags: list[tuple[float, float]] = []
    stop = asyncio.Event()

    async def probe() -> None:
        while not stop.is_set():
            before = time.monotonic()
            await asyncio.sleep(tick)
            woke = time.monotonic()
            lags.append((woke, woke - before - tick))  # by wake-up time: a block shows when it ends

    prober = asyncio.create_task(probe())
    idle_from = time.monotonic()
    await asyncio.sleep(float(config.get("idle_window", 1.0)))  # the probe alone: this machine's baseline now
    from airflow._shared.module_loading import import_string

    collecting = gc.isenabled()
    if config.get("gc_off"):  # to tell the import's own cost from a garbage collection it sets off
        gc.disable()
    began = time.monotonic()
    for module in config.get("in_loop_imports", ()):
        importlib.import_module(module)
    trigger_class = import_string(config["classpath"])  # in the loop, as the triggerer does
    imported = time.monotonic() - began
    triggers = [trigger_class(**kwargs) for kwargs in config["kwargs"]]

    async def first_event(trigger: Any) -> Any:
        async for event in trigger.run():
            return event.payload
        return None

    events = await asyncio.gather(*(first_event(t) for t in triggers))
    if collecting:
        gc.enable()
    await asyncio.sleep(max(0.0, began + window - time.monotonic()))  # cover the whole start window
    stop.set()
    await prober
    at_start = [lag for when, lag in lags if began <= when <= began + window]
    idle = [lag for when, lag in lags if idle_from < when < began]
    return {
        "events": list(events),
        "lag_at_start_max": max(at_start, default=0.0),
        "lag_idle_max": max(idle, default=0.0),
        "lag_max": max((lag for _, lag in lags), default=0.0),
        "blocks": [[round(when - began, 3), round(lag, 3)] for when, lag in lags if lag > 0.02],
        "import_seconds": imported,
        "seconds": time.monotonic() - began,
        "cpu": time.process_time(),
    }


def main() -> None:
    """Read the config from argv, run, print the result as one JSON line."""
    config = json.loads(sys.argv[1])
    for module in config.get("preload", ()):
        importlib.import_module(module)
    print(json.dumps(asyncio.run(run(config))), flush=True)


if __name__ == "__main__":
    main()
