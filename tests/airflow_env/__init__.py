"""Real Airflow 3 services (api-server, scheduler, triggerer, dag-processor) for end-to-end tests and the demo."""

from __future__ import annotations

from tests.airflow_env.harness import SERVICES, AirflowEnv, AirflowEnvError

__all__ = ["SERVICES", "AirflowEnv", "AirflowEnvError"]
