"""A scripted stand-in for Milvus's gRPC import calls, on 127.0.0.1, for faults no real server shows on demand.

Each call takes the next scripted answer of its method (a message, a gRPC status to abort with, raw
bytes, or a pause first), and falls back to ``default`` (the current state of one job) when the
script is empty. The metadata of every call is recorded.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc

from airflow_provider_milvus.proto import milvus_import_pb2 as pb
from tests.emulator.grpc_server import serve_unary

SERVICE = "milvus.proto.milvus.MilvusService"


@dataclass(frozen=True)
class Abort:
    """End the call with this gRPC status."""

    code: grpc.StatusCode
    details: str = ""


@dataclass(frozen=True)
class Raw:
    """Answer these bytes as they are (not necessarily a valid message)."""

    body: bytes


@dataclass(frozen=True)
class Slow:
    """Sleep, then answer ``then``."""

    seconds: float
    then: Any = None


def state(
    code: int, *, progress: int | None = None, rows: int = 0, reason: str = "", task: int = 0, **infos: str
) -> pb.GetImportStateResponse:
    """A GetImportStateResponse the way Milvus 2.3 fills it."""
    kv = dict(infos)
    if progress is not None:
        kv["progress_percent"] = str(progress)
    if reason:
        kv["failed_reason"] = reason
    return pb.GetImportStateResponse(
        status=pb.Status(),
        state=code,  # type: ignore[arg-type]
        row_count=rows,
        id=task,
        infos=[pb.KeyValuePair(key=k, value=v) for k, v in kv.items()],
        create_ts=int(time.time()),
    )


class FakeMilvusGrpc:
    """Serves GetImportState / ListImportTasks / Import from scripts (every scripted answer counts as a fault).

    ``list_supported=False``: ListImportTasks answers UNIMPLEMENTED (the trigger then reads job by job).
    """

    def __init__(self, job_id: int = 448761313698322011, *, list_supported: bool = True) -> None:
        self.job_id = job_id
        self.list_supported = list_supported
        #: True: the list answers no tasks (the job is read with GetImportState).
        self.list_empty = False
        self.current: pb.GetImportStateResponse = state(2, progress=50, rows=500, task=job_id)
        self.scripts: dict[str, deque[Any]] = {"GetImportState": deque(), "ListImportTasks": deque(), "Import": deque()}
        self.calls: list[tuple[str, bytes, dict[str, str]]] = []
        self.faults_served = 0
        self._lock = threading.Lock()
        self._server: grpc.Server | None = None
        self.port = 0

    @property
    def target(self) -> str:
        """``127.0.0.1:PORT``."""
        return f"127.0.0.1:{self.port}"

    def start(self, port: int = 0) -> FakeMilvusGrpc:
        """Listen on ``port`` (0: an ephemeral one)."""
        methods = {name: self._handler(name) for name in ("GetImportState", "ListImportTasks", "Import")}
        self._server, self.port = serve_unary(methods, port)
        return self

    def stop(self) -> None:
        """Stop at once."""
        if self._server is not None:
            self._server.stop(grace=None).wait(5)
            self._server = None

    def script(self, method: str, *answers: Any) -> None:
        """Queue answers for the next calls of ``method``."""
        with self._lock:
            self.scripts[method].extend(answers)

    def pending(self, method: str | None = None) -> int:
        """Scripted answers not yet used."""
        with self._lock:
            if method is not None:
                return len(self.scripts[method])
            return sum(len(q) for q in self.scripts.values())

    def _default(self, name: str) -> Any:
        if name == "GetImportState":
            return self.current
        if name == "ListImportTasks":
            if not self.list_supported:
                return Abort(grpc.StatusCode.UNIMPLEMENTED, "unknown method ListImportTasks")
            if self.list_empty:
                return pb.ListImportTasksResponse(status=pb.Status())
            task = pb.GetImportStateResponse()
            task.CopyFrom(self.current)
            task.id = self.job_id
            return pb.ListImportTasksResponse(status=pb.Status(), tasks=[task])
        return pb.ImportResponse(status=pb.Status(), tasks=[self.job_id])

    def _handler(self, name: str) -> Callable[[bytes, grpc.ServicerContext], bytes]:
        def handle(request: bytes, context: grpc.ServicerContext) -> bytes:
            with self._lock:
                self.calls.append((name, request, {k: v for k, v in context.invocation_metadata()}))
                scripted = bool(self.scripts[name])
                answer = self.scripts[name].popleft() if scripted else self._default(name)
                self.faults_served += int(scripted)
            return self._answer(name, answer, context)

        return handle

    def _answer(self, name: str, answer: Any, context: grpc.ServicerContext) -> bytes:
        if isinstance(answer, Slow):
            time.sleep(answer.seconds)
            return self._answer(name, answer.then if answer.then is not None else self._default(name), context)
        if isinstance(answer, Abort):
            context.abort(answer.code, answer.details)
        if isinstance(answer, Raw):
            return answer.body
        return bytes(answer.SerializeToString())

    def count(self, name: str) -> int:
        """Calls of ``name`` received so far."""
        with self._lock:
            return sum(1 for call in self.calls if call[0] == name)
