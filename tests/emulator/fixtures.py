"""Pytest fixtures around :class:`ImportEmulator`; import them with ``from tests.emulator.fixtures import *``."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest

from tests.emulator.grpc_server import SERVICE as GRPC_SERVICE
from tests.emulator.grpc_server import MilvusEndpoint
from tests.emulator.profiles import PROFILES, ReleaseProfile
from tests.emulator.server import DEFAULT_API_KEY, DEFAULT_CLUSTER_ID, ImportEmulator, make_self_signed_cert

__all__ = [
    "ReleaseEndpoint",
    "channel_to",
    "cloud_emulator",
    "emulator_tls_cert",
    "grpc_call",
    "make_emulator",
    "make_endpoint",
    "release",
    "release_endpoint",
    "rest_emulator",
]


@pytest.fixture
def make_emulator() -> Iterator[Callable[..., ImportEmulator]]:
    """Factory: ``make_emulator(mode="cloud", speed=0, ...)`` returns a started emulator, stopped after the test."""
    started: list[ImportEmulator] = []

    def factory(profile: str | None = None, **knobs: Any) -> ImportEmulator:
        emulator = ImportEmulator.for_profile(profile, **knobs) if profile else ImportEmulator(**knobs)
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


@pytest.fixture(params=list(PROFILES))
def release(request: pytest.FixtureRequest) -> ReleaseProfile:
    """Each release profile in turn (tests/emulator/profiles.py): 2.4.0 .. 3.0 and the Zilliz Cloud variants."""
    return PROFILES[request.param]


@dataclass
class ReleaseEndpoint:
    """A started emulator of one release profile and the Airflow connection id that reaches it."""

    release: ReleaseProfile
    emulator: ImportEmulator
    conn_id: str

    def import_operator(self, task_id: str, files: Any, **kwargs: Any) -> Any:
        """A MilvusImportOperator on this endpoint, its job clock sped up (a 2 s job in 40 ms), polling fast."""
        from airflow_provider_milvus.operators.milvus_import import MilvusImportOperator

        self.emulator.clock.speed = 50.0
        base = {"collection_name": "c", "milvus_conn_id": self.conn_id, "poll_interval": 0.05, "timeout": 60}
        return MilvusImportOperator(task_id=task_id, files=files, **(base | kwargs))

    def paths(self, name: str) -> list[str]:
        """One import unit in this API's form: object storage URLs for the cloud, server paths for Milvus."""
        return [f"s3://bucket/{name}.parquet"] if self.release.mode == "cloud" else [f"/data/{name}.parquet"]


@pytest.fixture
def release_endpoint(
    release: ReleaseProfile, make_emulator: Callable[..., ImportEmulator], monkeypatch: pytest.MonkeyPatch
) -> ReleaseEndpoint:
    """An emulator of each release profile in turn (speed 0: tests move its clock), with connection ``release``."""
    if release.mode == "cloud":
        emulator = make_emulator(profile=release.name, speed=0, token=DEFAULT_API_KEY)
        extra = {
            "protocol": "cloud",
            "cloud_endpoint": emulator.base_url,
            "cloud_api_key": DEFAULT_API_KEY,
            "cloud_cluster_id": DEFAULT_CLUSTER_ID,
        }
        conn: dict[str, Any] = {"conn_type": "milvus", "extra": extra}
    else:
        emulator = make_emulator(profile=release.name, speed=0)
        conn = {"conn_type": "milvus", "host": emulator.base_url, "extra": {"protocol": "rest"}}
    monkeypatch.setenv("AIRFLOW_CONN_RELEASE", json.dumps(conn))
    return ReleaseEndpoint(release, emulator, "release")


@pytest.fixture
def make_endpoint() -> Iterator[Callable[..., MilvusEndpoint]]:
    """Factory: ``make_endpoint("2.5", speed=0)``: REST v2 and legacy gRPC of one release on one port, stopped after."""
    started: list[MilvusEndpoint] = []

    def factory(profile: str, **knobs: Any) -> MilvusEndpoint:
        endpoint = MilvusEndpoint(profile, **knobs)
        started.append(endpoint)
        return endpoint.start()

    yield factory
    for endpoint in started:
        endpoint.stop()


@pytest.fixture
def channel_to() -> Iterator[Callable[[MilvusEndpoint], grpc.Channel]]:
    """Factory: an insecure channel to an endpoint's port, closed after the test."""
    channels: list[grpc.Channel] = []

    def make(endpoint: MilvusEndpoint) -> grpc.Channel:
        channels.append(grpc.insecure_channel(f"127.0.0.1:{endpoint.port}"))
        return channels[-1]

    yield make
    for channel in channels:
        channel.close()


def grpc_call(channel: grpc.Channel, method: str, request: object, answer: type) -> object:
    """One raw ``MilvusService`` call: serialize ``request``, parse the answer as ``answer``."""
    raw = channel.unary_unary(f"/{GRPC_SERVICE}/{method}")(request.SerializeToString(), timeout=30)  # type: ignore[attr-defined]
    return answer.FromString(raw)  # type: ignore[attr-defined]
