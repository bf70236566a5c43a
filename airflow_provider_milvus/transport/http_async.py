"""Async HTTP transport on one ``httpx.AsyncClient``, created lazily and reused across polls."""

from __future__ import annotations

import asyncio
import ssl

import httpx

from airflow_provider_milvus.exceptions import MilvusImportError
from airflow_provider_milvus.protocol.base import HttpRequest, HttpResponse
from airflow_provider_milvus.transport.errors import network_error
from airflow_provider_milvus.transport.http_body import BoundedBody


def _ssl_context(verify: bool | str) -> ssl.SSLContext | bool:
    if isinstance(verify, str):
        return ssl.create_default_context(cafile=verify)
    return verify


class AsyncHttpTransport:
    """POSTs requests without blocking the event loop; raises only for network faults."""

    def __init__(self, verify: bool | str = True, client: httpx.AsyncClient | None = None) -> None:
        self._verify = verify
        self._client = client
        self._lock = asyncio.Lock()

    async def client(self) -> httpx.AsyncClient:
        """The shared client; its TLS context (a file read) is built off the event loop."""
        if self._client is None:
            async with self._lock:
                if self._client is None:
                    verify = await asyncio.to_thread(_ssl_context, self._verify)
                    self._client = await asyncio.to_thread(
                        httpx.AsyncClient, verify=verify, follow_redirects=False, trust_env=False
                    )
        return self._client

    async def send(self, request: HttpRequest) -> HttpResponse:
        """One round trip; body reading stops one byte past ``max_response_bytes``."""
        try:
            client = await self.client()  # a CA file that is not one fails here: a clear TLS error too
            async with client.stream(
                request.method,
                request.url,
                content=request.body,
                headers=dict(request.headers),
                timeout=httpx.Timeout(request.timeout),
            ) as answer:
                body = BoundedBody(request.max_response_bytes)
                async for chunk in answer.aiter_bytes():
                    if body.add(chunk):
                        break
                return body.response(answer.status_code, answer.headers)
        except MilvusImportError:
            raise
        except Exception as error:
            raise network_error(error, request.server, request.job_id) from error

    async def aclose(self) -> None:
        """Close the pooled connections."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None
