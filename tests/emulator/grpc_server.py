"""Emulator of Milvus 2.4+'s legacy gRPC import calls, a thin shim over the REST emulator's v2 jobs.

Spec section 6, "Legacy gRPC on 2.4 and later": ``Import`` returns one task id equal to the v2 job id;
``GetImportState`` answers id 0, collection_id 0, no segment ids and no id list, ``infos`` with only
``failed_reason`` and ``progress_percent``, ``row_count`` the imported rows, ``create_ts`` the creation
time, and the collapsed states (Pending 0, Importing 2, Completed 6, Failed 1); any other job state
(None, Uncommitted, Committing) is ImportFailed with an EMPTY failed_reason. ``ListImportTasks`` ignores
``limit`` and answers every entry with id 0, row_count 0 and create_ts 0. Several JSON / Parquet / CSV
files in one call are refused; several ``.npy`` files form one unit.

:class:`MilvusEndpoint` serves both APIs on ONE port, as a real 2.4+ server does (cmux): a tiny TCP
multiplexer sends HTTP/2 connections (gRPC) to a grpcio server and HTTP/1.1 ones to the REST emulator,
and both read the same job store, so a job started over gRPC is read over REST with the same id.

Over an emulator without REST v2 (the ``2.3`` profile) the same class answers as Milvus 2.3 does (section 7):
real task ids, ``infos`` with collection, partition, files, failed_reason and progress_percent, a list whose
entries are whole states, and, for a task forgotten after its retention, code 1000 "key not found".
"""

from __future__ import annotations

import base64
import contextlib
import socket
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc

from airflow_provider_milvus.proto import milvus_import_pb2 as pb
from tests.emulator.server import ImportEmulator

__all__ = ["LegacyGrpcEmulator", "MilvusEndpoint", "PortMux", "serve_unary"]

SERVICE = "milvus.proto.milvus.MilvusService"
#: v2 job states the shim can say in the legacy enum; anything else is ImportFailed with no reason.
COLLAPSED = {"Pending": pb.ImportPending, "Importing": pb.ImportStarted, "Completed": pb.ImportCompleted}
_ONE_FILE_SUFFIXES = (".json", ".parquet", ".csv")


Unary = Callable[[bytes, grpc.ServicerContext], bytes]


def serve_unary(methods: dict[str, Unary], port: int = 0) -> tuple[grpc.Server, int]:
    """A started grpcio server on 127.0.0.1 answering ``MilvusService`` methods with raw-bytes handlers."""
    server = grpc.server(ThreadPoolExecutor(max_workers=8))
    handlers = {name: grpc.unary_unary_rpc_method_handler(fn) for name, fn in methods.items()}
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    bound = server.add_insecure_port(f"127.0.0.1:{port}")
    if port and bound != port:
        raise RuntimeError(f"could not bind 127.0.0.1:{port}")
    server.start()
    return server, bound


def _status(code: int = 0, reason: str = "") -> pb.Status:
    """A ``common.Status``; errors set both the new code and the deprecated error_code (UnexpectedError 1)."""
    return pb.Status(code=code, reason=reason, error_code=1 if code else 0)


class LegacyGrpcEmulator:
    """``Import`` / ``GetImportState`` / ``ListImportTasks`` of Milvus 2.4+ over the jobs of ``rest``."""

    def __init__(self, rest: ImportEmulator) -> None:
        if rest.mode != "rest":
            raise ValueError("the legacy gRPC shim sits over a self-hosted Milvus (mode 'rest')")
        self.rest = rest
        self.port = 0
        self.calls: list[str] = []
        #: ``Import`` calls still to answer UNAVAILABLE after starting the job (a lost answer).
        self.lose_import_answers = 0
        self._server: grpc.Server | None = None

    def start(self) -> LegacyGrpcEmulator:
        """Listen on an ephemeral port of 127.0.0.1."""
        methods: dict[str, Callable[[bytes, grpc.ServicerContext], bytes]] = {
            "Import": self._import,
            "GetImportState": self._get_import_state,
            "ListImportTasks": self._list_import_tasks,
            "GetVersion": self._get_version,
        }
        self._server, self.port = serve_unary({name: self._recorded(name, fn) for name, fn in methods.items()})
        return self

    def stop(self) -> None:
        """Stop at once."""
        if self._server is not None:
            self._server.stop(grace=None).wait(5)
            self._server = None

    def count(self, name: str) -> int:
        """Calls of ``name`` so far."""
        return self.calls.count(name)

    def _recorded(
        self, name: str, method: Callable[[bytes, grpc.ServicerContext], bytes]
    ) -> Callable[[bytes, grpc.ServicerContext], bytes]:
        def handle(request: bytes, context: grpc.ServicerContext) -> bytes:
            self.calls.append(name)
            self._check_auth(context)
            return method(request, context)

        return handle

    def _check_auth(self, context: grpc.ServicerContext) -> None:
        """UNAUTHENTICATED unless ``authorization`` is base64 of the emulator's token (when it has one)."""
        token = self.rest.token
        if token is None:
            return
        metadata = dict(context.invocation_metadata())
        try:
            given = base64.b64decode(str(metadata.get("authorization", ""))).decode()
        except ValueError:
            given = ""
        if given != token:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "auth check failure, please check username and password")

    @staticmethod
    def _db(context: grpc.ServicerContext, db_name: str = "") -> str:
        return db_name or str(dict(context.invocation_metadata()).get("dbname") or "") or "default"

    def _import(self, raw: bytes, context: grpc.ServicerContext) -> bytes:
        request = pb.ImportRequest.FromString(raw)
        files = list(request.files)
        if not files:
            return pb.ImportResponse(status=_status(1100, "import request is empty")).SerializeToString()
        if len(files) > 1 and any(f.lower().endswith(_ONE_FILE_SUFFIXES) for f in files):
            reason = "for JSON import, accepts only one file: importing data failed"
            return pb.ImportResponse(status=_status(2100, reason)).SerializeToString()
        db_name = self._db(context, request.db_name)
        rest = self.rest
        with rest._lock:
            refusal = rest._collection_error(db_name, request.collection_name) or rest._limits_error([files])
            if refusal is not None:
                said = refusal.payload
                return pb.ImportResponse(status=_status(said["code"], said["message"])).SerializeToString()
            job_id = rest.keyed_create(
                db_name,
                request.collection_name,
                request.idempotency_key,
                lambda: rest.create_job(
                    request.collection_name,
                    [files],
                    db_name=db_name,
                    partition_name=request.partition_name,
                    options={kv.key: kv.value for kv in request.options},
                ),
            )
            lost, self.lose_import_answers = self.lose_import_answers > 0, max(0, self.lose_import_answers - 1)
        if lost:  # the job runs; the client hears only that the call broke
            context.abort(grpc.StatusCode.UNAVAILABLE, "Socket closed")
        return pb.ImportResponse(status=_status(), tasks=[int(job_id)]).SerializeToString()

    def _get_version(self, raw: bytes, context: grpc.ServicerContext) -> bytes:
        """``GetVersion``: the profile's release (e.g. ``v2.6.24``)."""
        return pb.GetVersionResponse(status=_status(), version=self.rest.server_version).SerializeToString()

    @property
    def native(self) -> bool:
        """True for Milvus 2.3 (no REST v2): gRPC import calls of its own, not a shim over v2 jobs."""
        return not self.rest.rest_v2

    def _not_found(self, task: int) -> pb.Status:
        """A forgotten or unknown task: 2.3's etcd miss, or the v2 not-found answer of the release."""
        if self.native:
            return _status(1000, f"key not found[key=by-dev/meta/root-coord/importtask/{task}]")
        said = self.rest._job_not_found(task).payload
        return _status(said["code"], said["message"])

    def _native_state(self, job_id: str, data: dict[str, Any], created: float) -> pb.GetImportStateResponse:
        """A job as Milvus 2.3 reports it, in its answer and in its list alike."""
        word = data["state"]
        infos = {
            "collection": data["collectionName"],
            "partition": "_default",
            "files": ",".join(d["fileName"].strip("[]") for d in data.get("details", [])),
            "failed_reason": str(data.get("reason") or "") if word == "Failed" else "",
            "progress_percent": str(data["progress"]),
        }
        return pb.GetImportStateResponse(
            status=_status(),
            state=COLLAPSED.get(word, pb.ImportFailed),
            row_count=int(data["importedRows"]),
            infos=[pb.KeyValuePair(key=k, value=v) for k, v in infos.items()],
            id=int(job_id),
            create_ts=int(created),
        )

    def _state(self, job: Any, now: float, *, listed: bool) -> pb.GetImportStateResponse:
        data = self.rest._progress(job, now)
        if self.native:
            return self._native_state(job.job_id, data, job.created)
        return self._legacy_state(data, listed=listed, created=job.created)

    def _legacy_state(self, data: dict[str, Any], *, listed: bool, created: float) -> pb.GetImportStateResponse:
        """A v2 job's progress as the shim reports it (collapsed state, two infos, id 0)."""
        word = data["state"]
        state = COLLAPSED.get(word, pb.ImportFailed)
        reason = str(data.get("reason") or "") if word == "Failed" else ""
        infos = {"failed_reason": reason, "progress_percent": str(data["progress"])}
        return pb.GetImportStateResponse(
            status=_status(),
            state=state,
            row_count=0 if listed else int(data["importedRows"]),
            infos=[pb.KeyValuePair(key=k, value=v) for k, v in infos.items()],
            id=0,
            create_ts=0 if listed else int(created),
        )

    def _get_import_state(self, raw: bytes, context: grpc.ServicerContext) -> bytes:
        request = pb.GetImportStateRequest.FromString(raw)
        rest = self.rest
        with rest._lock:
            now = rest.clock.now()
            job = rest._jobs.get(str(request.task))
            if job is None or not rest._alive(job, now):
                return pb.GetImportStateResponse(status=self._not_found(request.task)).SerializeToString()
            answer = self._state(job, now, listed=False)
        return answer.SerializeToString()

    def _list_import_tasks(self, raw: bytes, context: grpc.ServicerContext) -> bytes:
        request = pb.ListImportTasksRequest.FromString(raw)  # ``limit`` is ignored, as on 2.4+
        db_name = self._db(context, request.db_name)
        rest = self.rest
        with rest._lock:
            now = rest.clock.now()
            tasks = [
                self._state(job, now, listed=True)
                for job in rest._jobs.values()
                if rest._alive(job, now)
                and job.db_name == db_name
                and (not request.collection_name or job.collection_name == request.collection_name)
            ]
        return pb.ListImportTasksResponse(status=_status(), tasks=tasks).SerializeToString()


class PortMux:
    """One listening port in front of two backends: HTTP/2 (gRPC) to one, anything else (HTTP/1.1) to the other."""

    def __init__(self, http_port: int, grpc_port: int) -> None:
        self.http_port, self.grpc_port = http_port, grpc_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._closing = threading.Event()
        self._threads: list[threading.Thread] = []
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()

    def start(self) -> PortMux:
        """Accept in a background thread."""
        thread = threading.Thread(target=self._accept, name=f"port-mux-{self.port}", daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def stop(self) -> None:
        """Close the port and every open connection."""
        self._closing.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            conns = list(self._open)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                conn.close()

    def _accept(self) -> None:
        self._listener.settimeout(0.2)
        while not self._closing.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._route, args=(client,), daemon=True).start()

    def _track(self, *conns: socket.socket) -> None:
        with self._lock:
            self._open.update(conns)

    def _route(self, client: socket.socket) -> None:
        """Peek at the first bytes (the HTTP/2 preface starts ``PRI``), connect the backend and pump both ways."""
        self._track(client)
        try:
            client.settimeout(10)
            head = b""
            while len(head) < 3:
                head = client.recv(3, socket.MSG_PEEK)
                if not head:
                    raise OSError("closed before the first bytes")
                if len(head) < 3:
                    threading.Event().wait(0.005)
            client.settimeout(None)
            port = self.grpc_port if head.startswith(b"PRI") else self.http_port
            backend = socket.create_connection(("127.0.0.1", port), timeout=5)
            backend.settimeout(None)
        except OSError:
            with contextlib.suppress(OSError):
                client.close()
            return
        self._track(backend)
        back = threading.Thread(target=self._pump, args=(backend, client), daemon=True)
        back.start()
        self._pump(client, backend)
        back.join()
        for conn in (client, backend):
            with contextlib.suppress(OSError):
                conn.close()
            with self._lock:
                self._open.discard(conn)

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)


class MilvusEndpoint:
    """A self-hosted Milvus 2.4+ of one release profile: REST v2 and legacy gRPC on one port, one job store."""

    def __init__(self, profile: str, **knobs: Any) -> None:
        self.rest = ImportEmulator.for_profile(profile, **knobs)
        if self.rest.mode != "rest":
            raise ValueError(f"profile {profile!r} is not a self-hosted Milvus")
        self.grpc = LegacyGrpcEmulator(self.rest)
        self.mux: PortMux | None = None

    def start(self) -> MilvusEndpoint:
        """Start REST, gRPC and the shared port."""
        self.rest.start()
        self.grpc.start()
        self.mux = PortMux(self.rest.port, self.grpc.port).start()
        return self

    def stop(self) -> None:
        """Stop all three."""
        if self.mux is not None:
            self.mux.stop()
            self.mux = None
        self.grpc.stop()
        self.rest.stop()

    @property
    def port(self) -> int:
        """The one port both APIs answer on."""
        if self.mux is None:
            raise RuntimeError("the endpoint has not been started yet")
        return self.mux.port

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` (REST v2 and, over HTTP/2, gRPC)."""
        return f"http://127.0.0.1:{self.port}"
