"""Milvus gRPC ``MilvusService`` import calls (2.2+): build requests, parse answers. No I/O.

Requests are serialized here and answers parsed here; the transports only
move the bytes, so the sync (grpcio) and async (grpc.aio) paths share this.
"""

from __future__ import annotations

import base64
from collections.abc import Generator, Mapping
from typing import Any, Final, TypeVar

from google.protobuf.message import DecodeError

from airflow_provider_milvus import exceptions as exc
from airflow_provider_milvus.proto import milvus_import_pb2 as pb
from airflow_provider_milvus.protocol import errors
from airflow_provider_milvus.protocol.arguments import ImportArgs, check_name, check_numeric_job_id
from airflow_provider_milvus.protocol.base import (
    GrpcOperation,
    GrpcRequest,
    GrpcResponse,
    HttpRequest,
    HttpResponse,
    Sleep,
)
from airflow_provider_milvus.protocol.idempotency import check_key
from airflow_provider_milvus.protocol.listing import UNBOUNDED, ListBudget, Listing
from airflow_provider_milvus.protocol.rest import NO_TWO_PHASE, RestProtocol
from airflow_provider_milvus.state import FAILED, BulkInsertState, format_create_time, state_code

T = TypeVar("T")

SERVICE: Final = "/milvus.proto.milvus.MilvusService"
IMPORT: Final = f"{SERVICE}/Import"
GET_IMPORT_STATE: Final = f"{SERVICE}/GetImportState"
LIST_IMPORT_TASKS: Final = f"{SERVICE}/ListImportTasks"
GET_VERSION: Final = f"{SERVICE}/GetVersion"

#: gRPC status names worth another try.
RETRYABLE_RPC_CODES: Final = frozenset({"UNAVAILABLE", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED", "ABORTED"})
#: The deprecated ``common.ErrorCode`` values that are passing: ConnectFailed, ForceDeny, RateLimit.
RETRYABLE_LEGACY_CODES: Final = frozenset({2, 48, 49})


def metadata(token: str, db_name: str) -> tuple[tuple[str, str], ...]:
    """Call metadata: ``authorization`` (base64 of the token or ``user:password``) and ``dbname``."""
    items: list[tuple[str, str]] = []
    if token:
        items.append(("authorization", base64.b64encode(token.encode()).decode()))
    if db_name:
        items.append(("dbname", db_name))
    return tuple(items)


def rpc_error(response: GrpcResponse, *, what: str, server: str, job_id: str | None) -> exc.MilvusImportError:
    """The error for a call that ended with a gRPC status other than OK."""
    code = response.code
    kwargs: dict[str, Any] = {
        "server": server,
        "job_id": job_id,
        "code": code,
        "server_message": errors.sanitize(response.details) or None,
    }
    if code == "DEADLINE_EXCEEDED":
        return exc.MilvusImportTimeoutError(f"{what}: no answer within the deadline", **kwargs)
    if code == "UNAVAILABLE":
        return exc.MilvusImportConnectionError(f"{what}: the server is unreachable", **kwargs)
    if code in RETRYABLE_RPC_CODES:
        return exc.MilvusImportServerBusyError(f"{what}: the server is busy", **kwargs)
    if code in ("UNAUTHENTICATED", "PERMISSION_DENIED"):
        return exc.MilvusImportAuthError(
            f"{what}: the server refused the credentials; check the connection's token or login and password",
            **kwargs,
        )
    if code == "UNIMPLEMENTED":
        return exc.MilvusImportRouteNotFoundError(f"{what}: the server does not implement this call", **kwargs)
    return exc.MilvusImportRequestError(f"{what}: the call failed", **kwargs)


def check_status(status: pb.Status, *, what: str, server: str, job_id: str | None) -> None:
    """Raise for a ``common.Status`` that is not success (``code``, or ``error_code`` on old servers)."""
    if status.code == 0 and status.error_code == 0:
        return
    reason = status.reason or status.detail
    if status.code != 0:
        raise errors.milvus_code_error(
            status.code, reason, server=server, job_id=job_id, what=what, retriable=status.retriable
        )
    raise errors.milvus_code_error(
        status.error_code,
        reason,
        server=server,
        job_id=job_id,
        what=what,
        retriable=status.retriable or status.error_code in RETRYABLE_LEGACY_CODES,
        service_codes=False,
    )


def _decode(message: Any, response: GrpcResponse, *, what: str, server: str, job_id: str | None) -> Any:
    if response.code != "OK":
        raise rpc_error(response, what=what, server=server, job_id=job_id)
    try:
        message.ParseFromString(response.body)
    except DecodeError as error:
        raise errors.invalid_answer(
            what, f"not a valid protobuf message: {error}", server=server, job_id=job_id
        ) from None
    check_status(message.status, what=what, server=server, job_id=job_id)
    return message


def server_state_name(value: int) -> str:
    """The ImportState enum name of a raw value (``ImportCompleted``), or the number as text when unknown."""
    try:
        return pb.ImportState.Name(value)
    except ValueError:
        return str(value)


def parse_state(message: pb.GetImportStateResponse, *, task_id: str | None, what: str, server: str) -> BulkInsertState:
    """A GetImportStateResponse (or a ListImportTasks entry) as a BulkInsertState, as pymilvus reads it."""
    job_id = task_id if task_id is not None else str(message.id)
    infos = {kv.key: kv.value for kv in message.infos}
    raw_progress = infos.get("progress_percent", "0").strip() or "0"
    try:
        progress = int(float(raw_progress))
    except (ValueError, OverflowError):
        raise errors.invalid_answer(
            what,
            f"progress_percent {errors.sanitize(raw_progress, 40)!r} is not a number",
            server=server,
            job_id=job_id,
        ) from None
    if not 0 <= progress <= 100:
        raise errors.invalid_answer(
            what, f"progress_percent {progress} is outside 0..100", server=server, job_id=job_id
        )
    files_text = infos.get("files", "")
    return BulkInsertState(
        task_id=job_id,
        state=state_code(message.state),
        row_count=message.row_count,
        progress=progress,
        infos=infos,
        failed_reason=infos.get("failed_reason", ""),
        collection_name=infos.get("collection", ""),
        partition_name=infos.get("partition", ""),
        files=[f for f in files_text.split(",") if f],
        id_ranges=list(message.id_list),
        create_timestamp=message.create_ts,
        create_time_str=format_create_time(message.create_ts),
        server_state=server_state_name(message.state),
    )


#: An operation that may also ask the server's REST v2 API (same endpoint) to confirm a gRPC answer.
CheckedOperation = Generator[GrpcRequest | HttpRequest | Sleep, GrpcResponse | HttpResponse | None, T]


class GrpcProtocol:
    """Requests and answers of the gRPC import calls for one Milvus server.

    ``rest``: the same server's REST v2 API (Milvus serves both on one port). Milvus 2.4+'s legacy
    gRPC shim reports any v2 job state it cannot map (None, Uncommitted, Committing) as ImportFailed
    with an EMPTY failed_reason, so such an answer is checked against REST ``describe`` before it is
    believed. A server whose REST routes answer 404 (2.3 and older) has no such shim: its gRPC states
    are its own, and the check is not made again.
    """

    name = "grpc"

    def __init__(
        self,
        server: str,
        *,
        token: str = "",
        db_name: str = "",
        timeout: float = 30.0,
        rest: RestProtocol | None = None,
    ) -> None:
        self.server = server
        self._token = token
        self.db_name = db_name
        self.timeout = timeout
        self.rest = rest
        #: False once GetImportState answered id 0 for a real task: Milvus 2.4+'s shim, whose list says id 0.
        self.lists_job_ids: bool | None = None

    def __repr__(self) -> str:
        return f"GrpcProtocol({self.server!r}, db_name={self.db_name!r})"

    def request(self, method: str, message: Any, *, db_name: str = "", job_id: str | None = None) -> GrpcRequest:
        """One unary call with this server's metadata and deadline."""
        return GrpcRequest(
            method=method,
            body=message.SerializeToString(),
            metadata=metadata(self._token, db_name or self.db_name),
            timeout=self.timeout,
            server=self.server,
            job_id=job_id,
        )

    def start_import(
        self,
        collection_name: str,
        files: Any,
        partition_name: str | None = None,
        db_name: str | None = None,
        options: Mapping[str, str] | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> GrpcOperation[str]:
        """``Import``: one unit of files (one JSON/Parquet file or the NumPy files of a batch); returns tasks[0].

        ``idempotency_key`` is ``ImportRequest`` field 9 (2.6.24+ and 3.0.2+ answer the first job for it).
        """
        args = ImportArgs.check(collection_name, files, partition_name, db_name, options, default_db=self.db_name)
        try:
            key = "" if idempotency_key is None else check_key(idempotency_key)
        except ValueError as error:
            raise exc.MilvusImportConfigError(str(error)) from None
        if len(args.units) != 1:
            raise exc.MilvusImportConfigError(
                f"gRPC Import takes one unit of files per job, got {len(args.units)}: start one import per unit, "
                "or use a Milvus 2.4+ server over REST (protocol 'rest') to import several units as one job"
            )
        collection = args.collection_name
        message = pb.ImportRequest(
            collection_name=collection,
            partition_name=args.partition_name,
            files=args.units[0],
            options=[pb.KeyValuePair(key=k, value=v) for k, v in args.options.items()],
            db_name=args.db_name,
            idempotency_key=key,
        )
        response = yield self.request(IMPORT, message, db_name=args.db_name)
        assert isinstance(response, GrpcResponse)
        what = f"starting an import into {collection!r}"
        answer = _decode(pb.ImportResponse(), response, what=what, server=self.server, job_id=None)
        if not answer.tasks:
            raise errors.invalid_answer(what, "the server returned no task id", server=self.server, job_id=None)
        return str(answer.tasks[0])

    def server_version(self) -> GrpcOperation[str]:
        """``GetVersion`` (e.g. ``v2.6.24``); "" when the server cannot say (an error, or no such call)."""
        response = yield self.request(GET_VERSION, pb.GetVersionRequest())
        assert isinstance(response, GrpcResponse)
        if response.code != "OK":
            return ""
        try:
            answer = pb.GetVersionResponse.FromString(response.body)
        except DecodeError:
            return ""
        if answer.status.code or answer.status.error_code:
            return ""
        return str(answer.version)

    def get_import_state(self, job_id: str, db_name: str | None = None) -> CheckedOperation[BulkInsertState]:
        """``GetImportState`` of one task (task ids are unique across databases); the requested id is kept.

        An ImportFailed without a reason is confirmed over REST first (see the class docstring).
        """
        job = check_numeric_job_id(job_id, "Milvus gRPC")
        what = "reading the import task's state"
        message = pb.GetImportStateRequest(task=int(job))
        response = yield self.request(GET_IMPORT_STATE, message, db_name=db_name or "", job_id=job)
        assert isinstance(response, GrpcResponse)
        answer = _decode(pb.GetImportStateResponse(), response, what=what, server=self.server, job_id=job)
        if self.lists_job_ids is None:
            self.lists_job_ids = answer.id != 0
        state = parse_state(answer, task_id=job, what=what, server=self.server)
        if state.state != FAILED or state.failed_reason or self.rest is None:
            return state
        try:
            checked: BulkInsertState = yield from self.rest.get_import_state(job, db_name)
        except exc.MilvusImportRouteNotFoundError:
            self.rest = None  # no REST v2 jobs behind this server (before 2.4): its ImportFailed is its own
            return state
        return checked

    def commit_import(self, job_id: str, db_name: str | None = None) -> CheckedOperation[None]:
        """Two-phase imports have no legacy gRPC call: commit over the same server's REST v2 API."""
        return (yield from self._two_phase().commit_import(job_id, db_name))

    def abort_import(self, job_id: str, db_name: str | None = None) -> CheckedOperation[None]:
        """Abort over the same server's REST v2 API (no legacy gRPC call exists)."""
        return (yield from self._two_phase().abort_import(job_id, db_name))

    def supports_two_phase(self) -> CheckedOperation[bool]:
        """Whether the server has two-phase imports (asked over its REST v2 API)."""
        if self.rest is None:
            return False
        return (yield from self.rest.supports_two_phase())

    def _two_phase(self) -> RestProtocol:
        if self.rest is None:
            raise exc.MilvusImportRouteNotFoundError(
                f"{NO_TWO_PHASE}: this server has no REST v2 API to commit or abort with", server=self.server
            )
        return self.rest

    def list_import_states(
        self, collection_name: str | None = None, db_name: str | None = None
    ) -> GrpcOperation[list[BulkInsertState]]:
        """``ListImportTasks``, all of them (limit 0), optionally of one collection."""
        return (yield from self.list_jobs(collection_name, db_name)).states

    def list_jobs(
        self,
        collection_name: str | None = None,
        db_name: str | None = None,
        budget: ListBudget = UNBOUNDED,
    ) -> GrpcOperation[Listing]:
        """``ListImportTasks`` with its cost; an answer past ``budget.max_bytes`` is not parsed (incomplete Listing).

        gRPC cannot stop a message half-way: the bytes are spent, the parse is saved.
        """
        collection = check_name(collection_name, "collection_name", required=False)
        db = check_name(db_name, "db_name", required=False) or self.db_name
        message = pb.ListImportTasksRequest(collection_name=collection, limit=0, db_name=db)
        response = yield self.request(LIST_IMPORT_TASKS, message, db_name=db)
        assert isinstance(response, GrpcResponse)
        max_bytes = budget.max_bytes
        if max_bytes is not None and response.code == "OK" and len(response.body) > max_bytes:
            return Listing(complete=False, bytes=len(response.body))
        what = "listing import tasks"
        answer = _decode(pb.ListImportTasksResponse(), response, what=what, server=self.server, job_id=None)
        states = [parse_state(task, task_id=None, what=what, server=self.server) for task in answer.tasks]
        return Listing(states, bytes=len(response.body), total=len(states))
