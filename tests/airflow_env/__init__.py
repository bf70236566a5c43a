"""Real Airflow services (3.x: api-server, scheduler, triggerer, dag-processor; 2.11: webserver, scheduler,
triggerer) for end-to-end tests, the browser tests and the demo."""

from __future__ import annotations

from tests.airflow_env.harness import AIRFLOW_VERSION, RELEASE, SERVICES, WEB_SERVICE, AirflowEnv, AirflowEnvError

__all__ = ["AIRFLOW_VERSION", "RELEASE", "SERVICES", "WEB_SERVICE", "AirflowEnv", "AirflowEnvError"]
