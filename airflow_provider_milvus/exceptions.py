"""The MilvusImportError family.

Every error says which job, which server and what the server said, in words a
DAG author can act on, and never carries a secret. ``retryable`` separates
what is worth another try (the network, an overloaded server) from what is
not (credentials, an unknown job, an invalid request).
"""

from __future__ import annotations


class MilvusImportError(Exception):
    """Base class of every error this provider raises about an import."""

    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        job_id: str | None = None,
        server: str | None = None,
        code: int | str | None = None,
        server_message: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.job_id = job_id
        self.server = server
        self.code = code
        self.server_message = server_message
        self.retry_after = retry_after
        parts = [message]
        if job_id:
            parts.append(f"job {job_id}")
        if server:
            parts.append(f"server {server}")
        if server_message:
            said = f"server said: {server_message!r}"
            if code is not None:
                said = f"server said (code {code}): {server_message!r}"
            parts.append(said)
        elif code is not None:
            parts.append(f"code {code}")
        super().__init__("; ".join(parts))


class MilvusImportConfigError(MilvusImportError, ValueError):
    """The connection or the arguments are wrong: fix the configuration, retrying will not help."""


class MilvusImportRetryableError(MilvusImportError):
    """A fault that may pass: connection refused or reset, a timeout, 408/429/5xx, gRPC UNAVAILABLE."""

    retryable = True


class MilvusImportConnectionError(MilvusImportRetryableError):
    """The server could not be reached or the connection broke."""


class MilvusImportTimeoutError(MilvusImportRetryableError):
    """A request took longer than its deadline."""


class MilvusImportServerBusyError(MilvusImportRetryableError):
    """The server or a proxy in front of it is overloaded or failing (408, 429, 5xx, retriable status)."""


class MilvusImportInvalidResponseError(MilvusImportRetryableError):
    """The answer could not be read (HTML, truncated or malformed JSON, wrong types)."""


class MilvusImportAuthError(MilvusImportError):
    """The server refused the credentials (401/403, gRPC UNAUTHENTICATED/PERMISSION_DENIED)."""


class MilvusImportJobNotFoundError(MilvusImportError):
    """The server does not know the job id (a wrong id, or a finished job past its retention)."""


class MilvusImportRequestError(MilvusImportError):
    """The server rejected the request as invalid."""


class MilvusImportRouteNotFoundError(MilvusImportError):
    """The server does not serve this route (HTTP 404): an older server, or not the API we thought."""


__all__ = [
    "MilvusImportAuthError",
    "MilvusImportConfigError",
    "MilvusImportConnectionError",
    "MilvusImportError",
    "MilvusImportInvalidResponseError",
    "MilvusImportJobNotFoundError",
    "MilvusImportRequestError",
    "MilvusImportRetryableError",
    "MilvusImportRouteNotFoundError",
    "MilvusImportServerBusyError",
    "MilvusImportTimeoutError",
]
