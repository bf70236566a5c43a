"""The provider's deferrable default: True unless the environment says otherwise explicitly."""

from __future__ import annotations

import pytest

from airflow_provider_milvus.config import default_deferrable


@pytest.mark.parametrize(
    ("value", "expected"), [(None, True), ("", True), ("true", True), ("false", False), ("0", False)]
)
def test_default_deferrable(monkeypatch: pytest.MonkeyPatch, value: str | None, expected: bool) -> None:
    if value is None:
        monkeypatch.delenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", raising=False)
    else:
        monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", value)
    assert default_deferrable() is expected
