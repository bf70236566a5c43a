"""Fixtures of the transport tests: the REST / cloud emulator."""

from __future__ import annotations

from tests.emulator.fixtures import *  # noqa: F403
