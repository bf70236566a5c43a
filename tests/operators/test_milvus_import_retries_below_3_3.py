"""The retry tests again as on Airflow before 3.3: the operator built on a stand-in mixin that keeps nothing.

Each stand-in (common-compat 1.23's, and the provider's own for older common-compat) is put in
``version_compat`` before the operator is imported, in a fresh Python process; there the
server-side search alone must keep every retry from importing twice.
"""

from __future__ import annotations

import subprocess
import sys
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
                      "-k", "not mixin_of_the_running_airflow"]))
"""


@pytest.mark.parametrize(
    "stand_in",
    [
        "airflow.providers.common.compat._resumable_job_mixin:ResumableJobMixin",
        "airflow_provider_milvus.resume:FallbackResumableJobMixin",
    ],
)
def test_retries_never_import_twice_without_a_task_state_store(stand_in: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", RUN, stand_in], cwd=REPO, capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and " failed" not in result.stdout, result.stdout[-2000:]
