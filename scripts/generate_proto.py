#!/usr/bin/env python
"""Generate (or check) the Python protobuf modules for ``airflow_provider_milvus/proto``.

The modules are generated with a pinned, deliberately old ``grpcio-tools`` (and so a pinned protoc)
installed in an isolated virtualenv under ``.cache/protoc-venv/``. Gencode from protoc >= 26
(protobuf >= 5.26) refuses to load on a protobuf runtime older than the generator, so the generator
must not be newer than the lowest ``protobuf`` the package declares in ``pyproject.toml``.

Usage::

    python scripts/generate_proto.py            # regenerate into airflow_provider_milvus/proto/
    python scripts/generate_proto.py --check    # exit 1 if the committed files are stale
    python scripts/generate_proto.py --out DIR  # write the two files into DIR instead
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

# protoc 25.1 is bundled in grpcio-tools 1.62.x; its gencode ("Protobuf Python Version: 4.25.1") has no
# runtime version check and loads on protobuf 4.25.0 through 7.x. Keep it in step with the lowest
# protobuf declared in pyproject.toml.
GRPCIO_TOOLS_VERSION = "1.62.3"
GRPCIO_VERSION = "1.62.3"  # grpcio-tools' own runtime dependency, pinned for a reproducible tool venv
PROTOBUF_VERSION = "4.25.9"  # the tool venv's protobuf; grpcio-tools 1.62 needs protobuf<5
EXPECTED_PROTOC = "libprotoc 25.1"

REPO_ROOT = Path(__file__).resolve().parent.parent
PROTO_FILE = "airflow_provider_milvus/proto/milvus_import.proto"  # relative to REPO_ROOT (the -I root)
DEFAULT_OUT = REPO_ROOT / "airflow_provider_milvus" / "proto"
GENERATED = ("milvus_import_pb2.py", "milvus_import_pb2.pyi")
VENV_DIR = REPO_ROOT / ".cache" / "protoc-venv"
PIP_TIMEOUT_S = 900
PROTOC_TIMEOUT_S = 120


class GenerateError(Exception):
    """A failure with a message meant for the user."""


def _pins() -> list[str]:
    return [
        f"grpcio-tools=={GRPCIO_TOOLS_VERSION}",
        f"grpcio=={GRPCIO_VERSION}",
        f"protobuf=={PROTOBUF_VERSION}",
    ]


def _venv_python(venv_dir: Path) -> Path:
    if os.name == "nt":
        return venv_dir / "Scripts" / "python.exe"
    return venv_dir / "bin" / "python"


def _isolated_env() -> dict[str, str]:
    """The environment for the tool venv's python: nothing from the caller's PYTHONPATH or venv."""
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"}}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PIP_NO_INPUT"] = "1"
    return env


@contextlib.contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    """Serialise venv creation between concurrent runs (e.g. parallel test workers)."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as handle:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: best effort, no lock
            yield
            return
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run(cmd: list[str], *, timeout: float, what: str, cwd: Path | None = None) -> str:
    try:
        proc = subprocess.run(
            cmd,
            cwd=cwd,
            env=_isolated_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise GenerateError(f"{what} timed out after {timeout:.0f}s: {' '.join(cmd)}") from exc
    except OSError as exc:
        raise GenerateError(f"{what} could not start ({exc}): {' '.join(cmd)}") from exc
    if proc.returncode != 0:
        raise GenerateError(
            f"{what} failed with exit code {proc.returncode}: {' '.join(cmd)}\n"
            f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"
        )
    return proc.stdout


def ensure_tool_venv(venv_dir: Path = VENV_DIR, base_python: str = sys.executable) -> Path:
    """Create, or reuse when its pins match, the isolated venv holding grpcio-tools; return its python."""
    marker = venv_dir / ".generate_proto.json"
    base = json.loads(
        _run(
            [
                base_python,
                "-c",
                "import json, platform, sys; print(json.dumps([platform.python_version(), sys.base_prefix]))",
            ],
            timeout=60,
            what="querying the base python",
        )
    )
    base_version = base[0]
    # Keyed on the base installation, not the path given: `python` and a venv's python reuse one tool venv.
    wanted = {"pins": _pins(), "base": base}
    python = _venv_python(venv_dir)
    with _locked(venv_dir.parent / "protoc-venv.lock"):
        if python.exists() and marker.exists():
            try:
                if json.loads(marker.read_text()) == wanted:
                    return python
            except ValueError:
                pass
        print(f"generate_proto: creating {venv_dir} with {' '.join(_pins())} ...", file=sys.stderr)
        shutil.rmtree(venv_dir, ignore_errors=True)
        _run(
            [base_python, "-m", "venv", "--clear", str(venv_dir)],
            timeout=300,
            what="creating the tool venv (on Debian/Ubuntu this needs python3-venv)",
        )
        try:
            _run(
                [str(python), "-m", "pip", "install", "--only-binary=:all:", *_pins()],
                timeout=PIP_TIMEOUT_S,
                what="installing the pinned grpcio-tools",
            )
        except GenerateError as exc:
            raise GenerateError(
                f"{exc}\nIf no wheel exists for Python {base_version}, run this script with "
                "--python pointing at an interpreter that grpcio-tools "
                f"{GRPCIO_TOOLS_VERSION} ships wheels for (CPython 3.8-3.12)."
            ) from exc
        marker.write_text(json.dumps(wanted, indent=2) + "\n")
    return python


def generate_into(out_dir: Path, tool_python: Path) -> list[Path]:
    """Run the pinned protoc and place the generated files directly in out_dir; return their paths."""
    version = _run([str(tool_python), "-m", "grpc_tools.protoc", "--version"], timeout=60, what="protoc --version")
    if version.strip() != EXPECTED_PROTOC:
        raise GenerateError(
            f"{VENV_DIR} runs {version.strip()!r}, expected {EXPECTED_PROTOC!r}; delete the directory and rerun"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="generate_proto-") as tmp:
        _run(
            [
                str(tool_python),
                "-m",
                "grpc_tools.protoc",
                f"-I{REPO_ROOT}",
                f"--python_out={tmp}",
                f"--pyi_out={tmp}",
                PROTO_FILE,
            ],
            cwd=REPO_ROOT,
            timeout=PROTOC_TIMEOUT_S,
            what="protoc",
        )
        produced = Path(tmp) / Path(PROTO_FILE).parent
        written = []
        for name in GENERATED:
            source = produced / name
            if not source.is_file():
                raise GenerateError(f"protoc did not produce {name} (looked in {produced})")
            target = out_dir / name
            partial = out_dir / f".{name}.partial"
            shutil.copyfile(source, partial)
            os.replace(partial, target)
            written.append(target)
    return written


def check(committed_dir: Path, tool_python: Path) -> list[str]:
    """Return one message per generated file that is missing or differs from a fresh generation."""
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="generate_proto-check-") as tmp:
        for fresh in generate_into(Path(tmp), tool_python):
            committed = committed_dir / fresh.name
            if not committed.is_file():
                problems.append(f"{committed} is missing")
                continue
            old, new = committed.read_bytes(), fresh.read_bytes()
            if old == new:
                continue
            diff = difflib.unified_diff(
                old.decode("utf-8", "replace").splitlines(keepends=True),
                new.decode("utf-8", "replace").splitlines(keepends=True),
                fromfile=f"{committed} (committed)",
                tofile=f"{fresh.name} (generated)",
            )
            excerpt = "".join(list(diff)[:40])
            problems.append(f"{committed} differs from freshly generated code:\n{excerpt}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="fail if the files in the output dir are not current")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output directory (default: {DEFAULT_OUT})")
    parser.add_argument(
        "--python",
        default=sys.executable,
        help="interpreter to build the tool venv from (default: the one running this script)",
    )
    args = parser.parse_args(argv)
    out_dir: Path = args.out.resolve()
    try:
        tool_python = ensure_tool_venv(VENV_DIR, args.python)
        if args.check:
            problems = check(out_dir, tool_python)
            if problems:
                print("\n".join(problems), file=sys.stderr)
                print(
                    f"generate_proto: generated protobuf code in {out_dir} is stale; "
                    "run `python scripts/generate_proto.py` and commit the result",
                    file=sys.stderr,
                )
                return 1
            print(f"generate_proto: {', '.join(GENERATED)} in {out_dir} are current")
            return 0
        for path in generate_into(out_dir, tool_python):
            print(f"generate_proto: wrote {path}")
        return 0
    except GenerateError as exc:
        print(f"generate_proto: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
