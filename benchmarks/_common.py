"""What the benchmarks share: paths, statistics, tables, and the REST emulator run in another process."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BENCH_DIR = REPO / "benchmarks"
CACHE_DIR = REPO / ".cache" / "benchmarks"
PYTHON = sys.executable

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def code_version() -> str:
    """The commit the package was measured at, and whether its files had uncommitted changes."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "airflow_provider_milvus"], cwd=REPO, capture_output=True, text=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (" + uncommitted changes in airflow_provider_milvus" if dirty else "")


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` percentile (0..100) of ``values``, linear between ranks; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(values: Sequence[float]) -> float:
    """The median of ``values``."""
    return percentile(values, 50.0)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], title: str = "") -> str:
    """A Markdown table (pipe-aligned) of ``rows`` under ``headers``."""
    cells = [[str(h) for h in headers], *[[_cell(v) for v in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    if title:
        lines += [title, ""]
    lines.append("| " + " | ".join(c.ljust(w) for c, w in zip(cells[0], widths, strict=True)) + " |")
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in cells[1:]:
        lines.append("| " + " | ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) + " |")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        if value == 0:
            return "0"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        if abs(value) >= 0.1:
            return f"{value:.2f}"
        return f"{value:.3g}"
    return str(value)


class EmulatorProcess:
    """The REST v2 emulator (``tests/emulator``) in a child process, steered through a control route.

    The child exits when its stdin closes, so it never outlives the benchmark.
    """

    def __init__(self, **knobs: Any) -> None:
        self.knobs = knobs
        self.proc: subprocess.Popen[str] | None = None
        self.base_url = ""
        self.control_url = ""
        self.pid = 0

    def start(self) -> EmulatorProcess:
        """Start the child and wait until it prints its URLs."""
        self.proc = subprocess.Popen(
            [PYTHON, str(BENCH_DIR / "_emulator_process.py"), json.dumps(self.knobs)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the emulator process exited before it started listening")
        info = json.loads(line)
        self.base_url, self.control_url, self.pid = info["base_url"], info["control_url"], info["pid"]
        return self

    def command(self, op: str, **args: Any) -> Any:
        """Run one control command in the emulator process and return its JSON answer."""
        return control(self.control_url, op, **args)

    def stop(self) -> None:
        """Close the child's stdin (it exits) and wait for it."""
        if self.proc is None:
            return
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc = None

    def __enter__(self) -> EmulatorProcess:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def control(control_url: str, op: str, **args: Any) -> Any:
    """POST one command to an emulator process's control route."""
    body = json.dumps({"op": op, **args}).encode()
    request = urllib.request.Request(control_url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as answer:
        return json.loads(answer.read())


def airflow_env(conn_id: str, base_url: str, home: str) -> dict[str, str]:
    """Environment for a process that reads the ``milvus`` connection ``conn_id`` (REST) from an env var."""
    env = dict(os.environ)
    env["AIRFLOW_HOME"] = home
    env["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    env[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(
        {"conn_type": "milvus", "host": base_url, "extra": {"protocol": "rest"}}
    )
    return env
