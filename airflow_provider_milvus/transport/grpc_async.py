"""Async gRPC transport on one ``grpc.aio`` channel, created lazily inside the running loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, cast

import grpc
import grpc.aio

from airflow_provider_milvus.protocol.base import GrpcRequest, GrpcResponse
from airflow_provider_milvus.transport.grpc_channel import CHANNEL_OPTIONS, credentials


class AsyncGrpcTransport:
    """Makes unary calls without blocking the event loop; error statuses come back as GrpcResponses."""

    def __init__(self, target: str, *, secure: bool = False, server_ca: str | None = None) -> None:
        self.target = target
        self.secure = secure
        self.server_ca = server_ca
        self._channel: grpc.aio.Channel | None = None
        self._calls: dict[str, Callable[..., Any]] = {}
        self._lock = asyncio.Lock()

    async def channel(self) -> grpc.aio.Channel:
        """The shared channel (the CA file is read off the event loop)."""
        if self._channel is None:
            async with self._lock:
                if self._channel is None:
                    if self.secure:
                        creds = await asyncio.to_thread(credentials, self.server_ca)
                        self._channel = grpc.aio.secure_channel(self.target, creds, options=CHANNEL_OPTIONS)
                    else:
                        self._channel = grpc.aio.insecure_channel(self.target, options=CHANNEL_OPTIONS)
        return self._channel

    async def send(self, request: GrpcRequest) -> GrpcResponse:
        """One call with the request's deadline and metadata."""
        call: Callable[..., Any] | None = self._calls.get(request.method)
        if call is None:
            channel = await self.channel()
            call = cast(Callable[..., Any], channel.unary_unary(request.method))
            self._calls[request.method] = call
        try:
            body = await call(request.body, timeout=request.timeout, metadata=request.metadata)
        except grpc.aio.AioRpcError as error:
            return GrpcResponse(code=error.code().name, details=error.details() or "")
        return GrpcResponse(code="OK", body=body)

    async def aclose(self) -> None:
        """Close the channel."""
        if self._channel is not None:
            await self._channel.close()
            self._channel = None
            self._calls.clear()
