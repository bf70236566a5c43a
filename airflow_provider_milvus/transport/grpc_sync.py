"""Blocking gRPC transport on one grpcio channel: raw bytes in, raw bytes or a status out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import grpc

from airflow_provider_milvus.protocol.base import GrpcRequest, GrpcResponse
from airflow_provider_milvus.transport.grpc_channel import CHANNEL_OPTIONS, credentials


class SyncGrpcTransport:
    """Makes unary calls; every outcome, error statuses included, comes back as a GrpcResponse."""

    def __init__(self, target: str, *, secure: bool = False, server_ca: str | None = None) -> None:
        if secure:
            self.channel = grpc.secure_channel(target, credentials(server_ca), options=CHANNEL_OPTIONS)
        else:
            self.channel = grpc.insecure_channel(target, options=CHANNEL_OPTIONS)
        self._calls: dict[str, Callable[..., Any]] = {}

    def send(self, request: GrpcRequest) -> GrpcResponse:
        """One call with the request's deadline and metadata."""
        call: Callable[..., Any] | None = self._calls.get(request.method)
        if call is None:
            call = cast(Callable[..., Any], self.channel.unary_unary(request.method))
            self._calls[request.method] = call
        try:
            body = call(request.body, timeout=request.timeout, metadata=request.metadata)
        except grpc.RpcError as error:
            return GrpcResponse(code=error.code().name, details=error.details() or "")  # type: ignore[attr-defined]
        return GrpcResponse(code="OK", body=body)

    def close(self) -> None:
        """Close the channel."""
        self.channel.close()
