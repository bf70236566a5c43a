"""The plain data the sans-I/O core speaks: requests to send, answers received, and operations.

An *operation* is a generator that yields requests and receives answers, and
returns its result: multi-step logic (a fallback route, paging) is written
once here and driven by both the sync and the async transports.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")

#: Answers larger than this are refused: no import answer comes near it.
MAX_RESPONSE_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class HttpRequest:
    """One JSON POST to send; ``job_id`` and ``server`` only give errors their context."""

    url: str
    headers: Mapping[str, str]
    body: bytes
    timeout: float
    server: str
    job_id: str | None = None
    method: str = "POST"
    max_response_bytes: int = MAX_RESPONSE_BYTES

    def __repr__(self) -> str:  # headers carry the token: never print them
        return f"HttpRequest({self.method} {self.url}, {len(self.body)} bytes)"


@dataclass(frozen=True)
class HttpResponse:
    """What came back: status, headers (lower-case names) and up to ``max_response_bytes`` + 1 of body."""

    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class GrpcRequest:
    """One unary gRPC call to make: method path, serialized request, metadata and deadline."""

    method: str
    body: bytes
    metadata: tuple[tuple[str, str], ...]
    timeout: float
    server: str
    job_id: str | None = None

    def __repr__(self) -> str:  # metadata carries the token: never print it
        return f"GrpcRequest({self.method}, {len(self.body)} bytes)"


@dataclass(frozen=True)
class GrpcResponse:
    """The outcome of one call: ``code`` is the gRPC status name ("OK" on success)."""

    code: str
    body: bytes = b""
    details: str = ""


@dataclass(frozen=True)
class Sleep:
    """An instruction to the driver: wait this many seconds (rate limits, paging pauses)."""

    seconds: float


HttpOperation = Generator[HttpRequest | Sleep, HttpResponse | None, T]
GrpcOperation = Generator[GrpcRequest | Sleep, GrpcResponse | None, T]
