"""The emulator fixtures for the poller's tests."""

from __future__ import annotations

from tests.emulator.fixtures import *  # noqa: F403
