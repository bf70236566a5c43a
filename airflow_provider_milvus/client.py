"""Import clients: one protocol (what to say) over one transport (how to move it), sync or async."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from collections.abc import Generator, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol

from airflow_provider_milvus.exceptions import MilvusImportConfigError, MilvusImportError
from airflow_provider_milvus.protocol.base import HttpRequest
from airflow_provider_milvus.protocol.cloud import BucketCredentials, CloudProtocol
from airflow_provider_milvus.protocol.detect import detect_protocol
from airflow_provider_milvus.protocol.errors import scrub
from airflow_provider_milvus.protocol.grpc import GrpcProtocol
from airflow_provider_milvus.protocol.idempotency import honours_keys
from airflow_provider_milvus.protocol.listing import UNBOUNDED, ListBudget, Listing
from airflow_provider_milvus.protocol.rest import RestProtocol
from airflow_provider_milvus.settings import MilvusSettings
from airflow_provider_milvus.state import BulkInsertState
from airflow_provider_milvus.transport.driver import run_async, run_sync
from airflow_provider_milvus.transport.grpc_async import AsyncGrpcTransport
from airflow_provider_milvus.transport.grpc_sync import SyncGrpcTransport
from airflow_provider_milvus.transport.http_async import AsyncHttpTransport
from airflow_provider_milvus.transport.http_sync import SyncHttpTransport
from airflow_provider_milvus.transport.ratelimit import limiter_for

ImportProtocol = GrpcProtocol | RestProtocol | CloudProtocol


class SyncTransport(Protocol):
    def send(self, request: Any) -> Any: ...
    def close(self) -> None: ...


class AsyncTransport(Protocol):
    async def send(self, request: Any) -> Any: ...
    async def aclose(self) -> None: ...


def make_protocol(settings: MilvusSettings) -> ImportProtocol:
    """The protocol object for settings whose protocol is already resolved (not ``auto``)."""
    if settings.protocol == "grpc":
        # The same endpoint's REST v2 API confirms what Milvus 2.4+'s legacy gRPC shim cannot say.
        return GrpcProtocol(
            settings.grpc_target,
            token=settings.token,
            db_name=settings.db_name,
            timeout=settings.timeout,
            rest=_rest_probe(settings),
        )
    if settings.protocol == "rest":
        return RestProtocol(
            settings.http_base_url, token=settings.token, db_name=settings.db_name, timeout=settings.timeout
        )
    if settings.protocol == "cloud":
        return CloudProtocol(
            settings.cloud_endpoint,
            api_key=settings.cloud_api_key,
            cluster_id=settings.cloud_cluster_id,
            db_name=settings.db_name,
            timeout=settings.timeout,
        )
    raise MilvusImportConfigError(f"protocol {settings.protocol!r} must be resolved before a client is made")


def secret_forms(settings: MilvusSettings, credentials: BucketCredentials | None = None) -> tuple[str, ...]:
    """The secrets as sent on the wire (plain and base64), for scrubbing what a server echoes."""
    forms: list[str] = []
    for secret in (*settings.secrets, *(credentials.secrets if credentials else ())):
        forms += [secret, base64.b64encode(secret.encode()).decode()]
        if ":" in secret:
            forms.append(secret.split(":", 1)[1])  # the password part of user:password
    return tuple(f for f in forms if len(f) >= 4)


def create_operation(
    protocol: ImportProtocol,
    args: tuple[str, Any, str | None, str | None, Mapping[str, str] | None],
    idempotency_key: str | None,
    credentials: BucketCredentials | None,
    volume_name: str | None,
) -> Generator[Any, Any, Any]:
    """The ``create`` of ``protocol`` for ``args`` (collection, files, partition, database, options).

    Bucket credentials and volumes exist only on Zilliz Cloud.
    """
    if isinstance(protocol, CloudProtocol):
        key = idempotency_key
        return protocol.start_import(*args, idempotency_key=key, credentials=credentials, volume_name=volume_name)
    if credentials is not None or volume_name is not None:
        what = "bucket credentials (storage_conn_id)" if credentials is not None else "volume_name"
        raise MilvusImportConfigError(
            f"{what} needs a Zilliz Cloud connection (protocol 'cloud'), not {protocol.name!r}"
        )
    return protocol.start_import(*args, idempotency_key=idempotency_key)


def _rest_probe(settings: MilvusSettings) -> RestProtocol:
    return RestProtocol(
        settings.http_base_url, token=settings.token, db_name=settings.db_name, timeout=settings.timeout
    )


class MilvusImportClient:
    """Blocking client over one API; resolves ``auto`` on first use and remembers it."""

    def __init__(self, settings: MilvusSettings, transport: SyncTransport | None = None) -> None:
        self.settings = settings
        self._transport = transport
        self._http: SyncHttpTransport | None = None
        self._protocol: ImportProtocol | None = None

    def __repr__(self) -> str:
        return f"MilvusImportClient({self.settings!r})"

    def resolve_protocol(self) -> str:
        """The protocol in use (runs detection once when the connection says ``auto``)."""
        if self.settings.protocol == "auto":
            found = run_sync(detect_protocol(_rest_probe(self.settings)), self._http_transport().send)
            self.settings = self.settings.with_protocol(found)
        return self.settings.protocol

    def _http_transport(self) -> SyncHttpTransport:
        if self._http is None:
            self._http = SyncHttpTransport(verify=self.settings.verify)
        return self._http

    @property
    def protocol(self) -> ImportProtocol:
        if self._protocol is None:
            self.resolve_protocol()
            self._protocol = make_protocol(self.settings)
            if self._transport is None:
                if self.settings.protocol == "grpc":
                    self._transport = SyncGrpcTransport(
                        self.settings.grpc_target, secure=self.settings.secure, server_ca=self.settings.server_ca
                    )
                else:
                    self._transport = self._http_transport()
        return self._protocol

    def _send(self, request: Any) -> Any:
        """gRPC calls to the channel; HTTP requests (REST, or a gRPC answer checked over REST) to the session."""
        if isinstance(request, HttpRequest):
            return self._http_transport().send(request)
        assert self._transport is not None
        return self._transport.send(request)

    def _run(self, operation: Generator[Any, Any, Any], credentials: BucketCredentials | None = None) -> Any:
        assert self._transport is not None
        send = self._transport.send if self.settings.protocol != "grpc" else self._send
        try:
            return run_sync(operation, send)
        except MilvusImportError as error:
            raise scrub(error, secret_forms(self.settings, credentials)) from None

    def commit_import(self, job_id: str, db_name: str | None = None) -> None:
        """Publish a staged two-phase import (Milvus 3.0+); a server without two-phase imports says so."""
        self._run(self.protocol.commit_import(job_id, db_name))

    def abort_import(self, job_id: str, db_name: str | None = None) -> None:
        """Abandon an import job (Milvus 3.0+)."""
        self._run(self.protocol.abort_import(job_id, db_name))

    def supports_two_phase(self) -> bool:
        """Whether the server has two-phase imports (probes the commit route once per call)."""
        return bool(self._run(self.protocol.supports_two_phase()))

    def start_import(
        self,
        collection_name: str,
        files: Any,
        partition_name: str | None = None,
        db_name: str | None = None,
        options: Mapping[str, str] | None = None,
        *,
        idempotency_key: str | None = None,
        credentials: BucketCredentials | None = None,
        volume_name: str | None = None,
    ) -> str:
        """Start a bulk import; returns its job id (``credentials``, ``volume_name``: Zilliz Cloud only)."""
        args = (collection_name, files, partition_name, db_name, options)
        operation = create_operation(self.protocol, args, idempotency_key, credentials, volume_name)
        return str(self._run(operation, credentials))

    def honours_idempotency_keys(self) -> bool:
        """Whether the server answers a repeated key with the first job (asked with gRPC ``GetVersion``; never imports).

        Milvus serves gRPC on its REST port too, so a REST connection asks the same endpoint. No answer,
        an old release, or Zilliz Cloud (whose handling of the key is not documented): False.
        """
        if self.resolve_protocol() == "cloud":
            return False
        version = self.server_version()
        return honours_keys(version)

    def server_version(self) -> str:
        """The server's version as gRPC ``GetVersion`` tells it on the connection's endpoint ("" when it cannot)."""
        timeout = min(self.settings.timeout, 10.0)
        probe = GrpcProtocol(self.settings.grpc_target, token=self.settings.token, timeout=timeout)
        transport = SyncGrpcTransport(
            self.settings.grpc_target, secure=self.settings.secure, server_ca=self.settings.server_ca
        )
        try:
            return str(run_sync(probe.server_version(), transport.send))
        except Exception:  # a probe: whatever went wrong, the version is unknown
            return ""
        finally:
            transport.close()

    def get_import_state(self, job_id: str, db_name: str | None = None) -> BulkInsertState:
        """The job's state now (``db_name``: the job's database when not the connection's)."""
        state: BulkInsertState = self._run(self.protocol.get_import_state(job_id, db_name))
        return state

    def list_import_states(
        self, collection_name: str | None = None, db_name: str | None = None
    ) -> list[BulkInsertState]:
        """The jobs the server knows, optionally of one collection."""
        states: list[BulkInsertState] = self._run(self.protocol.list_import_states(collection_name, db_name))
        return states

    def list_jobs(
        self,
        collection_name: str | None = None,
        db_name: str | None = None,
        budget: ListBudget = UNBOUNDED,
    ) -> Listing:
        """One list with its cost (pages, bytes), stopped early where it outgrows ``budget``."""
        listing: Listing = self._run(self.protocol.list_jobs(collection_name, db_name, budget))
        return listing

    def close(self) -> None:
        """Close sockets and channels."""
        for transport in {id(t): t for t in (self._transport, self._http) if t is not None}.values():
            transport.close()
        self._transport = self._http = None
        self._protocol = None


@dataclass
class TransferStats:
    """Requests sent, answer bytes received, and seconds spent outside the wire (building, parsing; not the
    pauses between pages)."""

    requests: int = 0
    bytes: int = 0
    seconds: float = 0.0

    def copy(self) -> TransferStats:
        """A snapshot, to subtract from a later one."""
        return TransferStats(self.requests, self.bytes, self.seconds)


#: The calls of one task counted apart (see :func:`counting`): concurrent tasks' calls do not mix in.
_TASK_STATS: ContextVar[TransferStats | None] = ContextVar("milvus_import_task_stats", default=None)


@contextlib.contextmanager
def counting() -> Iterator[TransferStats]:
    """What the async client's calls made by this task inside the block cost (other tasks' calls not)."""
    stats = TransferStats()
    token = _TASK_STATS.set(stats)
    try:
        yield stats
    finally:
        _TASK_STATS.reset(token)


class AsyncMilvusImportClient:
    """The async twin of :class:`MilvusImportClient`, for the triggerer's event loop."""

    def __init__(self, settings: MilvusSettings, transport: AsyncTransport | None = None) -> None:
        self.settings = settings
        #: What this client has cost so far (the shared poller weighs lists against reads with it).
        self.stats = TransferStats()
        self._transport = transport
        self._http: AsyncHttpTransport | None = None
        self._protocol: ImportProtocol | None = None

    def __repr__(self) -> str:
        return f"AsyncMilvusImportClient({self.settings!r})"

    def _http_transport(self) -> AsyncHttpTransport:
        if self._http is None:
            self._http = AsyncHttpTransport(verify=self.settings.verify)
        return self._http

    async def resolve_protocol(self) -> str:
        """The protocol in use (runs detection once when the connection says ``auto``)."""
        if self.settings.protocol == "auto":
            found = await run_async(detect_protocol(_rest_probe(self.settings)), self._http_transport().send)
            self.settings = self.settings.with_protocol(found)
        return self.settings.protocol

    async def protocol(self) -> ImportProtocol:
        if self._protocol is None:
            await self.resolve_protocol()
            self._protocol = make_protocol(self.settings)
            if self._transport is None:
                if self.settings.protocol == "grpc":
                    self._transport = AsyncGrpcTransport(
                        self.settings.grpc_target, secure=self.settings.secure, server_ca=self.settings.server_ca
                    )
                else:
                    self._transport = self._http_transport()
        return self._protocol

    async def _run(self, operation: Generator[Any, Any, Any], credentials: BucketCredentials | None = None) -> Any:
        transport = self._transport
        assert transport is not None

        async def limited(request: Any) -> Any:
            # Zilliz Cloud: at most 20 requests/s per endpoint, shared by every client of this process.
            await limiter_for(request.url).acquire()
            return await transport.send(request)

        async def dispatched(request: Any) -> Any:
            # gRPC calls to the channel; an answer checked over REST goes to the HTTP pool.
            if isinstance(request, HttpRequest):
                return await self._http_transport().send(request)
            return await transport.send(request)

        sender = {"cloud": limited, "grpc": dispatched}.get(self.settings.protocol, transport.send)
        counters = [s for s in (self.stats, _TASK_STATS.get()) if s is not None]
        waited = 0.0

        async def counted(request: Any) -> Any:
            nonlocal waited
            started = time.perf_counter()
            try:
                answer = await sender(request)
            finally:
                waited += time.perf_counter() - started
            for stats in counters:
                stats.requests += 1
                stats.bytes += len(getattr(answer, "body", b""))
            return answer

        async def paused(seconds: float) -> None:
            # A pause between pages (Zilliz Cloud) is time off the wire but no work: not parse time either.
            nonlocal waited
            started = time.perf_counter()
            try:
                await asyncio.sleep(seconds)
            finally:
                waited += time.perf_counter() - started

        started = time.perf_counter()
        try:
            return await run_async(operation, counted, paused)
        except MilvusImportError as error:
            raise scrub(error, secret_forms(self.settings, credentials)) from None
        finally:
            for stats in counters:
                stats.seconds += max(0.0, time.perf_counter() - started - waited)

    async def commit_import(self, job_id: str, db_name: str | None = None) -> None:
        """Publish a staged two-phase import (Milvus 3.0+)."""
        protocol = await self.protocol()
        await self._run(protocol.commit_import(job_id, db_name))

    async def abort_import(self, job_id: str, db_name: str | None = None) -> None:
        """Abandon an import job (Milvus 3.0+)."""
        protocol = await self.protocol()
        await self._run(protocol.abort_import(job_id, db_name))

    async def supports_two_phase(self) -> bool:
        """Whether the server has two-phase imports."""
        protocol = await self.protocol()
        return bool(await self._run(protocol.supports_two_phase()))

    async def start_import(
        self,
        collection_name: str,
        files: Any,
        partition_name: str | None = None,
        db_name: str | None = None,
        options: Mapping[str, str] | None = None,
        *,
        idempotency_key: str | None = None,
        credentials: BucketCredentials | None = None,
        volume_name: str | None = None,
    ) -> str:
        """Start a bulk import; returns its job id (``credentials``, ``volume_name``: Zilliz Cloud only)."""
        call = (collection_name, files, partition_name, db_name, options)
        operation = create_operation(await self.protocol(), call, idempotency_key, credentials, volume_name)
        return str(await self._run(operation, credentials))

    async def get_import_state(self, job_id: str, db_name: str | None = None) -> BulkInsertState:
        """The job's state now."""
        protocol = await self.protocol()
        state: BulkInsertState = await self._run(protocol.get_import_state(job_id, db_name))
        return state

    async def list_import_states(
        self, collection_name: str | None = None, db_name: str | None = None
    ) -> list[BulkInsertState]:
        """The jobs the server knows, optionally of one collection."""
        protocol = await self.protocol()
        states: list[BulkInsertState] = await self._run(protocol.list_import_states(collection_name, db_name))
        return states

    async def list_jobs(
        self,
        collection_name: str | None = None,
        db_name: str | None = None,
        budget: ListBudget = UNBOUNDED,
    ) -> Listing:
        """One list with its cost (pages, bytes), stopped early where it outgrows ``budget``."""
        protocol = await self.protocol()
        listing: Listing = await self._run(protocol.list_jobs(collection_name, db_name, budget))
        return listing

    async def aclose(self) -> None:
        """Close sockets and channels."""
        for transport in {id(t): t for t in (self._transport, self._http) if t is not None}.values():
            await transport.aclose()
        self._transport = self._http = None
        self._protocol = None
