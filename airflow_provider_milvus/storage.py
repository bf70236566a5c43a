"""Bucket keys for Zilliz Cloud imports, from an Airflow connection (``storage_conn_id``), never from DAG code.

An ``aws`` connection (login = access key id, password = secret access key, extra ``aws_session_token``
optional) holds S3 keys, or the HMAC keys of a Google Cloud Storage service account, which Zilliz Cloud
takes the same way. The keys are registered with Airflow's secret masker as soon as they are read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_provider_milvus.exceptions import MilvusImportConfigError
from airflow_provider_milvus.protocol.cloud import BucketCredentials

#: Connection types whose keys map onto Zilliz Cloud's ``accessKey`` / ``secretKey`` / ``token``.
SUPPORTED_CONN_TYPES = ("aws",)


def credentials_from_connection(
    conn_id: str, conn_type: str | None, login: Any, password: Any, extra: Any
) -> BucketCredentials:
    """The keys of connection ``conn_id``, or an error naming it and saying what is missing."""
    if conn_type not in SUPPORTED_CONN_TYPES:
        raise MilvusImportConfigError(
            f"storage connection {conn_id!r} has type {conn_type!r}: bucket keys are read from an 'aws' connection "
            "(login = access key id, password = secret access key; also for Google Cloud Storage HMAC keys)"
        )
    token = extra.get("aws_session_token") if isinstance(extra, Mapping) else None
    if token is not None and not isinstance(token, str):
        raise MilvusImportConfigError(f"storage connection {conn_id!r}: extra aws_session_token must be a string")
    fields = (("login (access key id)", login), ("password (secret access key)", password))
    missing = [name for name, value in fields if not value]
    if missing:
        raise MilvusImportConfigError(f"storage connection {conn_id!r} has no {' and no '.join(missing)}")
    credentials = BucketCredentials(str(login), str(password), token or "")
    _mask(credentials)
    return credentials


def bucket_credentials(conn_id: str) -> BucketCredentials:
    """Read connection ``conn_id`` (blocking lookup) into bucket keys; a missing connection is named."""
    from airflow.providers.common.compat.sdk import BaseHook

    try:
        conn = BaseHook.get_connection(conn_id)
    except Exception as error:  # AirflowNotFoundException, or the task SDK's own: name the connection either way
        raise MilvusImportConfigError(f"storage connection {conn_id!r} cannot be read: {error}") from None
    return credentials_from_connection(conn_id, conn.conn_type, conn.login, conn.password, conn.extra_dejson)


def _mask(credentials: BucketCredentials) -> None:
    """Register the keys with Airflow's secret masker: no log line, rendered field or error shows them."""
    try:
        from airflow.providers.common.compat.sdk import mask_secret
    except ImportError:  # pragma: no cover - every supported Airflow has it
        return
    for secret in credentials.secrets:
        mask_secret(secret)
