"""Connection settings: the fields of a ``milvus`` connection read into one checked, plain value.

Pure: no Airflow, no I/O but reading the CA file to check it holds a certificate. The hook hands
in the connection's fields; everything wrong is reported here, before any
request is sent, as a :class:`MilvusImportConfigError` that names the field.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final
from urllib.parse import urlsplit

from airflow_provider_milvus.exceptions import MilvusImportConfigError

DEFAULT_PORT: Final = 19530
DEFAULT_TIMEOUT: Final = 30.0
DEFAULT_CLOUD_ENDPOINT: Final = "https://api.cloud.zilliz.com"
PROTOCOLS: Final = ("auto", "grpc", "rest", "cloud")
EXTRA_PREFIX: Final = "extra__milvus__"
EXTRA_KEYS: Final = (
    "token",
    "db_name",
    "protocol",
    "secure",
    "server_ca",
    "cloud_api_key",
    "cloud_cluster_id",
    "cloud_endpoint",
    "timeout",
)
_SCHEMES: Final = {"http": False, "https": True, "tcp": False, "grpc": False, "grpcs": True, "milvus": False}
_TRUE: Final = {"true", "1", "yes", "on"}
_FALSE: Final = {"false", "0", "no", "off", ""}
#: A CA bundle larger than this is no CA bundle (the system's is about 220 KB).
MAX_CA_BYTES: Final = 4 * 1024 * 1024
PEM_CERTIFICATE: Final = "-----BEGIN CERTIFICATE-----"


@dataclass(frozen=True)
class MilvusSettings:
    """Everything needed to reach one Milvus deployment; secrets are hidden from ``repr``."""

    host: str
    port: int
    secure: bool
    protocol: str = "auto"
    token: str = field(default="", repr=False)
    db_name: str = ""
    server_ca: str | None = None
    cloud_api_key: str = field(default="", repr=False)
    cloud_cluster_id: str = ""
    cloud_endpoint: str = DEFAULT_CLOUD_ENDPOINT
    timeout: float = DEFAULT_TIMEOUT

    @property
    def http_base_url(self) -> str:
        """Base URL of the RESTful API v2 (same port as gRPC)."""
        scheme = "https" if self.secure else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"

    @property
    def grpc_target(self) -> str:
        """``host:port`` for a gRPC channel."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def server(self) -> str:
        """How errors and logs name the server (never with credentials)."""
        if self.protocol == "cloud":
            return f"{self.cloud_endpoint} (cluster {self.cloud_cluster_id})"
        return self.http_base_url

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every secret these settings hold, for Airflow's secret masker."""
        return tuple(s for s in (self.token, self.cloud_api_key) if s)

    @property
    def verify(self) -> bool | str:
        """TLS verification for HTTP clients: the CA file when given, else the system store."""
        return self.server_ca or True

    def with_protocol(self, protocol: str) -> MilvusSettings:
        """A copy that speaks ``protocol`` (what auto-detection found)."""
        return replace(self, protocol=protocol)


def read_extra(extra: Mapping[str, Any], key: str) -> Any:
    """An extra by its plain name or Airflow's prefixed form (``extra__milvus__<key>``); plain wins."""
    value = extra.get(key)
    if value is None or value == "":
        value = extra.get(EXTRA_PREFIX + key)
    return value


def _as_str(name: str, value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise MilvusImportConfigError(f"connection field {name!r} must be a string, got {type(value).__name__}")
    return value.strip()


def _as_bool(name: str, value: Any) -> bool | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise MilvusImportConfigError(f"connection field {name!r} must be true or false, got {value!r}")


def _as_timeout(value: Any) -> float:
    if value is None or value == "":
        return DEFAULT_TIMEOUT
    if isinstance(value, bool):
        raise MilvusImportConfigError(f"connection field 'timeout' must be a number of seconds, got {value!r}")
    try:
        seconds = float(value)
    except (TypeError, ValueError, OverflowError):
        raise MilvusImportConfigError(
            f"connection field 'timeout' must be a number of seconds, got {value!r}"
        ) from None
    if not 0 < seconds <= 86400 or seconds != seconds:
        raise MilvusImportConfigError(f"connection field 'timeout' must be between 0 and 86400 seconds, got {value!r}")
    return seconds


def _as_port(value: Any, source: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise MilvusImportConfigError(f"{source} must be a port number, got {value!r}")
    try:
        port = int(value)
    except (TypeError, ValueError, OverflowError):
        raise MilvusImportConfigError(f"{source} must be a port number, got {value!r}") from None
    if not 0 < port < 65536:
        raise MilvusImportConfigError(f"{source} must be between 1 and 65535, got {port}")
    return port


def check_ca_file(path: str) -> None:
    """Refuse a ``server_ca`` that is missing, unreadable or holds no PEM certificate (a key, junk), naming it.

    Read when the connection is read, so a wrong file is reported as what it is, never later as a
    network fault or a missing CA.
    """
    problem = f"connection extra 'server_ca' names {path!r}"
    if not os.path.isfile(path):
        raise MilvusImportConfigError(f"{problem}, which is not a readable file")
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_CA_BYTES + 1)
    except OSError as error:
        raise MilvusImportConfigError(f"{problem}, which cannot be read: {error.strerror}") from None
    if len(data) > MAX_CA_BYTES:
        raise MilvusImportConfigError(f"{problem}, which is larger than {MAX_CA_BYTES} bytes: not a CA certificate")
    text = data.decode("ascii", "replace")
    if PEM_CERTIFICATE not in text:
        kind = "a private key" if "PRIVATE KEY-----" in text else "no PEM certificate"
        raise MilvusImportConfigError(
            f"{problem}, which holds {kind}: give the CA certificate (PEM, '{PEM_CERTIFICATE}')"
        )
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cadata=text)
    except (ssl.SSLError, ValueError) as error:
        raise MilvusImportConfigError(f"{problem}, whose certificate cannot be loaded: {error}") from None


def parse_settings(
    *,
    host: Any,
    port: Any = None,
    login: Any = None,
    password: Any = None,
    schema: Any = None,
    extra: Mapping[str, Any] | None = None,
) -> MilvusSettings:
    """Read and check a connection's fields; raise :class:`MilvusImportConfigError` naming what is wrong."""
    extra = extra or {}
    if not isinstance(extra, Mapping):
        raise MilvusImportConfigError(f"connection extra must be a JSON object, got {type(extra).__name__}")
    unknown_type = [k for k in extra if not isinstance(k, str)]
    if unknown_type:
        raise MilvusImportConfigError("connection extra keys must be strings")

    protocol = (_as_str("protocol", read_extra(extra, "protocol")) or "auto").lower()
    if protocol not in PROTOCOLS:
        raise MilvusImportConfigError(f"connection extra 'protocol' is {protocol!r}; use one of {', '.join(PROTOCOLS)}")
    cloud_api_key = _as_str("cloud_api_key", read_extra(extra, "cloud_api_key"))
    cloud_cluster_id = _as_str("cloud_cluster_id", read_extra(extra, "cloud_cluster_id"))
    cloud_endpoint = (_as_str("cloud_endpoint", read_extra(extra, "cloud_endpoint")) or DEFAULT_CLOUD_ENDPOINT).rstrip(
        "/"
    )
    if protocol == "auto" and cloud_api_key and cloud_cluster_id:
        protocol = "cloud"
    if protocol == "cloud":
        missing = [n for n, v in (("cloud_api_key", cloud_api_key), ("cloud_cluster_id", cloud_cluster_id)) if not v]
        if missing:
            raise MilvusImportConfigError(
                f"protocol 'cloud' needs the connection extras {' and '.join(missing)} "
                "(the Zilliz Cloud API key and cluster id)"
            )
        try:
            endpoint = urlsplit(cloud_endpoint)
            _ = endpoint.port  # raises ValueError for a port that is not one
            valid = endpoint.scheme in ("http", "https") and bool(endpoint.hostname)
        except ValueError:
            valid = False
        if not valid:
            raise MilvusImportConfigError(
                f"connection extra 'cloud_endpoint' must be an http(s) URL such as {DEFAULT_CLOUD_ENDPOINT}"
            )

    host_text = _as_str("host", host)
    if not host_text:
        if protocol != "cloud":
            raise MilvusImportConfigError(
                "the milvus connection has no host: set it to the Milvus URI, e.g. http://milvus:19530"
            )
        host_text = urlsplit(cloud_endpoint).hostname or ""

    secure_extra = _as_bool("secure", read_extra(extra, "secure"))
    name, uri_port, uri_secure = _split_host(host_text)
    port_number = uri_port or _as_port(port, "connection field 'port'")
    if port_number is None:
        port_number = 443 if uri_secure and "://" in host_text else DEFAULT_PORT
    secure = bool(uri_secure or secure_extra)

    token = _as_str("token", read_extra(extra, "token"))
    login_text = _as_str("login", login)
    if not token and login_text:
        token = f"{login_text}:{_as_str('password', password)}"
    elif not token and password:
        token = _as_str("password", password)

    db_name = _as_str("db_name", read_extra(extra, "db_name")) or _as_str("schema", schema)

    server_ca = _as_str("server_ca", read_extra(extra, "server_ca")) or None
    if server_ca is not None:
        check_ca_file(server_ca)

    return MilvusSettings(
        host=name,
        port=port_number,
        secure=secure,
        protocol=protocol,
        token=token,
        db_name=db_name,
        server_ca=server_ca,
        cloud_api_key=cloud_api_key,
        cloud_cluster_id=cloud_cluster_id,
        cloud_endpoint=cloud_endpoint,
        timeout=_as_timeout(read_extra(extra, "timeout")),
    )


def _split_host(text: str) -> tuple[str, int | None, bool]:
    """``(host name, port or None, TLS implied)`` from a URI or a bare host name."""
    if "://" not in text:
        text = "tcp://" + text
    try:
        parts = urlsplit(text)
        uri_port = parts.port
    except ValueError as exc:
        raise MilvusImportConfigError(f"connection host is not a valid URI: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in _SCHEMES:
        raise MilvusImportConfigError(
            f"connection host has the scheme {scheme!r}; use http://, https:// or a bare host name"
        )
    if not parts.hostname:
        raise MilvusImportConfigError(
            "connection host has no host name: set it to the Milvus URI, e.g. http://milvus:19530"
        )
    if parts.path not in ("", "/"):
        raise MilvusImportConfigError(
            f"connection host must not carry a path ({parts.path!r}); give the database as the extra 'db_name'"
        )
    if any(c.isspace() for c in parts.hostname):
        raise MilvusImportConfigError("connection host name contains white space")
    return parts.hostname, uri_port, _SCHEMES[scheme]
