"""Provider defaults that depend on the Airflow environment."""

from __future__ import annotations

import os

_TRUE = {"true", "1", "yes", "on", "t"}


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
