"""Reliability suite set-up: prints the tally of faults, inputs and outcomes when the session ends."""

from __future__ import annotations

import shutil
import tempfile

import pytest
from hypothesis.configuration import set_hypothesis_home_dir

from tests.reliability.tally import TALLY

# Hypothesis keeps caches under ./.hypothesis by default: keep them out of the work tree.
_HYPOTHESIS_HOME = tempfile.mkdtemp(prefix="reliability-hypothesis-")
set_hypothesis_home_dir(_HYPOTHESIS_HOME)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Dump the tally as JSON when ``RELIABILITY_TALLY_JSON`` names a file; drop Hypothesis's caches."""
    TALLY.dump()
    shutil.rmtree(_HYPOTHESIS_HOME, ignore_errors=True)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int) -> None:
    """Print the tally as a table at the end of the run (shown with or without ``-s``)."""
    for line in TALLY.table():
        terminalreporter.write_line(line)
