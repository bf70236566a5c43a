"""Emulator of the Milvus RESTful API v2 import routes and of the Zilliz Cloud control-plane import routes.

Neither Milvus 2.4+ nor Zilliz Cloud runs on the test machine, so :class:`ImportEmulator` serves the
same wire format (shared/spec/milvus-import-apis.md sections 3 and 4) from a stdlib
``ThreadingHTTPServer`` on 127.0.0.1, over real sockets, optionally with TLS.

Modes
-----
``mode="rest"`` (self-hosted Milvus 2.4+, spec section 3): POST ``/v2/vectordb/jobs/import/create``,
``/describe``, ``/get_progress`` and ``/list``. ``mode="cloud"`` (Zilliz control plane, spec section 4):
POST ``/v2/vectordb/jobs/import/create``, ``/getProgress`` and ``/list``.

Constructor knobs and the fact each one emulates
------------------------------------------------
- ``host`` / ``port``: listen address; port 0 picks an ephemeral port (see ``base_url``).
- ``certfile`` / ``keyfile``: serve HTTPS (the Zilliz endpoints and TLS-enabled Milvus are https).
- ``token``: REST: the expected ``Authorization: Bearer <token>`` (``user:password`` or API key); missing or
  wrong gives HTTP 401 ``{"code": 1800, "message": "user hasn't authenticated"}`` (merr.ErrNeedAuthenticate).
  Cloud: the expected API key; missing or wrong gives ``{"code": 21119, "message": "The apikey is illegal."}``
  with HTTP status ``cloud_auth_status`` (default 200: the spec says errors come back as HTTP 200; UNVERIFIED).
- ``forbidden``: REST: HTTP 403 ``{"code": 1401, ...}`` (privilege not permitted); cloud: code 96016 ("You
  don't have permission for this cluster. Please check your Apikey scope.", Zilliz v2 error list).
- ``speed``: emulated seconds per real second of the job clock (0 freezes it; tests call ``advance``).
- ``job_duration``: emulated seconds from create to the end of index building: 10 % Pending (progress 0..9),
  70 % Importing with rising rows (progress 10..69, files processed one after another, per-file states
  Pending / InProgress / Completed), 20 % index building (still ``Importing``, progress 70..99).
- ``index_hold``: extra emulated seconds the job sits at Importing 70..99 (index building, milvus issue 39348).
- ``fail_jobs``: every job fails half-way through importing. Independently, a job fails while it processes
  any file whose path contains "fail". A Failed job reports progress 0, importedRows 0, totalRows 0 and a
  ``reason`` (datacoord ``GetJobProgress``); the failing file's detail has state Failed and a reason.
- ``rows_per_file`` / ``bytes_per_row``: totalRows and fileSize of each file (each inner list of ``files``).
- ``retention``: emulated seconds a finished job is kept (``dataCoord.import.taskRetention``, default 10800);
  after that it is unknown: code 2100 "import job does not exist, jobID=..." (2101 where ``not_found_code``
  says). ``retention_from="created"``: counted from the job's creation, whether it ended or not (2.3's
  ``rootCoord.importTaskRetention``, 86400 s). ``clock``: the :class:`EmulatorClock` to run on (tests pass
  one at speed 0 and ``advance`` it: retention without sleeps).
- ``rest_v2=False``: every REST route answers 404 (Milvus 2.3: no ``/v2/vectordb``; its gRPC is served by
  ``tests/emulator/grpc_server.py``). ``restart_fails_running``: ``restart()`` fails every started, unfinished
  job "task marked failed as service restarted" (2.3); otherwise jobs resume, in-flight ones from Pending.
- ``latency``: real seconds every answer is delayed. If a ``Request-Timeout: <seconds>`` header is smaller,
  the answer is HTTP 408 ``{"code": 10001, "message": "request timeout"}`` after that many seconds
  (Milvus timeout middleware; the emulator also accepts fractional seconds so tests stay fast).
- ``describe_routed=False``: ``/describe`` answers 404 (an older 2.4 build that only routes ``/get_progress``).
- ``legacy_quirks=True``: success answers use ``"code": 200`` and spell ``jobID`` (early 2.4 builds,
  milvus PR 31192 renamed jobID to jobId).
- ``create_time``: include ``createTime`` in progress data (newer servers).
- ``strict_db``: describe/get_progress with a ``DB-Name`` header other than the job's database gives 2100.
- ``collections``: if set, creating into (or listing) another collection gives code 100
  "collection not found[database=...][collection=...]".
- ``max_jobs`` / ``max_files``: at most 1024 pending plus executing jobs and 1024 files per request (2100).
- ``timezone``: zone of ``createTime`` / ``completeTime`` (RFC 3339, "Z" for UTC; servers use local time).
- ``legacy_shape=True`` (cloud): getProgress answers the older shape of the seed
  zilliz-cloud-get_import_progress.txt: ``readyPercentage`` 0..1, ``errorMessage``, ``fileName``, no ``state``;
  every success answer then uses ``"code": 200``.
- ``cluster_ids`` (cloud): known cluster ids (None accepts any). Unknown: code 96018 "Cluster not found. ...";
  empty: 96025 "Empty clusterId. ..."; unknown job: 96026 "Job not found. ..." (Zilliz v2 error list);
  another missing parameter: 80000 "Incorrect parameter: ..." (Zilliz v1 error list; UNVERIFIED for import).
  ``pageSize`` outside 1..100: 96008; ``currentPage`` < 1: 96009.
- ``cloud_describe_routed`` (cloud): also route ``/describe`` (UNVERIFIED in the spec; default off, 404).
- ``cloud_job_id_length``: length of the lowercase alphanumeric part of ``job-...`` ids (the seed's example
  has 22 characters; default 20).
- ``rate_limit``: requests per second per API key per endpoint ("auto": 20 in cloud mode, spec section 4;
  off in REST mode). Over the limit: ``rate_limit_status`` / ``rate_limit_code`` / ``rate_limit_message`` /
  ``rate_limit_retry_after``; defaults: cloud HTTP 429 ``{"code": 429, ...}`` (UNVERIFIED), REST HTTP 200
  ``{"code": 1807, "message": "request is rejected by limiter"}`` (merr.ErrHTTPRateLimit).

Release profiles (spec section 6; tests/emulator/profiles.py): ``ImportEmulator.for_profile("2.5", **knobs)``
sets the knobs below as that release behaves; explicit knobs still win.

- ``file_name_format``: ``"slice"`` (2.5+: ``[a/1.npy b/2.npy]``) or ``"protobuf"`` (2.4: ``id:.. paths:"a" ``).
- ``progress_bands``: ``"classic"`` (index building 70..99) or ``"v2"`` (section 6: Pending 0..10, pre-import
  and import 10..70, sort 70..80, index building 80..90).
- ``not_found_code``: 2100 (up to 2.6.18) or 2101 (later 2.6, 3.0: "importing data failed on server side").
- ``invalid_id_code``: a non-numeric jobId: 2100 (2.5) or 1100 (late 2.6, 3.0; invalid parameter).
- ``job_limit_code``: "The number of jobs has reached the limit, please try again later": 2100 or 2101 (2.6).
- ``file_retry``: per-file state ``Retry`` (2.6+) while a file whose path contains "retry" is retried.
- ``two_phase`` (3.0): option ``auto_commit`` "false" stops the job at ``Uncommitted`` (progress 99) until
  POST ``/commit``, then ``Committing`` for ``commit_duration`` emulated seconds, then ``Completed``; POST
  ``/abort`` abandons a job (then Failed, reason "import job aborted"; the emulator's choice, UNVERIFIED).
  Without it both routes answer 404.
- ``cloud_get_progress_routed`` (cloud): route ``/getProgress`` (default on); with ``cloud_describe_routed``
  the cloud serves getProgress, describe or both.
- ``idempotency`` (2.6.24+, 3.0.2+; spec section 7, reported): a ``create`` whose ``Idempotency-Key`` header
  (gRPC: ``ImportRequest.idempotency_key``) the server saw for the same collection within
  ``IDEMPOTENCY_TTL`` emulated seconds answers the first job's id and starts nothing. Off: the key is ignored.
- ``server_version``: what gRPC ``GetVersion`` answers (``tests/emulator/grpc_server.py``).

A lost answer (the server starts the job, the client never hears):
``inject_close(route="/v2/vectordb/jobs/import/create", process=True)``.

Other errors, as in the spec: unknown routes and non-POST methods answer HTTP 404 ``404 page not found``
(text/plain, gin's default); a malformed body gives 1801 "can only accept json format request, error: ..."
and a missing required field 1802 "missing required parameters, error: ..." (both HTTP 200). Job ids are
int64 decimal strings above 2**53 (REST) or ``job-<alnum>`` (cloud).

Test controls
-------------
``advance(seconds)``, ``clock``, ``set_job(...)``, ``finish_job``, ``fail_job``, ``expire_job``,
``script_next_job(...)``, ``create_job(...)``, ``job(job_id)``, ``commit_job`` (3.0 profile), ``add_history(n)``
(finished jobs of a busy server, spread over the retention window), ``restart()``; observability:
``requests``, ``request_count(route)``, ``rate_limited_count(route)``, ``open_connections``,
``max_concurrent_connections``, ``max_concurrent_requests``, ``reset()``; faults: ``inject_status``,
``inject_reset``, ``inject_close``, ``inject_slow``, ``inject_hold`` (until ``fault.release()``: concurrency
made exact), ``inject_garbage``, ``inject_oversized``, ``clear_faults``; ``rate_clock`` (the rate window's
time source, ``time.monotonic``; a test may freeze it); availability: ``stop()`` / ``start()`` on the same
port keeping the jobs, ``pause(hang=...)`` / ``resume()``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import http.server
import ipaddress
import json
import os
import re
import secrets
import socket
import socketserver
import ssl
import string
import struct
import sys
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_CLUSTER_ID",
    "GARBAGE_KINDS",
    "IMPORT_PREFIX",
    "Fault",
    "ImportEmulator",
    "RecordedRequest",
    "make_self_signed_cert",
]

IMPORT_PREFIX = "/v2/vectordb/jobs/import"
DEFAULT_CLUSTER_ID = "in03-0123456789abcde"
DEFAULT_API_KEY = "emulator-api-key"
#: Emulated seconds a server that honours idempotency keys remembers one ("about 24 hours", spec section 7).
IDEMPOTENCY_TTL = 86_400.0
#: Longest an ``inject_hold`` fault holds a request when the test never releases it (seconds).
HOLD_LIMIT = 120.0

JSON_CONTENT_TYPE = "application/json; charset=utf-8"

# Milvus merr codes (pkg/util/merr/errors.go).
CODE_COLLECTION_NOT_FOUND = 100
CODE_PRIVILEGE_NOT_PERMITTED = 1401
CODE_NEED_AUTHENTICATE = 1800
CODE_INCORRECT_PARAMETER_FORMAT = 1801
CODE_MISSING_REQUIRED_PARAMETERS = 1802
CODE_HTTP_RATE_LIMIT = 1807
CODE_IMPORT_FAILED = 2100
CODE_IMPORT_SYS_FAILED = 2101
CODE_PARAMETER_INVALID = 1100
CODE_TIMEOUT = 10001

# Zilliz Cloud codes (spec section 4; Zilliz RESTful error code lists).
CLOUD_CODE_INCORRECT_PARAMETER = 80000
CLOUD_CODE_PAGE_SIZE = 96008
CLOUD_CODE_CURRENT_PAGE = 96009
CLOUD_CODE_NO_PERMISSION = 96016
CLOUD_CODE_CLUSTER_NOT_FOUND = 96018
CLOUD_CODE_EMPTY_CLUSTER_ID = 96025
CLOUD_CODE_JOB_NOT_FOUND = 96026
CLOUD_CODE_APIKEY_ILLEGAL = 21119

GARBAGE_KINDS = (
    "html_200",
    "empty",
    "truncated_json",
    "json_array",
    "no_data",
    "null_data",
    "wrong_types",
    "code_as_string",
    "unknown_state",
    "progress_150",
    "float_job_id",
)

_HTML_REASONS = {
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Temporarily Unavailable",
    504: "Gateway Time-out",
}

_TERMINAL_STATES = frozenset({"Completed", "Failed"})
_INT64 = re.compile(r"-?[0-9]{1,19}")


def _html_page(status: int) -> bytes:
    """Return an nginx-style error page for ``status``."""
    reason = _HTML_REASONS.get(status) or http.HTTPStatus(status).phrase
    return (
        f"<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
        f"<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    ).encode()


def _canonical_route(route: str) -> str:
    """Expand a short route name ("describe") to its full path; full paths pass through."""
    return route if route.startswith("/") else f"{IMPORT_PREFIX}/{route}"


@dataclass
class RecordedRequest:
    """One request as the emulator received it, raw headers included."""

    method: str
    path: str
    route: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    time: float
    client: tuple[str, int]
    fault: str | None = None
    status: int | None = None

    def header(self, name: str) -> str | None:
        """Return the first value of header ``name`` (case-insensitive), or None."""
        lowered = name.lower()
        return next((value for key, value in self.headers if key.lower() == lowered), None)

    @property
    def safe_headers(self) -> dict[str, str]:
        """Headers with the Authorization value redacted, for logs."""
        return {key: ("<redacted>" if key.lower() == "authorization" else value) for key, value in self.headers}

    @property
    def json(self) -> Any:
        """The body parsed as JSON, or None if it is not JSON."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None


@dataclass
class Fault:
    """A fault applied to the next ``count`` requests matching ``route`` (None: any route)."""

    kind: Literal["status", "reset", "close", "slow", "garbage", "oversized"]
    route: str | None = None
    count: int = 1
    status: int = 502
    body: bytes | None = None
    content_type: str = "text/html"
    headers: tuple[tuple[str, str], ...] = ()
    seconds: float = 0.0
    partial: Literal["none", "headers", "body"] = "headers"
    garbage: str = ""
    size: int = 0
    process: bool = False
    applied: int = 0
    hold: threading.Event | None = None

    def release(self) -> None:
        """Let the requests held by an ``inject_hold`` fault go on (the held ones and any later)."""
        if self.hold is not None:
            self.hold.set()

    def matches(self, route: str) -> bool:
        """Return True if this fault applies to ``route``."""
        return self.route is None or _canonical_route(self.route) == route


@dataclass
class _Reply:
    """An HTTP answer before it is written."""

    status: int
    body: bytes
    content_type: str = JSON_CONTENT_TYPE
    headers: list[tuple[str, str]] = field(default_factory=list)
    payload: Any = None


def _json_reply(payload: Any, status: int = 200, headers: Iterable[tuple[str, str]] = ()) -> _Reply:
    """Build a JSON answer (compact, like gin's c.JSON)."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    return _Reply(status=status, body=body, headers=list(headers), payload=payload)


def _not_found() -> _Reply:
    """Gin's answer for an unknown route."""
    return _Reply(status=404, body=b"404 page not found", content_type="text/plain")


@dataclass
class _Script:
    """Per-job timing and failure settings, from the knobs or ``script_next_job``."""

    duration: float | None = None
    index_hold: float | None = None
    fail_after: float | None = None
    fail_reason: str | None = None
    rows_per_file: int | None = None


@dataclass
class _Job:
    """An emulated import job; its progress is derived from the clock."""

    job_id: str
    cluster_id: str | None
    db_name: str
    collection_name: str
    partition_name: str
    files: list[list[str]]
    options: dict[str, str]
    created: float
    pending: float
    importing: float
    indexing: float
    file_rows: list[int]
    file_sizes: list[int]
    fail_at: float | None = None
    fail_reason: str = ""
    overrides: dict[str, Any] = field(default_factory=dict)
    forced_finish: float | None = None
    expired: bool = False
    duration: float = 0.0
    hold: float = 0.0
    staged: bool = False
    committed_at: float | None = None
    aborted_at: float | None = None
    #: A finished job of the server's history (never changed by tests): its answers are computed once.
    history: bool = False
    answers: dict[bool, dict[str, Any]] = field(default_factory=dict)

    def set_duration(self, duration: float, index_hold: float) -> None:
        """Split ``duration`` into the Pending / Importing / index building phases, plus the index hold."""
        self.duration, self.hold = duration, index_hold
        duration = max(duration, 1e-6)
        self.pending = 0.1 * duration
        self.importing = 0.7 * duration
        self.indexing = 0.2 * duration + max(index_hold, 0.0)

    def file_name(self, index: int, fmt: str = "slice") -> str:
        """Per-file name the way datacoord formats it: Go's %v of the path list (2.5+) or protobuf text (2.4)."""
        if fmt == "protobuf":
            paths = "".join(f'paths:"{path}" ' for path in self.files[index])
            return f"id:{int(self.job_id) + index + 1} {paths}" if self.job_id.isdigit() else paths
        return "[" + " ".join(self.files[index]) + "]"


class EmulatorClock:
    """Monotonic emulated clock in epoch seconds, with a speed factor and manual advance."""

    def __init__(self, speed: float = 1.0) -> None:
        """Start the clock at the current wall time."""
        self._lock = threading.Lock()
        self._speed = speed
        self._anchor_real = time.monotonic()
        self._anchor_emulated = time.time()

    def now(self) -> float:
        """Return the emulated time (epoch seconds)."""
        with self._lock:
            return self._anchor_emulated + (time.monotonic() - self._anchor_real) * self._speed

    @property
    def speed(self) -> float:
        """Emulated seconds per real second."""
        return self._speed

    @speed.setter
    def speed(self, value: float) -> None:
        now = self.now()
        with self._lock:
            self._anchor_real = time.monotonic()
            self._anchor_emulated = now
            self._speed = value

    def advance(self, seconds: float) -> None:
        """Move the emulated time forward by ``seconds``."""
        with self._lock:
            self._anchor_emulated += seconds


class _Server(http.server.ThreadingHTTPServer):
    """Threading HTTP server that knows its emulator and optional TLS context."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], emulator: ImportEmulator, ssl_context: ssl.SSLContext | None) -> None:
        """Bind to ``address`` without the reverse DNS lookup HTTPServer does."""
        self.emulator = emulator
        self.ssl_context = ssl_context
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        """Bind and record the address, skipping ``socket.getfqdn``."""
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Record handler errors instead of printing tracebacks."""
        self.emulator._note_error()


class _Handler(http.server.BaseHTTPRequestHandler):
    """Request handler: records, applies faults, and answers through the emulator."""

    protocol_version = "HTTP/1.1"
    timeout = 60
    server: _Server

    def setup(self) -> None:
        """Do the TLS handshake in this thread, then register the connection."""
        context = self.server.ssl_context
        if context is not None:
            self.request.settimeout(self.timeout)
            self.request = context.wrap_socket(self.request, server_side=True)
        with contextlib.suppress(OSError):
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().setup()
        self.server.emulator._connection_opened(self.request)

    def finish(self) -> None:
        """Unregister and close the connection."""
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.server.emulator._connection_closed(self.request)
            if self.server.ssl_context is not None:
                with contextlib.suppress(OSError):
                    self.request.close()

    def version_string(self) -> str:
        """Server header value."""
        return "milvus-import-emulator"

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet."""

    def do_POST(self) -> None:
        """Serve a POST."""
        self._serve("POST")

    def do_GET(self) -> None:
        """Serve a GET (always 404, like gin for POST-only routes)."""
        self._serve("GET")

    def do_PUT(self) -> None:
        """Serve a PUT (404)."""
        self._serve("PUT")

    def do_DELETE(self) -> None:
        """Serve a DELETE (404)."""
        self._serve("DELETE")

    def do_PATCH(self) -> None:
        """Serve a PATCH (404)."""
        self._serve("PATCH")

    def _read_body(self) -> bytes:
        """Read the request body (Content-Length or chunked)."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        return self.rfile.read(length) if length > 0 else b""

    def _serve(self, method: str) -> None:
        """Record the request, apply a pending fault if any, and answer."""
        emulator = self.server.emulator
        body = self._read_body()
        route = self.path.split("?", 1)[0]
        emulator._request_started()
        try:
            if not emulator._wait_gate():
                self._abort(b"", rst=False)
                return
            fault = emulator._take_fault(route)
            record = emulator._record(method, self.path, route, self.headers, body, self.client_address, fault)
            if fault is not None and fault.kind == "slow":
                emulator._sleep(fault.seconds, fault.hold)
                fault = None
            if fault is not None and fault.kind in ("status", "reset", "close") and not fault.process:
                self._apply_fault(fault, None, record)
                return
            reply = emulator._answer(method, route, self.headers, body)
            if fault is not None:
                self._apply_fault(fault, reply, record)
                return
            record.status = reply.status
            self._send(reply)
        except OSError:
            self.close_connection = True
        finally:
            emulator._request_finished()

    def _apply_fault(self, fault: Fault, reply: _Reply | None, record: RecordedRequest) -> None:
        """Answer (or fail to answer) the way ``fault`` says."""
        if fault.kind == "status":
            body = fault.body if fault.body is not None else _html_page(fault.status)
            record.status = fault.status
            self._send(_Reply(fault.status, body, content_type=fault.content_type, headers=list(fault.headers)))
        elif fault.kind == "close":
            self._abort(b"", rst=False)
        elif fault.kind == "reset":
            self._abort(self._partial_bytes(fault.partial, reply), rst=True)
        elif fault.kind == "garbage":
            assert reply is not None
            garbled = _garble(fault.garbage, reply)
            record.status = garbled.status
            self._send(garbled)
        elif fault.kind == "oversized":
            assert reply is not None
            record.status = reply.status
            self._send_oversized(reply, fault.size)

    def _partial_bytes(self, partial: str, reply: _Reply | None) -> bytes:
        """Bytes written before a reset: none, part of the headers, or headers and half the body."""
        if partial == "none":
            return b""
        if partial == "headers" or reply is None:
            length = len(reply.body) if reply is not None else 1024
            return (
                f"HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: {length}\r\n"
                "Date: Mon, 01 Ja"
            ).encode()
        head = (
            f"HTTP/1.1 {reply.status} {http.HTTPStatus(reply.status).phrase}\r\n"
            f"Content-Type: {reply.content_type}\r\nContent-Length: {len(reply.body)}\r\n\r\n"
        ).encode()
        return head + reply.body[: max(1, len(reply.body) // 2)]

    def _abort(self, prefix: bytes, *, rst: bool) -> None:
        """Write ``prefix`` then close the connection, with a RST (SO_LINGER 0) if ``rst``."""
        self.close_connection = True
        try:
            if prefix:
                self.wfile.write(prefix)
                self.wfile.flush()
                time.sleep(0.05)
            if rst:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            else:
                with contextlib.suppress(OSError):
                    socket.socket.shutdown(self.connection, socket.SHUT_RDWR)
            self.rfile.close()
            self.connection.close()
        except OSError:
            pass

    def _send(self, reply: _Reply) -> None:
        """Write ``reply`` with a Content-Length."""
        self.send_response(reply.status)
        for key, value in reply.headers:
            self.send_header(key, value)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        # Headers and body in one write: no Nagle / delayed-ACK stall between them.
        self._headers_buffer.append(b"\r\n" + reply.body)
        self.flush_headers()

    def _send_oversized(self, reply: _Reply, size: int) -> None:
        """Write ``reply`` padded with ``size`` bytes, in chunks; valid JSON when the reply was an object."""
        filler = b"x" * 65536
        if isinstance(reply.payload, dict) and reply.body.endswith(b"}"):
            inner = reply.body[:-1]
            start = inner + (b'"padding":"' if inner == b"{" else b',"padding":"')
            end = b'"}'
        else:
            start, end = reply.body, b""
        total = len(start) + size + len(end)
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(total))
        self.end_headers()
        self.wfile.write(start)
        remaining = size
        while remaining > 0:
            chunk = filler[: min(remaining, len(filler))]
            self.wfile.write(chunk)
            remaining -= len(chunk)
        self.wfile.write(end)
        self.wfile.flush()


def _garble(kind: str, reply: _Reply) -> _Reply:
    """Return a broken version of ``reply`` (see GARBAGE_KINDS)."""
    if kind == "html_200":
        return _Reply(200, _html_page(502).replace(b"502 Bad Gateway", b"Welcome"), content_type="text/html")
    if kind == "empty":
        return _Reply(200, b"")
    if kind == "truncated_json":
        return _Reply(200, reply.body[: max(1, len(reply.body) // 2)])
    if kind == "json_array":
        return _json_reply([reply.payload] if reply.payload is not None else [])
    payload = json.loads(json.dumps(reply.payload)) if reply.payload is not None else {"code": 0}
    if not isinstance(payload, dict):
        payload = {"code": 0, "data": payload}
    data = payload.get("data")
    targets: list[dict[str, Any]] = []
    if isinstance(data, dict):
        targets.append(data)
        targets.extend(r for r in data.get("records", []) if isinstance(r, dict))
    if kind == "no_data":
        payload.pop("data", None)
    elif kind == "null_data":
        payload["data"] = None
    elif kind == "code_as_string":
        payload["code"] = str(payload.get("code", 0))
    elif kind == "wrong_types":
        for target in targets:
            for key in ("progress", "importedRows", "totalRows", "fileSize", "count"):
                if key in target:
                    target[key] = str(target[key])
            if "details" in target:
                target["details"] = {"unexpected": "object"}
            if "state" in target:
                target["state"] = 3
    elif kind == "unknown_state":
        for target in targets:
            target["state"] = "Exploding"
            for detail in target.get("details", []) or []:
                detail["state"] = "Teleporting"
    elif kind == "progress_150":
        for target in targets:
            if "progress" in target or "state" in target:
                target["progress"] = 150
    elif kind == "float_job_id":
        for target in targets:
            for key in ("jobId", "jobID"):
                value = target.get(key)
                if isinstance(value, str) and value.isdigit():
                    target[key] = float(int(value))
                elif isinstance(value, str):
                    target[key] = 4.5324086383975094e17
    else:
        raise ValueError(f"unknown garbage kind {kind!r}; use one of {GARBAGE_KINDS}")
    return _json_reply(payload, status=reply.status)


class _BadRequest(Exception):
    """A request body that does not bind; carries the error answer."""

    def __init__(self, reply: _Reply) -> None:
        """Keep the answer."""
        super().__init__(reply.body.decode(errors="replace"))
        self.reply = reply


_GO_TYPES = {dict: "object", list: "array", str: "string", bool: "bool", int: "number", float: "number"}


def _go_type(value: Any) -> str:
    """Name of a JSON value's type the way encoding/json says it."""
    return _GO_TYPES.get(type(value), "value")


class ImportEmulator:
    """Milvus REST v2 / Zilliz Cloud import API emulator on 127.0.0.1 (see the module docstring)."""

    def __init__(
        self,
        mode: Literal["rest", "cloud"] = "rest",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        certfile: str | os.PathLike[str] | None = None,
        keyfile: str | os.PathLike[str] | None = None,
        token: str | None = None,
        forbidden: bool = False,
        speed: float = 1.0,
        job_duration: float = 2.0,
        index_hold: float = 0.0,
        fail_jobs: bool = False,
        rows_per_file: int = 10_000,
        bytes_per_row: int = 330,
        retention: float = 10_800.0,
        latency: float = 0.0,
        describe_routed: bool = True,
        legacy_quirks: bool = False,
        create_time: bool = True,
        strict_db: bool = False,
        collections: Collection[str] | None = None,
        max_jobs: int = 1024,
        max_files: int = 1024,
        timezone: dt.tzinfo = dt.timezone.utc,
        legacy_shape: bool = False,
        cluster_ids: Collection[str] | None = (DEFAULT_CLUSTER_ID,),
        cloud_auth_status: int = 200,
        cloud_describe_routed: bool = False,
        cloud_job_id_length: int = 20,
        rate_limit: int | Literal["auto"] | None = "auto",
        rate_limit_status: int | None = None,
        rate_limit_code: int | None = None,
        rate_limit_message: str | None = None,
        rate_limit_retry_after: str | None = None,
        file_name_format: Literal["slice", "protobuf"] = "slice",
        progress_bands: Literal["classic", "v2"] = "classic",
        not_found_code: int = 2100,
        invalid_id_code: int = 2100,
        job_limit_code: int = 2100,
        file_retry: bool = False,
        two_phase: bool = False,
        commit_duration: float = 0.2,
        cloud_get_progress_routed: bool = True,
        idempotency: bool = False,
        server_version: str = "",
        profile: str = "",
        clock: EmulatorClock | None = None,
        retention_from: Literal["finished", "created"] = "finished",
        rest_v2: bool = True,
        restart_fails_running: bool = False,
    ) -> None:
        """Configure the emulator; nothing listens until ``start()``."""
        if mode not in ("rest", "cloud"):
            raise ValueError(f"mode must be 'rest' or 'cloud', not {mode!r}")
        if (certfile is None) != (keyfile is None):
            raise ValueError("certfile and keyfile go together")
        self.mode = mode
        self.host = host
        self._port = port
        self.certfile = None if certfile is None else str(certfile)
        self.keyfile = None if keyfile is None else str(keyfile)
        self.token = token
        self.forbidden = forbidden
        self.clock = clock if clock is not None else EmulatorClock(speed)
        self.retention_from = retention_from
        self.rest_v2 = rest_v2
        self.restart_fails_running = restart_fails_running
        self.job_duration = job_duration
        self.index_hold = index_hold
        self.fail_jobs = fail_jobs
        self.rows_per_file = rows_per_file
        self.bytes_per_row = bytes_per_row
        self.retention = retention
        self.latency = latency
        self.describe_routed = describe_routed
        self.legacy_quirks = legacy_quirks
        self.create_time = create_time
        self.strict_db = strict_db
        self.collections = None if collections is None else frozenset(collections)
        self.max_jobs = max_jobs
        self.max_files = max_files
        self.timezone = timezone
        self.legacy_shape = legacy_shape
        self.cluster_ids = None if cluster_ids is None else frozenset(cluster_ids)
        self.cloud_auth_status = cloud_auth_status
        self.cloud_describe_routed = cloud_describe_routed
        self.cloud_job_id_length = cloud_job_id_length
        self.rate_limit: int | None = (20 if mode == "cloud" else None) if rate_limit == "auto" else rate_limit
        cloud = mode == "cloud"
        self.rate_limit_status = rate_limit_status if rate_limit_status is not None else (429 if cloud else 200)
        self.rate_limit_code = rate_limit_code if rate_limit_code is not None else (429 if cloud else 1807)
        self.rate_limit_message = rate_limit_message or (
            "Too many requests, the rate limit of this API has been exceeded."
            if cloud
            else "request is rejected by limiter"
        )
        self.rate_limit_retry_after = rate_limit_retry_after
        self.file_name_format = file_name_format
        self.progress_bands = progress_bands
        self.not_found_code = not_found_code
        self.invalid_id_code = invalid_id_code
        self.job_limit_code = job_limit_code
        self.file_retry = file_retry
        self.two_phase = two_phase
        self.commit_duration = commit_duration
        self.cloud_get_progress_routed = cloud_get_progress_routed
        self.idempotency = idempotency
        self.server_version = server_version
        self._keys: dict[tuple[str, str, str], tuple[str, float]] = {}
        self.profile = profile

        self._lock = threading.RLock()
        self._lifecycle = threading.Lock()
        self._jobs: dict[str, _Job] = {}
        self._scripts: deque[_Script] = deque()
        self._faults: list[Fault] = []
        self._requests: list[RecordedRequest] = []
        self._counts: defaultdict[str, int] = defaultdict(int)
        self._rate_windows: defaultdict[tuple[str, str], deque[float]] = defaultdict(deque)
        self._rate_limited: defaultdict[str, int] = defaultdict(int)
        self._errors: list[BaseException] = []
        self._next_rest_id = (int(time.time() * 1000) << 18) + secrets.randbelow(1 << 16)
        self._conns: set[socket.socket] = set()
        self.open_connections = 0
        self.max_concurrent_connections = 0
        self.total_connections = 0
        self.in_flight_requests = 0
        self.max_concurrent_requests = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._loop_running = False
        self._wake = threading.Event()
        self._gate = threading.Event()
        self._gate.set()
        self._holds: list[threading.Event] = []
        self.rate_clock: Callable[[], float] = time.monotonic

    @classmethod
    def for_profile(cls, name: str, **knobs: Any) -> ImportEmulator:
        """An emulator that answers as the release profile ``name`` does (tests/emulator/profiles.py)."""
        from tests.emulator.profiles import profile

        release = profile(name)
        return cls(**{"mode": release.mode, **release.knobs, "profile": name, **knobs})

    # ----------------------------------------------------------------- lifecycle

    @property
    def port(self) -> int:
        """The bound port (kept across stop/start)."""
        return self._port

    @property
    def tls(self) -> bool:
        """True if the emulator serves HTTPS."""
        return self.certfile is not None

    @property
    def base_url(self) -> str:
        """``http(s)://127.0.0.1:PORT``."""
        if self._port == 0:
            raise RuntimeError("the emulator has not been started yet")
        return f"{'https' if self.tls else 'http'}://{self.host}:{self._port}"

    def url(self, route: str) -> str:
        """Full URL of ``route`` ("describe" or a path)."""
        return self.base_url + _canonical_route(route)

    @property
    def running(self) -> bool:
        """True while the emulator accepts and answers connections."""
        return self._server is not None and self._loop_running and self._gate.is_set()

    def start(self) -> ImportEmulator:
        """Listen (on the same port as before after a stop) and serve in a background thread."""
        with self._lifecycle:
            if self._server is not None:
                self._gate.set()
                if not self._loop_running:
                    self._run_loop(self._server)
                return self
            context: ssl.SSLContext | None = None
            if self.certfile is not None and self.keyfile is not None:
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                context.load_cert_chain(self.certfile, self.keyfile)
            server = _Server((self.host, self._port), self, context)
            self._port = int(server.server_address[1])
            self._wake = threading.Event()
            self._gate.set()
            self._server = server
            self._run_loop(server)
            return self

    def _run_loop(self, server: _Server) -> None:
        """Start the accept loop thread."""
        self._loop_running = True
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name=f"import-emulator-{self._port}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Close the listening socket and every open connection; jobs and counters are kept."""
        with self._lifecycle:
            server, self._server = self._server, None
            if server is None:
                return
            if self._loop_running:
                server.shutdown()
                self._loop_running = False
            server.server_close()
            with self._lock:
                conns = list(self._conns)
            for conn in conns:
                with contextlib.suppress(OSError):
                    socket.socket.shutdown(conn, socket.SHUT_RDWR)
            self._wake.set()
            self._gate.set()
            with self._lock:
                for hold in self._holds:
                    hold.set()
            if self._thread is not None:
                self._thread.join(timeout=5)
                self._thread = None

    def pause(self, *, hang: bool = False) -> None:
        """Make the server go away: refuse connections (``stop``), or with ``hang`` accept but never answer."""
        if not hang:
            self.stop()
            return
        with self._lifecycle:
            self._gate.clear()
            if self._server is not None and self._loop_running:
                self._server.shutdown()
                self._loop_running = False

    def resume(self) -> None:
        """Come back after ``pause`` on the same port, with the same jobs."""
        self.start()

    def __enter__(self) -> ImportEmulator:
        """Start on entry."""
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Stop on exit."""
        self.stop()

    # ------------------------------------------------------------- observability

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received since the last reset, oldest first."""
        with self._lock:
            return list(self._requests)

    def request_count(self, route: str | None = None) -> int:
        """Number of requests to ``route`` ("describe" or a path), or to any route."""
        with self._lock:
            if route is None:
                return len(self._requests)
            return self._counts.get(_canonical_route(route), 0)

    def rate_limited_count(self, route: str | None = None) -> int:
        """Number of requests rejected by the rate limiter on ``route``, or on any route."""
        with self._lock:
            if route is None:
                return sum(self._rate_limited.values())
            return self._rate_limited.get(_canonical_route(route), 0)

    @property
    def errors(self) -> list[BaseException]:
        """Exceptions raised inside handlers (TLS handshake failures and the like)."""
        with self._lock:
            return list(self._errors)

    def reset(self, *, jobs: bool = False) -> None:
        """Forget requests, counters, faults, rate windows and scripts; with ``jobs`` also the jobs."""
        with self._lock:
            self._requests.clear()
            self._counts.clear()
            self._rate_windows.clear()
            self._rate_limited.clear()
            self._faults.clear()
            self._scripts.clear()
            self._errors.clear()
            self.max_concurrent_connections = self.open_connections
            self.max_concurrent_requests = self.in_flight_requests
            self.total_connections = 0
            if jobs:
                self._jobs.clear()

    # ------------------------------------------------------------------- faults

    def _add_fault(self, fault: Fault) -> Fault:
        """Queue ``fault`` and return it (its ``applied`` counter shows use)."""
        if fault.count < 1:
            raise ValueError("count must be at least 1")
        with self._lock:
            self._faults.append(fault)
        return fault

    def inject_status(
        self,
        status: int,
        *,
        body: bytes | str | None = None,
        content_type: str = "text/html",
        retry_after: str | float | None = None,
        headers: Iterable[tuple[str, str]] = (),
        count: int = 1,
        route: str | None = None,
        process: bool = False,
    ) -> Fault:
        """Answer ``status`` (default body: an nginx HTML page), optionally with ``Retry-After``."""
        extra = list(headers)
        if retry_after is not None:
            extra.append(("Retry-After", str(retry_after)))
        raw = body.encode() if isinstance(body, str) else body
        return self._add_fault(
            Fault(
                "status",
                route,
                count,
                status=status,
                body=raw,
                content_type=content_type,
                headers=tuple(extra),
                process=process,
            )
        )

    def inject_reset(
        self,
        *,
        partial: Literal["none", "headers", "body"] = "headers",
        count: int = 1,
        route: str | None = None,
        process: bool = True,
    ) -> Fault:
        """Send nothing, part of the headers, or the headers and half the body, then RST the connection."""
        return self._add_fault(Fault("reset", route, count, partial=partial, process=process))

    def inject_close(self, *, count: int = 1, route: str | None = None, process: bool = False) -> Fault:
        """Close the connection (FIN) without answering."""
        return self._add_fault(Fault("close", route, count, process=process))

    def inject_slow(self, seconds: float, *, count: int = 1, route: str | None = None) -> Fault:
        """Sleep ``seconds`` before handling the request normally."""
        return self._add_fault(Fault("slow", route, count, seconds=seconds))

    def inject_hold(self, *, count: int = 1, route: str | None = None) -> Fault:
        """Hold the next ``count`` requests unanswered until ``fault.release()`` (or a stop), then answer them."""
        hold = threading.Event()
        with self._lock:
            self._holds.append(hold)
        return self._add_fault(Fault("slow", route, count, seconds=HOLD_LIMIT, hold=hold))

    def inject_garbage(self, kind: str, *, count: int = 1, route: str | None = None) -> Fault:
        """Process the request, then answer a broken body of ``kind`` (see GARBAGE_KINDS)."""
        if kind not in GARBAGE_KINDS:
            raise ValueError(f"unknown garbage kind {kind!r}; use one of {GARBAGE_KINDS}")
        return self._add_fault(Fault("garbage", route, count, garbage=kind, process=True))

    def inject_oversized(self, size: int = 8 * 1024 * 1024, *, count: int = 1, route: str | None = None) -> Fault:
        """Process the request, then answer it padded with ``size`` extra bytes (still valid JSON)."""
        return self._add_fault(Fault("oversized", route, count, size=size, process=True))

    def clear_faults(self) -> None:
        """Drop every queued fault."""
        with self._lock:
            self._faults.clear()

    @property
    def pending_faults(self) -> list[Fault]:
        """Faults not yet used up."""
        with self._lock:
            return list(self._faults)

    def _take_fault(self, route: str) -> Fault | None:
        """Pop one use of the first fault matching ``route``."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(route):
                    fault.applied += 1
                    if fault.applied >= fault.count:
                        self._faults.remove(fault)
                    return fault
        return None

    # ------------------------------------------------------------- job controls

    def advance(self, seconds: float) -> None:
        """Move the emulated clock forward."""
        self.clock.advance(seconds)

    def script_next_job(
        self,
        *,
        duration: float | None = None,
        index_hold: float | None = None,
        fail_after: float | None = None,
        fail_reason: str | None = None,
        rows_per_file: int | None = None,
    ) -> None:
        """Queue timing/failure settings for the next created job (FIFO, one script per job)."""
        with self._lock:
            self._scripts.append(_Script(duration, index_hold, fail_after, fail_reason, rows_per_file))

    def create_job(
        self,
        collection_name: str,
        files: list[list[str]],
        *,
        db_name: str = "default",
        partition_name: str = "",
        options: dict[str, str] | None = None,
        cluster_id: str | None = None,
    ) -> str:
        """Create a job directly (no HTTP) and return its id."""
        if self.mode == "cloud" and cluster_id is None:
            cluster_id = DEFAULT_CLUSTER_ID
        with self._lock:
            return self._new_job(collection_name, files, db_name, partition_name, dict(options or {}), cluster_id)

    @property
    def job_ids(self) -> list[str]:
        """Ids of the jobs still known (not expired), oldest first."""
        with self._lock:
            now = self.clock.now()
            return [job.job_id for job in self._jobs.values() if self._alive(job, now)]

    def job(self, job_id: str) -> dict[str, Any]:
        """The job's progress data as describe would answer it now (REST field names)."""
        with self._lock:
            job = self._jobs[job_id]
            return self._progress(job, self.clock.now())

    def set_job(
        self,
        job_id: str,
        *,
        state: str | None = None,
        progress: int | None = None,
        imported_rows: int | None = None,
        total_rows: int | None = None,
        reason: str | None = None,
        complete_time: str | None = None,
        duration: float | None = None,
        index_hold: float | None = None,
        fail_after: float | None = None,
        clear: bool = False,
    ) -> None:
        """Force fields of a job's answers (sticky until ``clear``) or change its timeline."""
        with self._lock:
            job = self._jobs[job_id]
            now = self.clock.now()
            if clear:
                job.overrides.clear()
                job.forced_finish = None
            if duration is not None or index_hold is not None:
                job.set_duration(
                    duration if duration is not None else job.duration,
                    index_hold if index_hold is not None else job.hold,
                )
            if fail_after is not None:
                job.fail_at = fail_after
                job.fail_reason = job.fail_reason or "emulated failure"
            values = {
                "state": state,
                "progress": progress,
                "importedRows": imported_rows,
                "totalRows": total_rows,
                "reason": reason,
                "completeTime": complete_time,
            }
            job.overrides.update({key: value for key, value in values.items() if value is not None})
            if state is not None:
                job.forced_finish = now if state in _TERMINAL_STATES else None
                if state == "Failed" and "reason" not in job.overrides:
                    job.overrides["reason"] = "emulated failure"

    def finish_job(self, job_id: str) -> None:
        """Make the job Completed now."""
        with self._lock:
            job = self._jobs[job_id]
            job.overrides.clear()
            job.fail_at = None
            elapsed = self.clock.now() - job.created
            total = job.pending + job.importing + job.indexing
            if elapsed < total:
                scale = elapsed / total if total else 0.0
                job.pending *= scale
                job.importing *= scale
                job.indexing *= scale

    def fail_job(self, job_id: str, reason: str = "emulated failure") -> None:
        """Make the job Failed now with ``reason``."""
        with self._lock:
            job = self._jobs[job_id]
            job.overrides.clear()
            job.forced_finish = None
            job.fail_at = max(0.0, self.clock.now() - job.created)
            job.fail_reason = reason

    def add_history(
        self,
        n: int,
        *,
        collection: str = "history",
        collections: int = 1,
        db_name: str = "default",
        cluster_id: str | None = None,
        window: float | None = None,
        failed_every: int = 10,
    ) -> list[str]:
        """Add ``n`` finished jobs, as a busy server remembers them; returns their ids, oldest first.

        They ended at even steps over the last ``window`` emulated seconds (default: the retention, so the
        oldest are about to be forgotten), spread over ``collections`` collections named ``collection``,
        ``collection_1``, ...; every ``failed_every``-th failed. Each has one file of one row.
        """
        if self.mode == "cloud" and cluster_id is None:
            cluster_id = DEFAULT_CLUSTER_ID
        span = self.retention if window is None else window
        ids: list[str] = []
        with self._lock:
            now = self.clock.now()
            scripts, self._scripts = self._scripts, deque()  # scripts are for the jobs a test starts
            for index in range(n):
                name = collection if index % collections == 0 else f"{collection}_{index % collections}"
                job_id = self._new_job(name, [[f"history/{index}.json"]], db_name, "", {}, cluster_id)
                job = self._jobs[job_id]
                ended = now - span * (n - index) / (n + 1)
                job.set_duration(1.0, 0.0)
                job.created = ended - 1.0
                job.file_rows, job.file_sizes = [1], [self.bytes_per_row]
                if failed_every and index % failed_every == failed_every - 1:
                    job.fail_at, job.fail_reason = 0.5, "history: emulated failure"
                job.history = True
                ids.append(job_id)
            self._scripts = scripts
        return ids

    def restart(self) -> None:
        """The server restarts: 2.3 (``restart_fails_running``) fails its started, unfinished tasks; 2.4+
        resumes every job, in-flight ones from Pending (progress falls back). Listens again on the same port.
        """
        running = self.running
        if running:
            self.stop()
        with self._lock:
            now = self.clock.now()
            for job in self._jobs.values():
                if not self._alive(job, now) or self._finished_at(job, now) is not None:
                    continue
                elapsed = now - job.created
                if elapsed < job.pending:
                    continue  # Pending: queued again, on every release
                job.overrides.clear()
                if self.restart_fails_running:
                    job.fail_at, job.fail_reason = elapsed, "task marked failed as service restarted"
                else:
                    job.created = now - job.pending / 2  # back to Pending, then imported again
        if running:
            self.start()

    def expire_job(self, job_id: str) -> None:
        """Forget the job as retention would: it answers 2100 / 96026 from now on."""
        with self._lock:
            self._jobs[job_id].expired = True

    # ---------------------------------------------------------------- internals

    def _note_error(self) -> None:
        """Remember the exception being handled."""
        error = sys.exc_info()[1]
        if error is not None:
            with self._lock:
                self._errors.append(error)

    def _connection_opened(self, conn: socket.socket) -> None:
        """Track a new connection."""
        with self._lock:
            self._conns.add(conn)
            self.open_connections += 1
            self.total_connections += 1
            self.max_concurrent_connections = max(self.max_concurrent_connections, self.open_connections)

    def _connection_closed(self, conn: socket.socket) -> None:
        """Untrack a connection."""
        with self._lock:
            if conn in self._conns:
                self._conns.discard(conn)
                self.open_connections -= 1

    def _request_started(self) -> None:
        """Count an in-flight request."""
        with self._lock:
            self.in_flight_requests += 1
            self.max_concurrent_requests = max(self.max_concurrent_requests, self.in_flight_requests)

    def _request_finished(self) -> None:
        """Uncount an in-flight request."""
        with self._lock:
            self.in_flight_requests -= 1

    def _wait_gate(self) -> bool:
        """Block while paused with ``hang``; False if the emulator stopped meanwhile."""
        while not self._gate.wait(0.05):
            if self._server is None:
                return False
        return self._server is not None

    def _sleep(self, seconds: float, hold: threading.Event | None = None) -> None:
        """Sleep, waking early if the emulator stops (or ``hold`` is released)."""
        if seconds > 0 and hold is None:
            self._wake.wait(seconds)
        elif hold is not None:
            hold.wait(seconds)

    def _record(
        self,
        method: str,
        path: str,
        route: str,
        headers: Message,
        body: bytes,
        client: tuple[str, int],
        fault: Fault | None,
    ) -> RecordedRequest:
        """Append a request to the log."""
        record = RecordedRequest(
            method=method,
            path=path,
            route=route,
            headers=tuple((str(k), str(v)) for k, v in headers.items()),
            body=body,
            time=time.monotonic(),
            client=(str(client[0]), int(client[1])),
            fault=None if fault is None else fault.kind,
        )
        with self._lock:
            self._requests.append(record)
            self._counts[route] += 1
        return record

    def _routes(self) -> dict[str, Callable[[dict[str, Any], Message], _Reply]]:
        """The routes of the current mode."""
        if self.mode == "rest":
            routes = {
                f"{IMPORT_PREFIX}/create": self._rest_create,
                f"{IMPORT_PREFIX}/get_progress": self._rest_progress,
                f"{IMPORT_PREFIX}/list": self._rest_list,
            }
            if self.describe_routed:
                routes[f"{IMPORT_PREFIX}/describe"] = self._rest_progress
            if self.two_phase:
                routes[f"{IMPORT_PREFIX}/commit"] = self._rest_commit
                routes[f"{IMPORT_PREFIX}/abort"] = self._rest_abort
            return routes
        routes = {
            f"{IMPORT_PREFIX}/create": self._cloud_create,
            f"{IMPORT_PREFIX}/list": self._cloud_list,
        }
        if self.cloud_get_progress_routed:
            routes[f"{IMPORT_PREFIX}/getProgress"] = self._cloud_progress
        if self.cloud_describe_routed:
            routes[f"{IMPORT_PREFIX}/describe"] = self._cloud_progress
        return routes

    def _answer(self, method: str, route: str, headers: Message, body: bytes) -> _Reply:
        """Route, rate-limit, delay, authenticate, bind the body and handle."""
        handler = self._routes().get(route) if method == "POST" and self.rest_v2 else None
        if handler is None:
            return _not_found()
        if self._over_rate_limit(route, headers):
            return self._rate_limit_reply()
        timeout_reply = self._apply_latency(headers)
        if timeout_reply is not None:
            return timeout_reply
        auth_reply = self._check_auth(headers)
        if auth_reply is not None:
            return auth_reply
        try:
            payload = self._decode(body)
            return handler(payload, headers)
        except _BadRequest as bad:
            return bad.reply

    def _over_rate_limit(self, route: str, headers: Message) -> bool:
        """Sliding one-second window per (credential, route)."""
        if self.rate_limit is None:
            return False
        now = self.rate_clock()
        key = (headers.get("Authorization", ""), route)
        with self._lock:
            window = self._rate_windows[key]
            while window and now - window[0] >= 1.0:
                window.popleft()
            if len(window) >= self.rate_limit:
                self._rate_limited[route] += 1
                return True
            window.append(now)
            return False

    def _rate_limit_reply(self) -> _Reply:
        """The configured rate-limit answer."""
        headers = [] if self.rate_limit_retry_after is None else [("Retry-After", self.rate_limit_retry_after)]
        return _json_reply(
            {"code": self.rate_limit_code, "message": self.rate_limit_message}, self.rate_limit_status, headers
        )

    def _apply_latency(self, headers: Message) -> _Reply | None:
        """Sleep ``latency``; answer 408 if ``Request-Timeout`` expires first."""
        raw = headers.get("Request-Timeout")
        timeout: float | None = None
        if raw is not None:
            with contextlib.suppress(ValueError):
                timeout = float(raw)
        if timeout is not None and timeout >= 0 and self.latency > timeout:
            self._sleep(timeout)
            return _json_reply({"code": CODE_TIMEOUT, "message": "request timeout"}, 408)
        self._sleep(self.latency)
        return None

    def _check_auth(self, headers: Message) -> _Reply | None:
        """Bearer-token check; None if the request may proceed."""
        authorization = headers.get("Authorization", "")
        scheme, _, credential = authorization.partition(" ")
        valid = self.token is None or (scheme.lower() == "bearer" and credential.strip() == self.token)
        if self.mode == "rest":
            if not valid:
                return _json_reply({"code": CODE_NEED_AUTHENTICATE, "message": "user hasn't authenticated"}, status=401)
            if self.forbidden:
                return _json_reply(
                    {
                        "code": CODE_PRIVILEGE_NOT_PERMITTED,
                        "message": "privilege not permitted[PrivilegeImport: permission deny to user]",
                    },
                    status=403,
                )
            return None
        if not valid:
            return _json_reply(
                {"code": CLOUD_CODE_APIKEY_ILLEGAL, "message": "The apikey is illegal."}, self.cloud_auth_status
            )
        if self.forbidden:
            return _json_reply(
                {
                    "code": CLOUD_CODE_NO_PERMISSION,
                    "message": "You don't have permission for this cluster. Please check your Apikey scope.",
                },
                self.cloud_auth_status,
            )
        return None

    def _decode(self, body: bytes) -> dict[str, Any]:
        """Parse the body as a JSON object the way gin binding would."""

        def reject(constant: str) -> Any:
            raise ValueError(f"invalid character '{constant[0]}' looking for beginning of value")

        try:
            if not body.strip():
                raise ValueError("EOF")
            payload = json.loads(body, parse_constant=reject)
        except ValueError as error:
            detail = (
                str(error) if str(error) == "EOF" or str(error).startswith("invalid") else "invalid JSON: " + str(error)
            )
            raise _BadRequest(self._format_error(detail)) from None
        if payload is None:
            return {}
        if not isinstance(payload, dict):
            raise _BadRequest(self._format_error(f"json: cannot unmarshal {_go_type(payload)} into Go value"))
        return payload

    def _format_error(self, detail: str) -> _Reply:
        """Error answer for a body that does not parse (1801 in REST, 80000 in cloud)."""
        if self.mode == "rest":
            return _json_reply(
                {
                    "code": CODE_INCORRECT_PARAMETER_FORMAT,
                    "message": f"can only accept json format request, error: {detail}",
                }
            )
        return _json_reply({"code": CLOUD_CODE_INCORRECT_PARAMETER, "message": f"Incorrect parameter: {detail}"})

    def _bind(self, payload: dict[str, Any], struct_name: str, spec: dict[str, tuple[str, bool]]) -> dict[str, Any]:
        """Type-check (1801) then required-check (1802) fields of ``payload`` per ``spec``."""
        for name, (kind, _required) in spec.items():
            value = payload.get(name)
            if value is None:
                continue
            if not _matches_kind(value, kind):
                detail = (
                    f"json: cannot unmarshal {_go_type(value)} into Go struct field {struct_name}.{name} of type {kind}"
                )
                raise _BadRequest(self._format_error(detail))
        for name, (_kind, required) in spec.items():
            value = payload.get(name)
            if required and (value is None or value == "" or value == []):
                raise _BadRequest(self._missing(struct_name, name))
        return payload

    def _missing(self, struct_name: str, name: str) -> _Reply:
        """Error answer for a missing required field."""
        if self.mode == "rest":
            field_name = name[0].upper() + name[1:]
            detail = (
                f"Key: '{struct_name}.{field_name}' Error:Field validation for '{field_name}' "
                "failed on the 'required' tag"
            )
            return _json_reply(
                {"code": CODE_MISSING_REQUIRED_PARAMETERS, "message": f"missing required parameters, error: {detail}"}
            )
        if name == "clusterId":
            return _json_reply(
                {"code": CLOUD_CODE_EMPTY_CLUSTER_ID, "message": "Empty clusterId. Please specify a clusterId."}
            )
        return _json_reply({"code": CLOUD_CODE_INCORRECT_PARAMETER, "message": f"Incorrect parameter: '{name}'"})

    def _success(self, data: Any) -> _Reply:
        """Success envelope (``code`` 0, or 200 with the legacy knobs)."""
        legacy = self.legacy_quirks if self.mode == "rest" else self.legacy_shape
        return _json_reply({"code": 200 if legacy else 0, "data": data})

    def _id_key(self) -> str:
        """Spelling of the job id field."""
        return "jobID" if self.mode == "rest" and self.legacy_quirks else "jobId"

    def _db_name(self, payload: dict[str, Any], headers: Message) -> str:
        """Database of a request: body dbName, else the DB-Name header, else default."""
        return str(payload.get("dbName") or headers.get("DB-Name") or "default")

    def _collection_error(self, db_name: str, collection: str) -> _Reply | None:
        """Code 100 if ``collections`` is set and ``collection`` is not in it."""
        if self.collections is None or collection in self.collections:
            return None
        return _json_reply(
            {
                "code": CODE_COLLECTION_NOT_FOUND,
                "message": f"collection not found[database={db_name}][collection={collection}]",
            }
        )

    def _import_failed(self, detail: str, code: int = CODE_IMPORT_FAILED) -> _Reply:
        """Code 2100 the way merr.WrapErrImportFailed words it (2101: WrapErrImportSysFailed)."""
        words = "importing data failed on server side" if code == CODE_IMPORT_SYS_FAILED else "importing data failed"
        return _json_reply({"code": code, "message": f"{detail}: {words}"})

    def _job_not_found(self, job_id: int) -> _Reply:
        """An unknown or forgotten job: 2100 up to 2.6.18, 2101 later, the same words."""
        return self._import_failed(f"import job does not exist, jobID={job_id}", self.not_found_code)

    def _bad_job_id(self, job_id: str) -> _Reply | None:
        """A jobId that is no int64: 2100 (2.5) or 1100 invalid parameter (late 2.6, 3.0); None if fine."""
        if _INT64.fullmatch(job_id):
            return None
        if self.invalid_id_code == CODE_PARAMETER_INVALID:
            return _json_reply(
                {"code": CODE_PARAMETER_INVALID, "message": f"invalid parameter[expected=int64 jobId][actual={job_id}]"}
            )
        return self._import_failed(f'strconv.ParseInt: parsing "{job_id}": invalid syntax', self.invalid_id_code)

    def _limits_error(self, files: list[list[str]]) -> _Reply | None:
        """2100 if the request has too many files or too many jobs are pending or executing."""
        if len(files) > self.max_files:
            return self._import_failed(
                f"The max number of import files should not exceed {self.max_files}, but got {len(files)}"
            )
        now = self.clock.now()
        active = sum(1 for job in self._jobs.values() if self._alive(job, now) and self._finished_at(job, now) is None)
        if active >= self.max_jobs:
            return self._import_failed(
                "The number of jobs has reached the limit, please try again later. If your request is set to only "
                "import a single file, please consider importing multiple files in one request for better efficiency.",
                self.job_limit_code,
            )
        return None

    # REST routes

    def _rest_create(self, payload: dict[str, Any], headers: Message) -> _Reply:
        """POST /create (Milvus)."""
        spec = {
            "dbName": ("string", False),
            "collectionName": ("string", True),
            "partitionName": ("string", False),
            "files": ("files", True),
            "options": ("options", False),
        }
        self._bind(payload, "ImportReq", spec)
        db_name = self._db_name(payload, headers)
        collection = payload["collectionName"]
        with self._lock:
            error = self._collection_error(db_name, collection) or self._limits_error(payload["files"])
            if error is not None:
                return error
            job_id = self.keyed_create(
                db_name,
                collection,
                headers.get("Idempotency-Key") or "",
                lambda: self._new_job(
                    collection,
                    payload["files"],
                    db_name,
                    payload.get("partitionName") or "",
                    dict(payload.get("options") or {}),
                    None,
                ),
            )
        return self._success({self._id_key(): job_id})

    def keyed_create(self, db_name: str, collection: str, key: str, create: Callable[[], str]) -> str:
        """``create()``, unless this server honours keys and saw ``key`` for the collection lately: that job's id."""
        now = self.clock.now()
        with self._lock:
            seen = self._keys.get((db_name, collection, key)) if self.idempotency and key else None
            if seen is not None and now - seen[1] < IDEMPOTENCY_TTL:
                return seen[0]
            job_id = create()
            if self.idempotency and key:
                self._keys[(db_name, collection, key)] = (job_id, now)
            return job_id

    def _rest_progress(self, payload: dict[str, Any], headers: Message) -> _Reply:
        """POST /describe and /get_progress (Milvus)."""
        self._bind(payload, "JobIDReq", {"jobId": ("string", True)})
        job_id = payload["jobId"]
        db_name = headers.get("DB-Name") or "default"
        bad = self._bad_job_id(job_id)
        if bad is not None:
            return bad
        numeric = int(job_id)
        with self._lock:
            now = self.clock.now()
            job = self._jobs.get(str(numeric))
            if job is None or not self._alive(job, now) or (self.strict_db and job.db_name != db_name):
                return self._job_not_found(numeric)
            data = self._progress(job, now)
        if self.legacy_quirks:
            data = {("jobID" if key == "jobId" else key): value for key, value in data.items()}
        return self._success(data)

    def _two_phase_job(self, payload: dict[str, Any], headers: Message) -> _Job:
        """The job a commit / abort names; raises the error answer (1100 non-numeric, not found)."""
        self._bind(payload, "JobIDReq", {"jobId": ("string", True)})
        bad = self._bad_job_id(payload["jobId"])
        if bad is not None:
            raise _BadRequest(bad)
        numeric = int(payload["jobId"])
        job = self._jobs.get(str(numeric))
        db_name = headers.get("DB-Name") or "default"
        if job is None or not self._alive(job, self.clock.now()) or (self.strict_db and job.db_name != db_name):
            raise _BadRequest(self._job_not_found(numeric))
        return job

    def _rest_commit(self, payload: dict[str, Any], headers: Message) -> _Reply:
        """POST /commit (3.0): publish a staged job; Committing or Completed count as success."""
        with self._lock:
            job = self._two_phase_job(payload, headers)
            state = self._progress(job, self.clock.now())["state"]
            if state == "Uncommitted":
                job.committed_at = self.clock.now()
            elif state not in ("Committing", "Completed"):
                return self._import_failed(f"expected Uncommitted, got {state}, jobID={job.job_id}")
        return self._success({})

    def _rest_abort(self, payload: dict[str, Any], headers: Message) -> _Reply:
        """POST /abort (3.0): abandon a job that has not ended."""
        with self._lock:
            job = self._two_phase_job(payload, headers)
            now = self.clock.now()
            if self._finished_at(job, now) is None:
                job.aborted_at = now
        return self._success({})

    def commit_job(self, job_id: str) -> None:
        """Commit a staged job directly (no HTTP), as another client would."""
        with self._lock:
            self._jobs[job_id].committed_at = self.clock.now()

    def _rest_list(self, payload: dict[str, Any], headers: Message) -> _Reply:
        """POST /list (Milvus): no pagination."""
        self._bind(
            payload, "OptionalCollectionNameReq", {"dbName": ("string", False), "collectionName": ("string", False)}
        )
        explicit_db = payload.get("dbName") or headers.get("DB-Name")
        collection = payload.get("collectionName") or ""
        if collection:
            error = self._collection_error(explicit_db or "default", collection)
            if error is not None:
                return error
        records = []
        with self._lock:
            now = self.clock.now()
            for job in self._jobs.values():
                if not self._alive(job, now):
                    continue
                if (explicit_db and job.db_name != explicit_db) or (collection and job.collection_name != collection):
                    continue
                data = self._progress(job, now)
                record: dict[str, Any] = {
                    self._id_key(): job.job_id,
                    "collectionName": job.collection_name,
                    "state": data["state"],
                    "progress": data["progress"],
                }
                if data.get("reason"):
                    record["reason"] = data["reason"]
                records.append(record)
        return self._success({"records": records})

    # cloud routes

    def _cluster_error(self, payload: dict[str, Any]) -> _Reply | None:
        """96025 / 96018 for an empty or unknown clusterId."""
        self._bind(payload, "clusterId", {"clusterId": ("string", True)})
        if self.cluster_ids is not None and payload["clusterId"] not in self.cluster_ids:
            return _json_reply(
                {
                    "code": CLOUD_CODE_CLUSTER_NOT_FOUND,
                    "message": "Cluster not found. Please use the ListClusters API to obtain your scoped clusters.",
                }
            )
        return None

    def _cloud_create(self, payload: dict[str, Any], headers: Message) -> _Reply:
        """POST /create (Zilliz Cloud)."""
        error = self._cluster_error(payload)
        if error is not None:
            return error
        spec = {
            "dbName": ("string", False),
            "collectionName": ("string", True),
            "partitionName": ("string", False),
            "objectUrl": ("string", False),
            "objectUrls": ("files", False),
            "dataPaths": ("files", False),
            "volumeName": ("string", False),
            "accessKey": ("string", False),
            "secretKey": ("string", False),
            "token": ("string", False),
            "options": ("options", False),
        }
        self._bind(payload, "CreateImportJob", spec)
        files: list[list[str]]
        if payload.get("objectUrls"):
            files = payload["objectUrls"]
        elif payload.get("dataPaths"):
            if not payload.get("volumeName"):
                return self._missing("CreateImportJob", "volumeName")
            files = payload["dataPaths"]
        elif payload.get("objectUrl"):
            files = [[payload["objectUrl"]]]
        else:
            return self._missing("CreateImportJob", "objectUrl")
        db_name = str(payload.get("dbName") or "default")
        with self._lock:
            error = self._collection_error(db_name, payload["collectionName"]) or self._limits_error(files)
            if error is not None:
                return error
            job_id = self._new_job(
                payload["collectionName"],
                files,
                db_name,
                payload.get("partitionName") or "",
                dict(payload.get("options") or {}),
                payload["clusterId"],
            )
        return self._success({"jobId": job_id})

    def _cloud_progress(self, payload: dict[str, Any], headers: Message) -> _Reply:
        """POST /getProgress (Zilliz Cloud)."""
        error = self._cluster_error(payload)
        if error is not None:
            return error
        self._bind(payload, "GetImportProgress", {"jobId": ("string", True)})
        with self._lock:
            now = self.clock.now()
            job = self._jobs.get(payload["jobId"])
            if job is None or not self._alive(job, now) or job.cluster_id != payload["clusterId"]:
                return _json_reply(
                    {"code": CLOUD_CODE_JOB_NOT_FOUND, "message": "Job not found. Please check your request parameter."}
                )
            data = self._progress(job, now, cloud=True)
        if self.legacy_shape:
            data = _legacy_cloud_shape(data)
        return self._success(data)

    def _cloud_list(self, payload: dict[str, Any], headers: Message) -> _Reply:
        """POST /list (Zilliz Cloud): paged, newest first."""
        error = self._cluster_error(payload)
        if error is not None:
            return error
        self._bind(payload, "ListImportJobs", {"pageSize": ("int", False), "currentPage": ("int", False)})
        page_size = payload.get("pageSize")
        current_page = payload.get("currentPage")
        page_size = 10 if page_size is None else page_size
        current_page = 1 if current_page is None else current_page
        if not 1 <= page_size <= 100:
            return _json_reply(
                {
                    "code": CLOUD_CODE_PAGE_SIZE,
                    "message": "The parameter value for pageSize should be between 1 and 100.",
                }
            )
        if current_page < 1:
            return _json_reply(
                {
                    "code": CLOUD_CODE_CURRENT_PAGE,
                    "message": "The parameter currentPage should have a value between 1 and the maximum value of Int.",
                }
            )
        with self._lock:
            now = self.clock.now()
            jobs = [
                job for job in self._jobs.values() if self._alive(job, now) and job.cluster_id == payload["clusterId"]
            ]
            jobs.reverse()
            page = jobs[(current_page - 1) * page_size : current_page * page_size]
            records = [
                {"collectionName": job.collection_name, "jobId": job.job_id, "state": self._progress(job, now)["state"]}
                for job in page
            ]
        return self._success(
            {"count": len(jobs), "currentPage": current_page, "pageSize": page_size, "records": records}
        )

    # job model

    def _new_job(
        self,
        collection: str,
        files: list[list[str]],
        db_name: str,
        partition: str,
        options: dict[str, str],
        cluster_id: str | None,
    ) -> str:
        """Create a job (caller holds the lock) and return its id."""
        script = self._scripts.popleft() if self._scripts else _Script()
        if self.mode == "rest":
            self._next_rest_id += 1 + secrets.randbelow(64)
            job_id = str(self._next_rest_id)
        else:
            alphabet = string.ascii_lowercase + string.digits
            job_id = "job-" + "".join(secrets.choice(alphabet) for _ in range(self.cloud_job_id_length))
        rows = script.rows_per_file if script.rows_per_file is not None else self.rows_per_file
        staged = self.two_phase and options.get("auto_commit", "true").strip().lower() == "false"
        job = _Job(
            staged=staged,
            job_id=job_id,
            cluster_id=cluster_id,
            db_name=db_name,
            collection_name=collection,
            partition_name=partition,
            files=[list(group) for group in files],
            options=options,
            created=self.clock.now(),
            pending=0.0,
            importing=0.0,
            indexing=0.0,
            file_rows=[rows for _ in files],
            file_sizes=[rows * self.bytes_per_row for _ in files],
        )
        job.set_duration(
            script.duration if script.duration is not None else self.job_duration,
            script.index_hold if script.index_hold is not None else self.index_hold,
        )
        slot = job.importing / len(files) if files else 0.0
        failing = next((i for i, group in enumerate(files) if any("fail" in path.lower() for path in group)), None)
        if script.fail_after is not None:
            job.fail_at = script.fail_after
            job.fail_reason = script.fail_reason or "emulated failure"
        elif failing is not None:
            job.fail_at = job.pending + (failing + 0.5) * slot
            job.fail_reason = f"failed to import file {job.file_name(failing, self.file_name_format)}: emulated failure"
        elif self.fail_jobs:
            job.fail_at = job.pending + 0.5 * job.importing
            job.fail_reason = script.fail_reason or "emulated failure"
        self._jobs[job_id] = job
        return job_id

    def _finished_at(self, job: _Job, now: float) -> float | None:
        """Emulated time the job reached Completed or Failed, or None."""
        if "state" in job.overrides:
            return job.forced_finish
        elapsed = now - job.created
        if job.fail_at is not None and elapsed >= job.fail_at:
            return job.created + job.fail_at
        if job.aborted_at is not None:
            return job.aborted_at
        end = job.pending + job.importing + job.indexing
        if job.staged:
            if job.committed_at is None:
                return None
            done = max(job.created + end, job.committed_at) + self.commit_duration
            return done if now >= done else None
        return job.created + end if elapsed >= end else None

    def _alive(self, job: _Job, now: float) -> bool:
        """False once the job expired (retention) or was expired by hand."""
        if job.expired:
            return False
        if self.retention_from == "created":
            return now - job.created <= self.retention
        finished = self._finished_at(job, now)
        return finished is None or now - finished <= self.retention

    def _fmt_time(self, epoch: float) -> str:
        """RFC 3339 time in ``timezone`` ("Z" for UTC), like Go's time.RFC3339."""
        text = dt.datetime.fromtimestamp(int(epoch), tz=self.timezone).isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text

    def _progress(self, job: _Job, now: float, *, cloud: bool = False) -> dict[str, Any]:
        """The job's progress data at ``now`` (caller holds the lock); a history job's is computed once."""
        if not job.history:
            return self._compute_progress(job, now, cloud=cloud)
        answer = job.answers.get(cloud)
        if answer is None:
            answer = job.answers[cloud] = self._compute_progress(job, now, cloud=cloud)
        return answer

    def _compute_progress(self, job: _Job, now: float, *, cloud: bool = False) -> dict[str, Any]:
        """The job's progress data at ``now`` (caller holds the lock)."""
        elapsed = max(0.0, now - job.created)
        failed = job.fail_at is not None and elapsed >= job.fail_at
        effective = min(elapsed, job.fail_at) if failed and job.fail_at is not None else elapsed
        count = len(job.files)
        slot = job.importing / count if count else 0.0
        import_end = job.pending + job.importing
        end = import_end + job.indexing
        total = sum(job.file_rows)
        details: list[dict[str, Any]] = []
        imported = 0
        failing_index = min(max(int((effective - job.pending) / slot), 0), count - 1) if slot and failed else -1
        if effective >= job.pending or failed:
            for index in range(count):
                start = job.pending + index * slot
                rows = job.file_rows[index]
                detail: dict[str, Any] = {
                    "fileName": job.file_name(index, self.file_name_format),
                    "fileSize": job.file_sizes[index],
                    "progress": 0,
                    "completeTime": "",
                    "state": "Pending",
                    "importedRows": 0,
                    "totalRows": rows,
                }
                if effective >= start + slot and index != failing_index:
                    detail.update(progress=100, state="Completed", importedRows=rows)
                    detail["completeTime"] = self._fmt_time(job.created + start + slot)
                elif effective >= start and index != failing_index:
                    percent = min(int((effective - start) / slot * 100), 99) if slot else 0
                    retrying = self.file_retry and percent < 50 and any("retry" in p.lower() for p in job.files[index])
                    detail.update(
                        progress=0 if retrying else percent,
                        state="Retry" if retrying else "InProgress",
                        importedRows=0 if retrying else percent * rows // 100,
                    )
                if index == failing_index:
                    percent = min(int((effective - start) / slot * 100), 99) if slot and effective >= start else 0
                    detail.update(state="Failed", progress=percent, reason=job.fail_reason)
                    detail["importedRows"] = percent * rows // 100
                imported += detail["importedRows"]
                details.append(detail)
        data: dict[str, Any] = {"jobId": job.job_id, "collectionName": job.collection_name}
        if self.create_time and not cloud:
            data["createTime"] = self._fmt_time(job.created)
        complete_time = ""
        reason = ""
        top = 90 if self.progress_bands == "v2" else 99
        if job.aborted_at is not None and now >= job.aborted_at:
            state, progress, imported_rows, total_rows = "Failed", 0, 0, 0
            reason = "import job aborted"
            complete_time = self._fmt_time(job.aborted_at)
        elif failed:
            state, progress, imported_rows, total_rows = "Failed", 0, 0, 0
            reason = job.fail_reason
            complete_time = self._fmt_time(job.created + (job.fail_at or 0.0))
        elif elapsed < job.pending:
            state, progress, imported_rows, total_rows = "Pending", min(int(10 * elapsed / job.pending), 9), 0, 0
        elif elapsed < import_end:
            fraction = imported / total if total else (elapsed - job.pending) / job.importing
            state, progress, imported_rows, total_rows = "Importing", 10 + min(int(60 * fraction), 59), imported, total
        elif elapsed < end:
            fraction = (elapsed - import_end) / job.indexing if job.indexing else 1.0
            state, progress, imported_rows, total_rows = (
                "Importing",
                70 + min(int((top - 70) * fraction), top - 70),
                total,
                total,
            )
        elif job.staged and (
            job.committed_at is None or now < max(job.created + end, job.committed_at) + self.commit_duration
        ):
            state = "Uncommitted" if job.committed_at is None or now < job.committed_at else "Committing"
            progress, imported_rows, total_rows = 99, total, total
        else:
            state, progress, imported_rows, total_rows = "Completed", 100, total, total
            complete_time = self._fmt_time(self._finished_at(job, now) or job.created + end)
        data.update(
            completeTime=complete_time,
            state=state,
            progress=progress,
            importedRows=imported_rows,
            totalRows=total_rows,
            fileSize=sum(detail["fileSize"] for detail in details),
        )
        if reason:
            data["reason"] = reason
        data["details"] = details
        overrides = dict(job.overrides)
        forced_state = overrides.get("state")
        if forced_state == "Completed":
            data.update(progress=100, importedRows=total, totalRows=total)
            data.pop("reason", None)
        elif forced_state == "Failed":
            data.update(progress=0, importedRows=0, totalRows=0)
        if forced_state in _TERMINAL_STATES and "completeTime" not in overrides and job.forced_finish is not None:
            data["completeTime"] = self._fmt_time(job.forced_finish)
        data.update(overrides)
        return data


def _legacy_cloud_shape(data: dict[str, Any]) -> dict[str, Any]:
    """Older Zilliz getProgress shape (seed zilliz-cloud-get_import_progress.txt)."""

    def ready(progress: Any) -> float | int:
        value = progress if isinstance(progress, int) else 0
        return 1 if value >= 100 else round(value / 100, 2)

    details = [
        {
            "fileName": detail["fileName"].strip("[]"),
            "fileSize": detail["fileSize"],
            "readyPercentage": ready(detail["progress"]),
            "completeTime": detail["completeTime"] or None,
            "errorMessage": detail.get("reason") or None,
        }
        for detail in data.get("details", [])
    ]
    return {
        "collectionName": data["collectionName"],
        "fileName": details[0]["fileName"] if details else "",
        "fileSize": data["fileSize"],
        "readyPercentage": ready(data["progress"]) if data["state"] != "Failed" else 0,
        "completeTime": data["completeTime"] or None,
        "errorMessage": data.get("reason") or None,
        "jobId": data["jobId"],
        "details": details,
    }


def _matches_kind(value: Any, kind: str) -> bool:
    """True if a JSON value decodes into the Go type named by ``kind``."""
    if kind == "string":
        return isinstance(value, str)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "files":
        return isinstance(value, list) and all(
            isinstance(group, list) and all(isinstance(path, str) for path in group) for group in value
        )
    if kind == "options":
        return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
    raise ValueError(kind)


def make_self_signed_cert(tmp_dir: str | os.PathLike[str]) -> tuple[str, str]:
    """Write a self-signed cert and key for localhost / 127.0.0.1 (IP SAN) into ``tmp_dir``; return their paths."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    public_key = key.public_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public_key), critical=False)
        .sign(key, hashes.SHA256())
    )
    directory = Path(tmp_dir)
    directory.mkdir(parents=True, exist_ok=True)
    cert_path = directory / "emulator-cert.pem"
    key_path = directory / "emulator-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(cert_path), str(key_path)
