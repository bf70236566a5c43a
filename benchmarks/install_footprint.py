"""What installing the provider adds to an Airflow environment, next to what pymilvus adds to the same one.

A base venv gets ``apache-airflow==3.3.2`` from PyPI (kept under ``.cache/benchmarks/footprint``; ``--reuse``
skips rebuilding it). The provider is built as a wheel from a copy of the working tree (so nothing is
written into the repository) and installed non-editable into a copy of the base venv; pymilvus is installed
into another copy. For each: MB added on disk (allocated blocks, and apparent size), files added, and the
distributions added or changed, by name. pip's wheel cache lives in ``.cache/benchmarks/pip-cache``.

Run: ``.venv/bin/python benchmarks/install_footprint.py [--reuse] [--quick]`` (``--quick`` = ``--reuse``
when a base venv exists, else a full build: a base venv is needed either way).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import CACHE_DIR, REPO, code_version, table

AIRFLOW = "apache-airflow==3.3.2"
PYMILVUS = "pymilvus>=2.6,<2.7"
FOOTPRINT = CACHE_DIR / "footprint"
PIP_CACHE = CACHE_DIR / "pip-cache"
BASE = FOOTPRINT / "base-airflow-3.3.2"
MARKER = BASE / ".complete"


@dataclass
class Snapshot:
    """A venv's files and distributions at one moment."""

    disk: int
    apparent: int
    files: int
    dists: dict[str, str]


def base_python() -> str:
    """The interpreter the project's .venv was made from (same Python for every venv here)."""
    return getattr(sys, "_base_executable", sys.executable)


def pip(venv: Path, *args: str) -> None:
    """Run pip in ``venv`` with the shared wheel cache; quiet unless it fails."""
    command = [
        str(venv / "bin" / "python"),
        "-m",
        "pip",
        *args,
        "--cache-dir",
        str(PIP_CACHE),
        "--disable-pip-version-check",
    ]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")


def snapshot(venv: Path) -> Snapshot:
    """Sizes (hard links counted once) and ``name -> version`` of the installed distributions."""
    disk = apparent = files = 0
    seen: set[tuple[int, int]] = set()
    for root, _dirs, names in os.walk(venv):
        for name in names:
            info = os.lstat(os.path.join(root, name))
            if (info.st_dev, info.st_ino) in seen:
                continue
            seen.add((info.st_dev, info.st_ino))
            disk += info.st_blocks * 512
            apparent += info.st_size
            files += 1
    listed = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "list", "--format=json", "--disable-pip-version-check"],
        capture_output=True,
        text=True,
        check=True,
    )
    dists = {d["name"].lower().replace("_", "-"): d["version"] for d in json.loads(listed.stdout)}
    return Snapshot(disk, apparent, files, dists)


def make_base(reuse: bool) -> float:
    """The base venv with Airflow; returns the seconds it took (0 when reused)."""
    if reuse and MARKER.exists():
        return 0.0
    shutil.rmtree(BASE, ignore_errors=True)
    BASE.parent.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    subprocess.run([base_python(), "-m", "venv", str(BASE)], check=True)
    pip(BASE, "install", "--upgrade", "pip")
    pip(BASE, "install", AIRFLOW)
    MARKER.write_text(AIRFLOW + "\n")
    return time.monotonic() - began


def build_provider_wheel(out: Path) -> Path:
    """A wheel of the working tree, built from a copy (the repository gets no build/ or egg-info)."""
    source = out / "src"
    source.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md", "LICENSE", "CHANGELOG.md"):
        if (REPO / name).exists():
            shutil.copy2(REPO / name, source / name)
    shutil.copytree(
        REPO / "airflow_provider_milvus",
        source / "airflow_provider_milvus",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"),
    )
    dist = out / "dist"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-w",
            str(dist),
            str(source),
            "--cache-dir",
            str(PIP_CACHE),
            "--disable-pip-version-check",
        ],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"building the provider wheel failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    (wheel,) = dist.glob("*.whl")
    return wheel


def measure(target: str, scratch: Path) -> tuple[Snapshot, Snapshot, float]:
    """Install ``target`` into a fresh copy of the base venv; the snapshots before and after, and seconds."""
    shutil.rmtree(scratch, ignore_errors=True)
    subprocess.run(["cp", "-a", str(BASE), str(scratch)], check=True)
    try:
        before = snapshot(scratch)
        began = time.monotonic()
        pip(scratch, "install", target)
        seconds = time.monotonic() - began
        after = snapshot(scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return before, after, seconds


def main() -> None:
    """Build or reuse the base venv, install each candidate into a copy, print what each added."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reuse", action="store_true", help="keep the base venv if one is complete")
    parser.add_argument("--quick", action="store_true", help="same as --reuse")
    args = parser.parse_args()
    PIP_CACHE.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    base_seconds = make_base(args.reuse or args.quick)
    base = snapshot(BASE)
    rows = []
    details = []
    with tempfile.TemporaryDirectory(prefix="bench-footprint-") as tmp:
        wheel = build_provider_wheel(Path(tmp))
        wheel_kb = wheel.stat().st_size / 1024
        candidates = [
            (f"airflow-provider-milvus ({wheel.name})", str(wheel)),
            (f"pymilvus ({PYMILVUS})", PYMILVUS),
        ]
        for label, target in candidates:
            before, after, seconds = measure(target, FOOTPRINT / "scratch")
            added = sorted(set(after.dists) - set(before.dists))
            changed = sorted(d for d in before.dists if d in after.dists and after.dists[d] != before.dists[d])
            added_mb = (after.disk - before.disk) / 2**20
            rows.append(
                [
                    label,
                    added_mb,
                    (after.apparent - before.apparent) / 2**20,
                    after.files - before.files,
                    len(added),
                    len(changed),
                    added_mb / (base.disk / 2**20) * 100,
                    seconds,
                ]
            )
            details.append(
                f"{label}\n  added:   {', '.join(f'{d}=={after.dists[d]}' for d in added) or '-'}\n"
                f"  changed: {', '.join(f'{d} {before.dists[d]} -> {after.dists[d]}' for d in changed) or '-'}"
            )
    print(
        f"install_footprint: base venv {BASE.relative_to(REPO)} = {AIRFLOW} on Python "
        f"{sys.version.split()[0]}: {base.disk / 2**20:,.0f} MB on disk, {len(base.dists)} distributions"
        + (f" (built in {base_seconds:.0f} s)" if base_seconds else " (reused)")
    )
    print(f"provider wheel: {wheel_kb:.0f} KB, built from the working tree at {code_version()}\n")
    print(
        table(
            [
                "installed into a copy of the base",
                "MB added (disk)",
                "MB added (apparent)",
                "files added",
                "dists added",
                "dists changed",
                "% of the base env",
                "pip install s",
            ],
            rows,
        )
    )
    provider_mb, pymilvus_mb = rows[0][1], rows[1][1]
    print(f"\nprovider ÷ pymilvus (MB added): {provider_mb / pymilvus_mb:.3f}" if pymilvus_mb else "")
    print()
    print("\n".join(details))
    print(f"\n{time.monotonic() - began:.0f} s in all")


if __name__ == "__main__":
    main()
