#!/usr/bin/env python
"""Run the provider's tests in one virtualenv per supported Airflow release, installed from the wheel.

Each leg gets a venv outside the checkout, under
``${AIRFLOW_PROVIDER_MILVUS_CACHE:-~/.cache/airflow-provider-milvus}/venvs/<leg>-<key>``, where the key
hashes the leg's inputs (its constraints file, the dependency lines of pyproject.toml, the Python
version): a fresh clone on the same machine reuses it, a fresh machine builds it. The provider goes
in from a wheel built from this checkout (never editable), reinstalled on every run, then
``pip check``. In each leg a plain ``@task`` DAG runs under ``dag.test()`` first, then pytest.

Usage (from the checkout, with the project's .venv python)::

    .venv/bin/python scripts/matrix.py              # every leg
    .venv/bin/python scripts/matrix.py 3.0.6 floors # some legs
    .venv/bin/python scripts/matrix.py --checks     # ruff, mypy, packaging, then every leg (scripts/test.sh)
    .venv/bin/python scripts/matrix.py --list       # the legs and their venvs
    .venv/bin/python scripts/matrix.py 3.3.2 -- -k example   # extra pytest arguments after --
    .venv/bin/python scripts/matrix.py 3.0.6 -- tests/hooks  # test paths after -- replace the leg's list
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from pathlib import Path

import tomllib

REPO = Path(__file__).resolve().parents[1]
CONSTRAINTS = REPO / "constraints"
# Bump when the way a venv is made changes, so old venvs are not reused.
VENV_RECIPE = "1"
# The real Milvus 2.3.5 server runs from the project's .venv (the `milvus` wheel is large and is
# needed only to start the server, never in-process).
DEV_VENV = REPO / ".venv"

# Tests of the package itself and its Airflow layer: every leg runs these.
CORE_TESTS = (
    "tests/matrix",
    "tests/test_client.py",
    "tests/test_coalesce.py",
    "tests/polling",
    "tests/test_config.py",
    "tests/test_settings.py",
    "tests/test_state.py",
    "tests/test_storage.py",
    "tests/protocol",
    "tests/hooks",
    "tests/sensors",
    "tests/operators",
    "tests/triggers",
    "tests/watching",
    "tests/example_dags",
)
# Real Airflow services (scheduler, triggerer, API/web server) and the connection form in a browser:
# one leg per UI generation runs them: 2.11 (Flask AppBuilder form), 3.0 (React form from the widgets; 3.1
# too, it has the Test button 3.0 lacks) and 3.3 (declarative conn-fields, within its whole suite).
SERVICE_TESTS = ("tests/e2e/test_real_airflow.py", "tests/ui")


@dataclasses.dataclass(frozen=True)
class Leg:
    """One Airflow release to test: its pin, its constraints file and the tests that run in it."""

    name: str
    airflow: str
    constraints: str
    tests: tuple[str, ...]
    note: str = ""
    extras: tuple[str, ...] = ()
    airflow_extra: str = ""

    @property
    def constraints_path(self) -> Path:
        return CONSTRAINTS / self.constraints


# Add a release here (and its constraints file) to add a leg; extend `tests` to run more in a leg.
LEGS: tuple[Leg, ...] = (
    Leg("floors", "2.11.0", "airflow-2.11.0-floors.txt", CORE_TESTS, "oldest Airflow, every declared floor"),
    Leg("2.11.2", "2.11.2", "airflow-2.11.2.txt", (*CORE_TESTS, *SERVICE_TESTS), "services, browser"),
    # 3.0 and 3.1 show a provider's custom connection fields only with wtforms and FAB: the fab extra.
    Leg("3.0.6", "3.0.6", "airflow-3.0.6.txt", (*CORE_TESTS, *SERVICE_TESTS), "services, browser", airflow_extra="fab"),
    Leg("3.1.8", "3.1.8", "airflow-3.1.8.txt", (*CORE_TESTS, "tests/ui"), "browser", airflow_extra="fab"),
    Leg("3.2.2", "3.2.2", "airflow-3.2.2.txt", CORE_TESTS),
    # The newest release runs the whole suite from the wheel (the .venv runs only ruff, mypy, build).
    Leg("3.3.2", "3.3.2", "airflow-3.3.2.txt", ("tests",), "whole suite", ("leg-full",)),
)
LEGS_BY_NAME = {leg.name: leg for leg in LEGS}


def log(message: str) -> None:
    """Print a progress line at once (CI reads the output as it comes)."""
    print(message, flush=True)


# --------------------------------------------------------------------------- inputs and keys
def pyproject() -> dict[str, object]:
    """The parsed pyproject.toml of the checkout."""
    with (REPO / "pyproject.toml").open("rb") as handle:
        return tomllib.load(handle)


def requirements(leg: Leg) -> list[str]:
    """What a leg's venv installs: its Airflow, the provider's other runtime deps and the `leg` test extra."""
    project = pyproject()["project"]
    assert isinstance(project, dict)
    runtime = [line for line in project["dependencies"] if not line.startswith("apache-airflow>")]
    extras = project["optional-dependencies"]
    tests = [line for name in ("leg", *leg.extras) for line in extras[name]]
    airflow = f"apache-airflow[{leg.airflow_extra}]" if leg.airflow_extra else "apache-airflow"
    return [f"{airflow}=={leg.airflow}", *runtime, *tests]


def base_python() -> str:
    """The interpreter every leg's venv is made from: $MATRIX_PYTHON, else the one behind this venv."""
    return os.environ.get("MATRIX_PYTHON") or getattr(sys, "_base_executable", sys.executable)


def python_version(python: str) -> str:
    """``X.Y.Z`` of an interpreter (part of the venv key)."""
    out = subprocess.run([python, "-c", "import sys; print(sys.version.split()[0])"], capture_output=True, text=True)
    return out.stdout.strip()


def venv_key(leg: Leg, python: str) -> str:
    """A short hash of everything a leg's venv is made from."""
    digest = hashlib.sha256()
    for part in (VENV_RECIPE, python_version(python), *requirements(leg)):
        digest.update(part.encode() + b"\0")
    digest.update(leg.constraints_path.read_bytes())
    return digest.hexdigest()[:12]


def cache_dir() -> Path:
    """Where leg venvs live, outside the checkout so a fresh clone on this machine reuses them."""
    default = Path.home() / ".cache" / "airflow-provider-milvus"
    return Path(os.environ.get("AIRFLOW_PROVIDER_MILVUS_CACHE") or default) / "venvs"


# --------------------------------------------------------------------------- running commands
def run(cmd: Sequence[str | Path], *, log_file: Path, env: dict[str, str] | None = None, timeout: float) -> int:
    """Run a command, append its output to log_file, return its exit code (124 on time-out)."""
    with log_file.open("a", encoding="utf-8") as out:
        out.write(f"\n$ {' '.join(map(str, cmd))}\n")
        out.flush()
        try:
            return subprocess.run(
                [str(c) for c in cmd], stdout=out, stderr=subprocess.STDOUT, env=env, cwd=REPO, timeout=timeout
            ).returncode
        except subprocess.TimeoutExpired:
            out.write(f"\n!! timed out after {timeout:.0f} s\n")
            return 124


def tail(path: Path, lines: int = 30) -> str:
    """The last lines of a log, without pip's noise about local indexes."""
    text = [line for line in path.read_text(errors="replace").splitlines() if "Location 'file:" not in line]
    return "\n".join(text[-lines:])


@contextlib.contextmanager
def locked(path: Path, timeout: float) -> Iterator[None]:
    """Hold an exclusive lock on path (waiting at most timeout s): one run at a time uses a venv."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{path} is held by another run for more than {timeout:.0f} s") from None
                time.sleep(2)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --------------------------------------------------------------------------- venvs
def ensure_venv(leg: Leg, python: str, log_file: Path) -> tuple[Path, float | None]:
    """The leg's venv, built if missing; returns it and the seconds spent building (None if reused)."""
    if not leg.constraints_path.exists():
        raise RuntimeError(f"constraints file {leg.constraints_path.relative_to(REPO)} is missing")
    venv = cache_dir() / f"{leg.name}-{venv_key(leg, python)}"
    if (venv / ".matrix-ready").exists():
        return venv, None
    started = time.monotonic()
    log(f"  building {venv} (cold install, a few minutes)")
    shutil.rmtree(venv, ignore_errors=True)
    if run([python, "-m", "venv", venv], log_file=log_file, timeout=300) != 0:
        raise RuntimeError(f"could not create {venv}")
    pip = [venv / "bin" / "python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    cmd = [*pip, "-c", leg.constraints_path, *requirements(leg)]
    if run(cmd, log_file=log_file, timeout=1800) != 0:
        raise RuntimeError(f"installing the leg's requirements failed:\n{tail(log_file)}")
    (venv / ".matrix-ready").write_text(" ".join(requirements(leg)) + "\n")
    return venv, time.monotonic() - started


def install_wheel(venv: Path, wheel: Path, log_file: Path) -> None:
    """Put the provider in from the wheel (no deps: the constraints decide those), then `pip check`."""
    python = venv / "bin" / "python"
    cmd = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps", "--force-reinstall"]
    if run([*cmd, wheel], log_file=log_file, timeout=300) != 0:
        raise RuntimeError(f"installing {wheel.name} failed:\n{tail(log_file)}")
    if run([python, "-m", "pip", "check"], log_file=log_file, timeout=300) != 0:
        raise RuntimeError(f"pip check found broken requirements:\n{tail(log_file, 15)}")


PRUNE_AFTER_DAYS = 7


def prune_old_venvs(leg: Leg, keep: Path) -> None:
    """Remove this leg's venvs made from other inputs and unused for a week (other checkouts share the cache)."""
    (keep / ".matrix-last-used").touch()
    for old in cache_dir().glob(f"{leg.name}-*"):
        if old == keep or not old.is_dir():
            continue
        stamp = old / ".matrix-last-used"
        last_used = stamp.stat().st_mtime if stamp.exists() else old.stat().st_mtime
        if time.time() - last_used < PRUNE_AFTER_DAYS * 86400:
            continue
        with contextlib.suppress(TimeoutError), locked(old.with_name(old.name + ".lock"), timeout=0):
            shutil.rmtree(old, ignore_errors=True)


def leg_env(leg: Leg, venv: Path, home: Path, wheel: Path) -> dict[str, str]:
    """The environment of a leg's processes: its venv first, a fresh AIRFLOW_HOME, no outside Airflow settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "VIRTUAL_ENV", "PYTHON"))}
    env.update(
        {
            "PATH": f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
            "VIRTUAL_ENV": str(venv),
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            # Never the checkout on sys.path ahead of site-packages: the wheel is what is tested.
            "PYTHONSAFEPATH": "1",
            "MATRIX_LEG": leg.name,
            "MATRIX_AIRFLOW": leg.airflow,
            "MATRIX_WHEEL": str(wheel),
            "MILVUS_SERVER_EXECUTABLE": str(DEV_VENV / "bin" / "milvus-server"),
            "AIRFLOW_PROVIDER_MILVUS_CACHE": str(cache_dir().parent),
        }
    )
    return env


# --------------------------------------------------------------------------- results
@dataclasses.dataclass
class Result:
    """One row of the summary table."""

    name: str
    what: str
    ok: bool = False
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    seconds: float = 0.0
    install_seconds: float | None = None
    covers: str = ""
    detail: str = ""

    @property
    def counts(self) -> str:
        if not (self.passed or self.failed or self.skipped):
            return "-"
        text = f"{self.passed} passed, {self.failed} failed"
        return text + (f", {self.skipped} skipped" if self.skipped else "")


# What a leg proved, by the test modules that passed in it (the summary's "covers" column).
COVERS = (
    ("dag.test", "tests.example_dags."),
    ("providers list", "tests.matrix.test_airflow_cli::test_providers_list"),
    ("connections add", "tests.matrix.test_airflow_cli::test_connections_add"),
    ("wheel", "tests.matrix.test_packaging::"),
    ("services", "tests.e2e."),
    ("browser", "tests.ui."),
)


def junit_covers(path: Path) -> str:
    """The COVERS names whose tests all passed in a leg (and at least one ran), comma-separated."""
    if not path.exists():
        return ""
    outcome: dict[str, bool] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        test = f"{case.get('classname')}::{case.get('name')}"
        ok = not any(child.tag in ("failure", "error", "skipped") for child in case)
        for name, prefix in COVERS:
            if test.startswith(prefix):
                outcome[name] = outcome.get(name, True) and ok
    return ", ".join(name for name, _ in COVERS if outcome.get(name))


def junit_counts(path: Path) -> tuple[int, int, int]:
    """(passed, failed, skipped) from pytest's JUnit XML; errors count as failed."""
    if not path.exists():
        return 0, 0, 0
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    total = failed = skipped = 0
    for suite in suites:
        total += int(suite.get("tests", 0))
        failed += int(suite.get("failures", 0)) + int(suite.get("errors", 0))
        skipped += int(suite.get("skipped", 0))
    return total - failed - skipped, failed, skipped


def junit_failures(path: Path, lines: int = 80) -> str:
    """Each failed test of a leg with the head of its message: the reason, before any log tail."""
    if not path.exists():
        return ""
    out = []
    for case in ET.parse(path).getroot().iter("testcase"):
        for child in case:
            if child.tag in ("failure", "error"):
                text = (child.get("message") or "") + "\n" + (child.text or "")
                head = [line for line in text.splitlines() if line.strip()]
                kept = [line for line in head if line.startswith(("E ", ">", "tests/"))] or head
                out.append(f"-- {case.get('classname')}::{case.get('name')} ({child.tag})")
                out.extend(line[:300] for line in kept[:lines])
    return "\n".join(out)


# --------------------------------------------------------------------------- steps
def build_dist(out: Path, log_file: Path) -> Path:
    """Build the sdist and, from it, the wheel with `python -m build`; `twine check` both; return the wheel.

    No build isolation: the .venv holds the build backend (setuptools, wheel) so no index is asked.
    """
    python = DEV_VENV / "bin" / "python"
    if run([python, "-m", "build", "--no-isolation", "--outdir", out, REPO], log_file=log_file, timeout=600) != 0:
        raise RuntimeError(f"python -m build failed:\n{tail(log_file)}")
    dists = sorted(out.glob("*.whl")) + sorted(out.glob("*.tar.gz"))
    if run([python, "-m", "twine", "check", "--strict", *dists], log_file=log_file, timeout=300) != 0:
        raise RuntimeError(f"twine check failed:\n{tail(log_file)}")
    return next(out.glob("*.whl"))


def run_check(name: str, cmd: Sequence[str | Path], logs: Path) -> Result:
    """ruff or mypy from the project's .venv, as one row of the summary."""
    started = time.monotonic()
    log_file = logs / f"{name}.log"
    code = run(cmd, log_file=log_file, timeout=900)
    result = Result(name, " ".join(str(c) for c in cmd[1:]), ok=code == 0, seconds=time.monotonic() - started)
    if not result.ok:
        result.detail = tail(log_file)
    return result


def run_leg(leg: Leg, python: str, wheel: Path, logs: Path, pytest_args: Sequence[str]) -> Result:
    """Build or reuse the leg's venv, install the wheel, run the plain task, then the leg's tests."""
    started = time.monotonic()
    result = Result(leg.name, f"Airflow {leg.airflow}: " + " ".join(leg.tests))
    log_file = logs / f"leg-{leg.name}.log"
    try:
        venv, result.install_seconds = ensure_venv(leg, python, log_file)
        with locked(venv.with_name(venv.name + ".lock"), timeout=3600):
            install_wheel(venv, wheel, log_file)
            home = Path(tempfile.mkdtemp(prefix=f"matrix-{leg.name}-airflow-home-"))
            env = leg_env(leg, venv, home, wheel)
            plain = [venv / "bin" / "python", REPO / "tests" / "matrix" / "plain_dag" / "plain_task.py"]
            if run(plain, log_file=log_file, env=env, timeout=600) != 0:
                raise RuntimeError(
                    f"a plain @task DAG failed under dag.test() on Airflow {leg.airflow}: this install of "
                    f"Airflow is broken before the provider is involved (fix {leg.constraints}):\n{tail(log_file)}"
                )
            junit = logs / f"leg-{leg.name}.xml"
            cmd = [
                venv / "bin" / "pytest",
                "-p",
                "no:cacheprovider",
                "--import-mode=append",
                "-q",
                "-rfEs",
                f"--junitxml={junit}",
                *pytest_args,
                *([] if any(Path(REPO, a.split("::")[0]).exists() for a in pytest_args) else leg.tests),
            ]
            code = run(cmd, log_file=log_file, env=env, timeout=3600)
            result.passed, result.failed, result.skipped = junit_counts(junit)
            result.covers = "plain task, " + junit_covers(junit)
            # Exit 5 (no tests) and any skip are failures: nothing may be skipped in CI.
            result.ok = code == 0 and result.passed > 0 and result.skipped == 0
            if not result.ok:
                failures = junit_failures(junit)
                result.detail = (f"{failures}\n-- end of the log:\n" if failures else "") + tail(log_file, 40)
            shutil.rmtree(home, ignore_errors=True)
        prune_old_venvs(leg, venv)
    except (RuntimeError, TimeoutError) as exc:
        result.detail = str(exc)
        result.failed = max(result.failed, 1)
    result.seconds = time.monotonic() - started
    return result


def summary(results: Sequence[Result]) -> str:
    """The closing table, then one line counting every leg's tests."""
    rows = [("step", "tests", "result", "seconds", "venv built s", "covers")]
    for r in results:
        install = f"{r.install_seconds:.0f}" if r.install_seconds is not None else "-"
        rows.append((r.name, r.counts, "ok" if r.ok else "FAILED", f"{r.seconds:.0f}", install, r.covers or "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    passed = sum(r.passed for r in results) + sum(1 for r in results if r.ok and not (r.passed or r.failed))
    failed = sum(r.failed for r in results) + sum(1 for r in results if not r.ok and not r.failed)
    skipped = sum(r.skipped for r in results)
    lines.append("")
    lines.append(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    pytest_args: list[str] = []
    if "--" in argv:
        at = argv.index("--")
        argv, pytest_args = argv[:at], argv[at + 1 :]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("legs", nargs="*", help=f"legs to run (default: all): {', '.join(LEGS_BY_NAME)}")
    parser.add_argument("--leg", action="append", default=[], help="a leg to run (repeatable)")
    parser.add_argument("--checks", action="store_true", help="also ruff, mypy (before the legs)")
    parser.add_argument("--list", action="store_true", help="print the legs and their venvs, then exit")
    args = parser.parse_args(argv)
    names = [*args.legs, *args.leg] or list(LEGS_BY_NAME)
    unknown = [n for n in names if n not in LEGS_BY_NAME]
    if unknown:
        parser.error(f"unknown leg(s) {', '.join(unknown)}; legs are {', '.join(LEGS_BY_NAME)}")
    python = base_python()
    if args.list:
        for leg in LEGS:
            key = venv_key(leg, python) if leg.constraints_path.exists() else "(no constraints file)"
            log(f"{leg.name:7} Airflow {leg.airflow:7} {cache_dir() / f'{leg.name}-{key}'}  {' '.join(leg.tests)}")
        return 0

    logs = Path(tempfile.mkdtemp(prefix="airflow-provider-milvus-matrix-"))
    log(f"== logs in {logs}")
    results: list[Result] = []
    if args.checks:
        ruff, mypy = DEV_VENV / "bin" / "ruff", DEV_VENV / "bin" / "mypy"
        for name, cmd in (("ruff", [ruff, "check", "."]), ("ruff format", [ruff, "format", "--check", "."])):
            log(f"== {name}")
            results.append(run_check(name, cmd, logs))
        log("== mypy")
        results.append(run_check("mypy", [mypy], logs))
    log("== packaging: python -m build (sdist, wheel from it), twine check")
    started = time.monotonic()
    packaging = Result("packaging", "python -m build; twine check --strict")
    try:
        wheel = build_dist(logs / "dist", logs / "packaging.log")
        packaging.ok = True
    except RuntimeError as exc:
        packaging.detail = str(exc)
    packaging.seconds = time.monotonic() - started
    results.append(packaging)
    if packaging.ok:
        for name in names:
            leg = LEGS_BY_NAME[name]
            log(f"== leg {leg.name} (Airflow {leg.airflow}){' - ' + leg.note if leg.note else ''}")
            result = run_leg(leg, python, wheel, logs, pytest_args)
            log(f"   {'ok' if result.ok else 'FAILED'}: {result.counts} in {result.seconds:.0f} s")
            results.append(result)
    for r in results:
        if not r.ok:
            log(f"\n== {r.name} FAILED\n{r.detail}")
    log("\n== summary (logs in " + str(logs) + ")")
    log(summary(results))
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
