"""Make the emulator fixtures available to the emulator's own tests."""

from __future__ import annotations

from tests.emulator.fixtures import *  # noqa: F403
