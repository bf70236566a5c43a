"""Bucket keys from an ``aws`` connection: read, registered with Airflow's secret masker, refused with the reason."""

from __future__ import annotations

import pytest

from airflow_provider_milvus.exceptions import MilvusImportConfigError
from airflow_provider_milvus.storage import credentials_from_connection


def test_keys_are_read_and_every_one_is_registered_with_the_masker(monkeypatch: pytest.MonkeyPatch) -> None:
    masked: list[str] = []
    monkeypatch.setattr("airflow.providers.common.compat.sdk.mask_secret", lambda s, *a, **k: masked.append(s))
    keys = credentials_from_connection("b", "aws", "AKIA1", "secret-2", {"aws_session_token": "session-3"})
    assert (keys.access_key, keys.secret_key, keys.token) == ("AKIA1", "secret-2", "session-3")
    assert set(masked) == {"AKIA1", "secret-2", "session-3"}
    assert "secret-2" not in repr(keys) and "secret-2" not in str(keys)
    assert credentials_from_connection("b", "aws", "AKIA1", "secret-2", {}).body() == {
        "accessKey": "AKIA1",
        "secretKey": "secret-2",
    }


@pytest.mark.parametrize(
    ("conn_type", "login", "password", "extra", "words"),
    [
        ("wasb", "account", "key", {}, "'b' has type 'wasb'"),
        ("google_cloud_platform", None, None, {}, "'b' has type 'google_cloud_platform'"),
        ("aws", None, "secret", {}, "'b' has no login"),
        ("aws", "AKIA1", "", {}, "'b' has no password"),
        ("aws", "AKIA1", "secret", {"aws_session_token": 5}, "aws_session_token must be a string"),
    ],
)
def test_what_cannot_give_keys_is_refused_naming_the_connection(
    conn_type: str, login: str | None, password: str | None, extra: dict[str, object], words: str
) -> None:
    with pytest.raises(MilvusImportConfigError, match=words):
        credentials_from_connection("b", conn_type, login, password, extra)
