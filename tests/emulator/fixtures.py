"""Pytest fixtures around :class:`ImportEmulator`; import them with ``from tests.emulator.fixtures import *``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.emulator.server import DEFAULT_API_KEY, ImportEmulator, make_self_signed_cert

__all__ = ["cloud_emulator", "emulator_tls_cert", "make_emulator", "rest_emulator"]


@pytest.fixture
def make_emulator() -> Iterator[Callable[..., ImportEmulator]]:
    """Factory: ``make_emulator(mode="cloud", speed=0, ...)`` returns a started emulator, stopped after the test."""
    started: list[ImportEmulator] = []

    def factory(**knobs: Any) -> ImportEmulator:
        emulator = ImportEmulator(**knobs)
        started.append(emulator)
        return emulator.start()

    yield factory
    for emulator in started:
        emulator.stop()


@pytest.fixture
def rest_emulator(make_emulator: Callable[..., ImportEmulator]) -> ImportEmulator:
    """A started self-hosted Milvus 2.4+ REST v2 emulator, no auth, default knobs."""
    return make_emulator(mode="rest")


@pytest.fixture
def cloud_emulator(make_emulator: Callable[..., ImportEmulator]) -> ImportEmulator:
    """A started Zilliz Cloud control-plane emulator; API key ``DEFAULT_API_KEY``, cluster ``DEFAULT_CLUSTER_ID``."""
    return make_emulator(mode="cloud", token=DEFAULT_API_KEY)


@pytest.fixture(scope="session")
def emulator_tls_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A self-signed (cert_path, key_path) for 127.0.0.1 / localhost, made once per session."""
    return make_self_signed_cert(tmp_path_factory.mktemp("emulator-tls"))
