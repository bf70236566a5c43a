"""The matrix checks run in a leg's venv, made by scripts/matrix.py, which sets MATRIX_LEG and MATRIX_WHEEL."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

__all__ = ["airflow_cli", "leg", "wheel_path"]


@pytest.fixture(scope="session")
def leg() -> str:
    """The leg's name; outside a leg these checks fail, since they prove a wheel install (run scripts/matrix.py)."""
    name = os.environ.get("MATRIX_LEG")
    if not name:
        pytest.fail("tests/matrix run inside a leg: .venv/bin/python scripts/matrix.py 3.3.2", pytrace=False)
    return name


@pytest.fixture(scope="session")
def wheel_path(leg: str) -> Path:
    """The wheel scripts/matrix.py built from the checkout and installed in this leg."""
    path = Path(os.environ.get("MATRIX_WHEEL", ""))
    assert path.is_file() and path.suffix == ".whl", f"MATRIX_WHEEL is not a wheel: {path}"
    return path


def airflow_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """Run this venv's `airflow` command with the test session's environment (its AIRFLOW_HOME)."""
    airflow = Path(sys.executable).with_name("airflow")
    return subprocess.run([str(airflow), *args], capture_output=True, text=True, timeout=300, env=os.environ)
