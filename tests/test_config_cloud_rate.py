"""``[milvus] cloud_requests_per_second``: declared in the provider's config, read once per limiter, checked."""

from __future__ import annotations

import pytest

from airflow_provider_milvus.config import (
    CLOUD_LIMIT_PER_SECOND,
    DEFAULT_CLOUD_REQUESTS_PER_SECOND,
    cloud_requests_per_second,
)
from airflow_provider_milvus.get_provider_info import get_provider_info
from airflow_provider_milvus.transport import ratelimit

ENV = "AIRFLOW__MILVUS__CLOUD_REQUESTS_PER_SECOND"


def test_the_option_is_declared_with_a_default_safe_for_three_triggerers() -> None:
    option = get_provider_info()["config"]["milvus"]["options"]["cloud_requests_per_second"]
    assert option["type"] == "float" and option["version_added"] == "0.2.0"
    assert float(option["default"]) == DEFAULT_CLOUD_REQUESTS_PER_SECOND
    assert 3 * float(option["default"]) < CLOUD_LIMIT_PER_SECOND
    assert option["description"] and option["example"]


def test_default_without_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    assert cloud_requests_per_second() == DEFAULT_CLOUD_REQUESTS_PER_SECOND


@pytest.mark.parametrize(("value", "expected"), [("9", 9.0), (" 2.5 ", 2.5), ("", DEFAULT_CLOUD_REQUESTS_PER_SECOND)])
def test_the_setting_is_read(monkeypatch: pytest.MonkeyPatch, value: str, expected: float) -> None:
    monkeypatch.setenv(ENV, value)
    assert cloud_requests_per_second() == expected


@pytest.mark.parametrize("value", ["0", "-3", "fast", "nan", "inf"])
def test_a_bad_setting_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(ENV, value)
    with pytest.raises(ValueError, match=r"\[milvus\] cloud_requests_per_second must be a positive number"):
        cloud_requests_per_second()


async def test_the_limiter_takes_the_process_share(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, "4")
    url = "https://api.cloud.zilliz.com/v2/vectordb/jobs/import/list#share-test"
    limiter = ratelimit.limiter_for(url)
    assert limiter.rate == 4.0 and limiter.capacity == 1.0
    assert ratelimit.limiter_for(url) is limiter  # one bucket per endpoint and loop
    assert ratelimit.limiter_for(url + "-explicit", 11.0).rate == 11.0
