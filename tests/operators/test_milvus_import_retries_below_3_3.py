"""The retry tests again as on Airflow before 3.3: the operator built on a stand-in mixin that keeps nothing.

Each stand-in (common-compat 1.23's, and the provider's own for older common-compat) is put in
``version_compat`` before the operator is imported, in a fresh Python process; there the
server-side search alone must keep every retry from importing twice. The nested run writes its own
JUnit report, read back here: it must have run tests and skipped none (a skip fails a leg, here too).
"""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RUN = """
import importlib, sys
import airflow_provider_milvus.version_compat as vc

module, name = sys.argv[1].split(":")
vc.ResumableJobMixin = getattr(importlib.import_module(module), name)
vc.HAS_TASK_STATE_STORE = False
import pytest
from airflow_provider_milvus.operators.milvus_import import MilvusImportOperator

assert MilvusImportOperator.__mro__[1] is vc.ResumableJobMixin, MilvusImportOperator.__mro__
sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", "tests/operators/test_milvus_import_retries.py",
                      "-k", "not mixin_of_the_running_airflow", "--junitxml", sys.argv[2]]))
"""


@pytest.mark.parametrize(
    "stand_in",
    [
        "airflow.providers.common.compat._resumable_job_mixin:ResumableJobMixin",
        "airflow_provider_milvus.resume:FallbackResumableJobMixin",
    ],
)
def test_retries_never_import_twice_without_a_task_state_store(stand_in: str, tmp_path: Path) -> None:
    report = tmp_path / "nested.xml"
    result = subprocess.run(
        [sys.executable, "-c", RUN, stand_in, str(report)], cwd=REPO, capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    suite = ET.parse(report).getroot().find("testsuite")
    assert suite is not None, report.read_text()
    counts = {key: int(suite.get(key, "0")) for key in ("tests", "skipped", "failures", "errors")}
    assert counts["tests"] > 0 and counts["skipped"] == counts["failures"] == counts["errors"] == 0, counts
