"""Provider defaults and settings that depend on the Airflow environment (``[milvus]`` in airflow.cfg)."""

from __future__ import annotations

import math
import os
from typing import Final

_TRUE = {"true", "1", "yes", "on", "t"}

#: The ``[milvus]`` section of airflow.cfg (declared in ``get_provider_info()["config"]``).
SECTION: Final = "milvus"
#: Zilliz Cloud allows 20 requests per second per API key and endpoint, for all clients together.
CLOUD_LIMIT_PER_SECOND: Final = 20.0
#: One process's share when ``[milvus] cloud_requests_per_second`` is unset: three triggerers stay under 20.
DEFAULT_CLOUD_REQUESTS_PER_SECOND: Final = 6.0


def default_deferrable() -> bool:
    """Deferrable unless ``AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE`` explicitly says otherwise.

    Airflow ships ``[operators] default_deferrable = false`` and writes it into
    every generated airflow.cfg, so ``conf.getboolean(..., fallback=True)``
    would make the sensor hold a worker slot by default. Waiting in the
    triggerer is the point of this provider: only an explicit environment
    setting (or ``deferrable=False``) turns it off.
    """
    value = os.environ.get("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE")
    if value is None or not value.strip():
        return True
    return value.strip().lower() in _TRUE


def cloud_requests_per_second() -> float:
    """This process's share of Zilliz Cloud's 20 requests/s: ``[milvus] cloud_requests_per_second`` (default 6).

    Every triggerer (and worker) process keeps its own budget, so the share times the number of
    processes that talk to one cluster must stay under the cloud's limit; a bad value is a clear error.
    """
    from airflow.providers.common.compat.sdk import conf

    raw = conf.get(SECTION, "cloud_requests_per_second", fallback=None)
    if raw is None or not str(raw).strip():
        return DEFAULT_CLOUD_REQUESTS_PER_SECOND
    try:
        value = float(str(raw).strip())
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise ValueError(
            f"[{SECTION}] cloud_requests_per_second must be a positive number of requests per second, got {raw!r} "
            f"(Zilliz Cloud allows {CLOUD_LIMIT_PER_SECOND:.0f} per API key and endpoint for all processes together)"
        )
    return value
