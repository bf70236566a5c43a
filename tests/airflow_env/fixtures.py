"""Pytest fixtures for real Airflow services; use ``from tests.airflow_env.fixtures import *`` in conftest."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import pytest

from tests.airflow_env.harness import SERVICES, AirflowEnv, AirflowEnvError
from tests.airflow_env.postgres import PostgresServer

__all__ = ["AirflowEnvFactory", "airflow_env_factory", "postgres_server"]


class AirflowEnvFactory(Protocol):
    """The callable ``airflow_env_factory`` yields."""

    def __call__(
        self,
        *,
        services: tuple[str, ...] = SERVICES,
        dags_folder: Path | None = None,
        extra_env: dict[str, str] | None = None,
        api_port: int | None = None,
        migrate: bool = True,
        database_url: str | None = None,
        triggerers: int = 1,
    ) -> AirflowEnv:
        """Make an ``AirflowEnv`` in a fresh temporary AIRFLOW_HOME, migrated and with ``services`` started."""
        ...


@pytest.fixture
def airflow_env_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowEnvFactory]:
    """Make real Airflow environments (SQLite, or ``database_url``, + LocalExecutor); each is stopped after the test.

    ``services=()`` only creates (and migrates) the environment: start services yourself with ``env.start()``.
    Start-up times are in ``env.startup_seconds`` (plus ``"migrate"``).
    """
    made: list[AirflowEnv] = []

    def make(
        *,
        services: tuple[str, ...] = SERVICES,
        dags_folder: Path | None = None,
        extra_env: dict[str, str] | None = None,
        api_port: int | None = None,
        migrate: bool = True,
        database_url: str | None = None,
        triggerers: int = 1,
    ) -> AirflowEnv:
        env = AirflowEnv(
            tmp_path_factory.mktemp("airflow-home"),
            dags_folder=dags_folder,
            extra_env=extra_env,
            api_port=api_port,
            database_url=database_url,
            triggerers=triggerers,
        )
        made.append(env)
        if migrate:
            began = time.monotonic()
            env.migrate()
            env.startup_seconds["migrate"] = time.monotonic() - began
        if services:
            env.start(*services)
        return env

    yield make
    errors: list[str] = []
    for env in reversed(made):
        try:
            env.stop()
        except AirflowEnvError as error:
            errors.append(str(error))
    if errors:
        pytest.fail("Airflow services did not stop cleanly:\n" + "\n".join(errors), pytrace=False)


@pytest.fixture
def postgres_server() -> Iterator[PostgresServer]:
    """A private PostgreSQL server (Debian's package) on a free port, removed after the test."""
    server = PostgresServer()
    try:
        yield server.start()
    finally:
        server.cleanup()
