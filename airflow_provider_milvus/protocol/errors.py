"""Turning what a server answered into the right MilvusImportError: one place for every API."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping
from typing import Any, Final

from airflow_provider_milvus import exceptions as exc

#: Milvus ``merr`` service codes that describe a passing condition (not ready,
#: unavailable, memory/request/rate limits, time-tick delay): worth retrying.
RETRYABLE_MILVUS_CODES: Final = frozenset({1, 2, 3, 4, 7, 8, 11})
#: REST v2 codes: 1800 authentication, 1801 malformed JSON, 1802 missing field, 2100 unknown job (2101 on late
#: 2.6 and 3.0, "importing data failed on server side", with the same words).
REST_AUTH_CODE: Final = 1800
REST_JOB_NOT_FOUND_CODE: Final = 2100
#: REST v2: the server's request limiter (merr.ErrHTTPRateLimit).
REST_RATE_LIMIT_CODE: Final = 1807
#: Zilliz Cloud: illegal API key, and the cloud's rate limit answer.
CLOUD_AUTH_CODES: Final = frozenset({21119, 80001})
CLOUD_RATE_LIMIT_CODES: Final = frozenset({90011})
_NOT_FOUND_WORDS: Final = ("does not exist", "not found", "not exist", "no such job")
#: Not found is said in words under 2100 (up to 2.6.18) and 2101 (later 2.6, 3.0): the words decide.
_JOB_LIMIT_WORDS: Final = ("number of jobs has reached the limit",)
#: 2100 words that are not "unknown job" (a commit of a job that is not staged).
_OTHER_IMPORT_FAILURE_WORDS: Final = ("expected uncommitted",)
_AUTH_WORDS: Final = ("apikey is illegal", "api key is illegal", "unauthenticated", "authenticat", "invalid token")
RETENTION_HINT: Final = (
    "the id is wrong, or the job finished more than dataCoord.import.taskRetention ago "
    "(3 hours by default) and the server has forgotten it"
)


def is_ascii_digits(text: str) -> bool:
    """Only 0-9: ``str.isdigit`` also accepts characters such as '²' that ``int()`` refuses."""
    return text.isascii() and text.isdigit()


def scrub(error: exc.MilvusImportError, secrets: tuple[str, ...]) -> exc.MilvusImportError:
    """Remove the connection's secrets from an error a server's words went into (some echo headers)."""
    if not secrets:
        return error
    text = str(error.args[0]) if error.args else ""
    said = error.server_message or ""
    for secret in secrets:
        if secret and (secret in text or secret in said):
            text, said = text.replace(secret, "***"), said.replace(secret, "***")
    error.args = (text, *error.args[1:])
    error.server_message = said or error.server_message
    return error


def sanitize(text: str, limit: int = 300) -> str:
    """A server's words made safe for one log line: printable, single-line, bounded."""
    cleaned = "".join(ch if ch.isprintable() else " " for ch in text).strip()
    cleaned = " ".join(cleaned.split())
    return cleaned if len(cleaned) <= limit else cleaned[:limit] + "..."


def retry_after_seconds(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta seconds or an HTTP date), None if absent or unreadable."""
    value = headers.get("retry-after")
    if not value:
        return None
    value = value.strip()
    if is_ascii_digits(value):
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def http_status_error(
    status: int, body_text: str, headers: Mapping[str, str], *, server: str, job_id: str | None, what: str
) -> exc.MilvusImportError:
    """The error for a non-200 HTTP answer."""
    said = sanitize(body_text) or None
    kwargs: dict[str, Any] = {"server": server, "job_id": job_id, "code": f"HTTP {status}", "server_message": said}
    if status == 404:
        return exc.MilvusImportRouteNotFoundError(f"{what}: the server does not serve this route", **kwargs)
    if status in (401, 403):
        return exc.MilvusImportAuthError(
            f"{what}: the server refused the credentials; check the connection's token or login and password",
            **kwargs,
        )
    if status == 408:
        return exc.MilvusImportTimeoutError(f"{what}: the server timed the request out", **kwargs)
    if status == 429:
        return exc.MilvusImportServerBusyError(
            f"{what}: the server is rate limiting requests", retry_after=retry_after_seconds(headers), **kwargs
        )
    if status >= 500:
        return exc.MilvusImportServerBusyError(
            f"{what}: the server or a proxy in front of it failed", retry_after=retry_after_seconds(headers), **kwargs
        )
    return exc.MilvusImportRequestError(f"{what}: the server rejected the request", **kwargs)


def milvus_code_error(
    code: int,
    message: str,
    *,
    server: str,
    job_id: str | None,
    what: str,
    retriable: bool = False,
    service_codes: bool = True,
) -> exc.MilvusImportError:
    """The error for a Milvus / Zilliz status with a non-zero code (gRPC Status or REST envelope).

    ``service_codes`` reads ``code`` as a ``merr`` code (Milvus 2.3+); False for
    the deprecated ``error_code`` enum, whose numbers mean other things.
    """
    said = sanitize(message)
    lowered = said.lower()
    kwargs: dict[str, Any] = {"server": server, "job_id": job_id, "code": code, "server_message": said or None}
    if any(w in lowered for w in _JOB_LIMIT_WORDS):
        # "The number of jobs has reached the limit, please try again later": 2100 up to 2.5, 2101 on 2.6+.
        return exc.MilvusImportServerBusyError(f"{what}: the server runs as many import jobs as it can", **kwargs)
    if job_id is not None and (
        any(w in lowered for w in _NOT_FOUND_WORDS)
        or (code == REST_JOB_NOT_FOUND_CODE and not any(w in lowered for w in _OTHER_IMPORT_FAILURE_WORDS))
    ):
        return exc.MilvusImportJobNotFoundError(
            f"{what}: the server does not know this job ({RETENTION_HINT})", **kwargs
        )
    if code == REST_AUTH_CODE or code in CLOUD_AUTH_CODES or any(w in lowered for w in _AUTH_WORDS):
        return exc.MilvusImportAuthError(
            f"{what}: the server refused the credentials; check the connection's token or API key", **kwargs
        )
    if (
        retriable
        or (service_codes and code in RETRYABLE_MILVUS_CODES)
        or code in CLOUD_RATE_LIMIT_CODES
        or code == REST_RATE_LIMIT_CODE
        or "rate limit" in lowered
        or "limiter" in lowered
    ):
        return exc.MilvusImportServerBusyError(f"{what}: the server is busy or not ready", **kwargs)
    return exc.MilvusImportRequestError(f"{what}: the server rejected the request", **kwargs)


def invalid_answer(
    what: str, problem: str, *, server: str, job_id: str | None, body: bytes = b""
) -> exc.MilvusImportError:
    """The error for an answer that cannot be read; quotes the start of the body."""
    snippet = sanitize(body[:200].decode("utf-8", "replace")) if body else None
    return exc.MilvusImportInvalidResponseError(
        f"{what}: unreadable answer ({problem})", server=server, job_id=job_id, server_message=snippet
    )
