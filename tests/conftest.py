"""Shared set-up: an Airflow home for the test session, the emulator and the real Milvus fixtures.

AIRFLOW_HOME and the DAGs folder are set before anything imports Airflow.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="airflow-provider-milvus-tests-"))
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(REPO / "example_dags"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

from tests.dag_runs import *  # noqa: E402,F403
from tests.emulator.fixtures import *  # noqa: E402,F403
from tests.milvus_server.fixtures import *  # noqa: E402,F403


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print the release profiles' outcome tally (false successes / failures) when those tests ran."""
    from tests.emulator.profiles import OUTCOMES

    for line in OUTCOMES.table():
        terminalreporter.write_line(line)
