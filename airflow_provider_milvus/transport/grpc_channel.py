"""What the sync and async gRPC transports share: channel options and TLS credentials."""

from __future__ import annotations

from typing import Final

import grpc

from airflow_provider_milvus.exceptions import MilvusImportConfigError

CHANNEL_OPTIONS: Final = (
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
    ("grpc.keepalive_time_ms", 55_000),
    ("grpc.keepalive_timeout_ms", 20_000),
    ("grpc.enable_retries", 0),
)


def credentials(server_ca: str | None) -> grpc.ChannelCredentials:
    """TLS credentials that verify the server with ``server_ca`` (PEM) or the system roots."""
    if server_ca is None:
        return grpc.ssl_channel_credentials()
    try:
        with open(server_ca, "rb") as handle:
            return grpc.ssl_channel_credentials(root_certificates=handle.read())
    except OSError as error:
        raise MilvusImportConfigError(f"cannot read the CA certificate {server_ca!r}: {error.strerror}") from None
