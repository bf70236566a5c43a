"""What both HTTP transports do with an answer: keep at most ``limit`` + 1 bytes of it."""

from __future__ import annotations

from collections.abc import Mapping

from airflow_provider_milvus.protocol.base import HttpResponse


class BoundedBody:
    """Collects an answer's chunks, stopping one past the limit (the parser refuses what is too big)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.chunks: list[bytes] = []
        self.size = 0

    def add(self, chunk: bytes) -> bool:
        """Keep ``chunk``; True once past the limit (stop reading)."""
        self.chunks.append(chunk)
        self.size += len(chunk)
        return self.size > self.limit

    def response(self, status: int, headers: Mapping[str, str]) -> HttpResponse:
        """The answer as plain data, header names in lower case."""
        return HttpResponse(
            status=status, body=b"".join(self.chunks), headers={k.lower(): v for k, v in headers.items()}
        )
