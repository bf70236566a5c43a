"""scripts/matrix.py: venv keys follow the inputs, counts come from pytest's JUnit XML, the summary's last line."""

from __future__ import annotations

import dataclasses
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "matrix.py"


@pytest.fixture(scope="module")
def matrix() -> ModuleType:
    """scripts/matrix.py loaded as a module."""
    spec = importlib.util.spec_from_file_location("matrix_script", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["matrix_script"] = module
    spec.loader.exec_module(module)
    return module


def test_every_leg_pins_its_airflow_and_has_its_constraints_file(matrix: ModuleType) -> None:
    for leg in matrix.LEGS:
        assert leg.constraints_path.exists(), leg
        extra = f"[{leg.airflow_extra}]" if leg.airflow_extra else ""
        assert f"apache-airflow{extra}=={leg.airflow}" in matrix.requirements(leg)
    assert {leg.airflow for leg in matrix.LEGS} == {"2.11.0", "2.11.2", "3.0.6", "3.1.8", "3.2.2", "3.3.2"}


def test_venv_key_changes_with_the_constraints_file(matrix: ModuleType, tmp_path: Path) -> None:
    leg = matrix.LEGS_BY_NAME["3.0.6"]
    copy = tmp_path / "constraints"
    copy.mkdir()
    (copy / leg.constraints).write_bytes(leg.constraints_path.read_bytes())
    moved = dataclasses.replace(leg)
    python = sys.executable
    original = matrix.venv_key(leg, python)
    matrix.CONSTRAINTS = copy
    try:
        assert matrix.venv_key(moved, python) == original
        (copy / leg.constraints).write_text(leg.constraints_path.read_text() + "six==1.17.0\n")
        assert matrix.venv_key(moved, python) != original
    finally:
        matrix.CONSTRAINTS = SCRIPT.parents[1] / "constraints"


def test_junit_counts_errors_as_failed_and_reports_skips(matrix: ModuleType, tmp_path: Path) -> None:
    xml = tmp_path / "leg.xml"
    xml.write_text(
        '<testsuites><testsuite name="pytest" tests="10" failures="1" errors="2" skipped="3">'
        '<testcase classname="tests.ui.test_form" name="test_a"/>'
        "</testsuite></testsuites>"
    )
    assert matrix.junit_counts(xml) == (4, 3, 3)
    assert matrix.junit_covers(xml) == "browser"


def test_summary_ends_with_a_line_counting_every_leg(matrix: ModuleType) -> None:
    results = [
        matrix.Result("ruff", "ruff check .", ok=True),
        matrix.Result("floors", "tests", ok=True, passed=290, seconds=130),
        matrix.Result("3.0.6", "tests", ok=False, passed=280, failed=2, seconds=150),
        matrix.Result("3.1.8", "tests", ok=False, detail="a plain task failed"),
    ]
    lines = matrix.summary(results).splitlines()
    assert lines[-1] == "571 passed, 3 failed"
    assert [line.split()[0] for line in lines[2:6]] == ["ruff", "floors", "3.0.6", "3.1.8"]
    assert "FAILED" in lines[4] and "FAILED" in lines[5]
