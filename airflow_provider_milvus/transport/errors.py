"""Network faults of any transport as MilvusImportErrors (no secret can reach these messages)."""

from __future__ import annotations

import ssl

from airflow_provider_milvus import exceptions as exc
from airflow_provider_milvus.protocol.errors import sanitize


def _is_tls_failure(error: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLError) or "CERTIFICATE_VERIFY_FAILED" in str(current):
            return True
        current = current.__cause__ or current.__context__
        if current is None and error.args and isinstance(error.args[0], BaseException):
            current = error.args[0]
    return False


def _is_timeout(error: BaseException) -> bool:
    names = {cls.__name__ for cls in type(error).__mro__}
    return bool(names & {"Timeout", "TimeoutException", "TimeoutError", "ReadTimeout", "ConnectTimeout"})


def _root_cause(error: BaseException) -> BaseException:
    """The innermost cause (requests and urllib3 wrap the OS error several times)."""
    seen: set[int] = set()
    current = error
    while id(current) not in seen:
        seen.add(id(current))
        inner = current.__cause__ or current.__context__
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException):
            inner = reason
        elif inner is None and current.args and isinstance(current.args[0], BaseException):
            inner = current.args[0]
        if inner is None:
            break
        current = inner
    return current


def network_error(error: BaseException, server: str, job_id: str | None) -> exc.MilvusImportError:
    """Classify a transport exception: TLS refusal (not retryable), timeout, or connection fault."""
    cause = _root_cause(error)
    detail = f"{type(error).__name__}: {sanitize(str(cause), 200)}"
    if _is_tls_failure(error):
        return exc.MilvusImportConfigError(
            f"TLS verification of the server failed ({detail}); "
            "give its CA certificate as the connection extra 'server_ca'",
            server=server,
            job_id=job_id,
        )
    if _is_timeout(error):
        return exc.MilvusImportTimeoutError(
            f"no answer within the request timeout ({detail})", server=server, job_id=job_id
        )
    return exc.MilvusImportConnectionError(
        f"could not talk to the server: refused, reset or unreachable ({detail})", server=server, job_id=job_id
    )
