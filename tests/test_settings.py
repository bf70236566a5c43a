"""Reading a milvus connection's fields: every form, every default, every mistake named."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from airflow_provider_milvus.exceptions import MilvusImportConfigError
from airflow_provider_milvus.settings import parse_settings
from tests.emulator.server import make_self_signed_cert


@pytest.mark.parametrize(
    ("host", "port", "expected_target", "expected_base", "secure"),
    [
        ("http://milvus:19530", None, "milvus:19530", "http://milvus:19530", False),
        (
            "https://in01-abc.zillizcloud.com",
            None,
            "in01-abc.zillizcloud.com:443",
            "https://in01-abc.zillizcloud.com:443",
            True,
        ),
        (
            "https://in01-abc.zillizcloud.com:19532",
            None,
            "in01-abc.zillizcloud.com:19532",
            "https://in01-abc.zillizcloud.com:19532",
            True,
        ),
        ("milvus", None, "milvus:19530", "http://milvus:19530", False),
        ("milvus", 29530, "milvus:29530", "http://milvus:29530", False),
        ("milvus:1234", 29530, "milvus:1234", "http://milvus:1234", False),
        ("tcp://10.0.0.5:19530", None, "10.0.0.5:19530", "http://10.0.0.5:19530", False),
        ("http://[::1]:19530", None, "[::1]:19530", "http://[::1]:19530", False),
        ("  http://milvus:19530/  ", None, "milvus:19530", "http://milvus:19530", False),
    ],
)
def test_host_forms(host: str, port: Any, expected_target: str, expected_base: str, secure: bool) -> None:
    settings = parse_settings(host=host, port=port)
    assert settings.grpc_target == expected_target
    assert settings.http_base_url == expected_base
    assert settings.secure is secure


def test_defaults() -> None:
    s = parse_settings(host="milvus")
    assert (s.protocol, s.token, s.db_name, s.timeout, s.server_ca) == ("auto", "", "", 30.0, None)
    assert s.cloud_endpoint == "https://api.cloud.zilliz.com"


def test_login_password_become_the_token_and_token_wins() -> None:
    assert parse_settings(host="m", login="root", password="Milvus").token == "root:Milvus"
    assert parse_settings(host="m", login="root", password="Milvus", extra={"token": "apikey"}).token == "apikey"


@pytest.mark.parametrize("key", ["token", "extra__milvus__token"])
def test_plain_and_prefixed_extras(key: str) -> None:
    assert parse_settings(host="m", extra={key: "T"}).token == "T"


def test_plain_extra_wins_over_prefixed() -> None:
    assert parse_settings(host="m", extra={"db_name": "a", "extra__milvus__db_name": "b"}).db_name == "a"


def test_schema_is_the_database_fallback() -> None:
    assert parse_settings(host="m", schema="analytics").db_name == "analytics"
    assert parse_settings(host="m", schema="x", extra={"db_name": "y"}).db_name == "y"


@pytest.mark.parametrize(
    ("value", "expected"), [(True, True), ("true", True), ("1", True), (False, False), ("no", False)]
)
def test_secure(value: Any, expected: bool) -> None:
    assert parse_settings(host="m", extra={"secure": value}).secure is expected


def test_cloud_is_chosen_automatically_with_key_and_cluster() -> None:
    s = parse_settings(host="", extra={"cloud_api_key": "k", "cloud_cluster_id": "in01-x"})
    assert s.protocol == "cloud"
    assert "k" not in repr(s)


def test_secrets_are_not_in_repr() -> None:
    s = parse_settings(host="m", login="root", password="hunter2", extra={"cloud_api_key": "sk-123"})
    assert "hunter2" not in repr(s) and "sk-123" not in repr(s)
    assert set(s.secrets) == {"root:hunter2", "sk-123"}


def test_server_ca(tmp_path: Path) -> None:
    ca, _ = make_self_signed_cert(tmp_path)
    assert parse_settings(host="https://m", extra={"server_ca": ca}).verify == ca
    assert parse_settings(host="https://m", extra={"extra__milvus__server_ca": ca}).server_ca == ca
    assert parse_settings(host="https://m").verify is True


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("key", "holds a private key"),
        ("this is not a certificate\n", "holds no PEM certificate"),
        ("-----BEGIN CERTIFICATE-----\nbm90IGRlcg==\n-----END CERTIFICATE-----\n", "cannot be loaded"),
        ("", "holds no PEM certificate"),
        ("directory", "not a readable file"),
        ("missing", "not a readable file"),
    ],
)
def test_server_ca_that_is_not_a_certificate_is_refused_when_read(tmp_path: Path, content: str, words: str) -> None:
    """A key, junk, a directory or a missing file: refused at once, naming the extra and the path."""
    _cert, key = make_self_signed_cert(tmp_path / "tls")
    path = tmp_path / "ca.pem"
    if content == "key":
        path = Path(key)
    elif content == "directory":
        path = tmp_path
    elif content != "missing":
        path.write_text(content)
    with pytest.raises(MilvusImportConfigError) as caught:
        parse_settings(host="https://m", extra={"server_ca": str(path)})
    assert "'server_ca'" in str(caught.value) and str(path) in str(caught.value) and words in str(caught.value)
    assert not caught.value.retryable


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"host": None}, "has no host"),
        ({"host": "   "}, "has no host"),
        ({"host": "ftp://m"}, "scheme 'ftp'"),
        ({"host": "unix:///tmp/milvus.sock"}, "scheme 'unix'"),
        ({"host": "http://m/db"}, "must not carry a path"),
        ({"host": "http://:19530"}, "no host name"),
        ({"host": "http://m:99999"}, "not a valid URI"),
        ({"host": "m", "port": "abc"}, "port"),
        ({"host": "m", "port": 0}, "port"),
        ({"host": "m", "extra": {"protocol": "soap"}}, "'protocol' is 'soap'"),
        ({"host": "m", "extra": {"protocol": "cloud"}}, "cloud_api_key and cloud_cluster_id"),
        ({"host": "m", "extra": {"protocol": "cloud", "cloud_api_key": "k"}}, "cloud_cluster_id"),
        ({"host": "m", "extra": {"protocol": "cloud", "cloud_cluster_id": "c"}}, "cloud_api_key"),
        (
            {
                "host": "m",
                "extra": {
                    "protocol": "cloud",
                    "cloud_api_key": "k",
                    "cloud_cluster_id": "c",
                    "cloud_endpoint": "api.cloud.zilliz.com",
                },
            },
            "cloud_endpoint",
        ),
        ({"host": "m", "extra": {"token": 5}}, "'token' must be a string"),
        ({"host": "m", "extra": {"secure": "maybe"}}, "'secure' must be true or false"),
        ({"host": "m", "extra": {"timeout": "soon"}}, "'timeout'"),
        ({"host": "m", "extra": {"timeout": -1}}, "'timeout'"),
        ({"host": "m", "extra": {"timeout": True}}, "'timeout'"),
        ({"host": "m", "extra": {"server_ca": "/nonexistent/ca.pem"}}, "server_ca"),
        ({"host": "m", "extra": ["token"]}, "extra must be a JSON object"),
        ({"host": 42}, "'host' must be a string"),
    ],
)
def test_mistakes_are_named(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(MilvusImportConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_settings(**fields)
