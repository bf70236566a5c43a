"""The sensor's ``execute_complete`` is idempotent: the same trigger event twice, the same outcome and XCom."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_milvus.sensors.milvus_import import MilvusImportSensor
from tests.airflow_context import make_context
from tests.operators.test_milvus_import_idempotent import EVENTS, outcome


@pytest.mark.parametrize("soft_fail", [False, True])
@pytest.mark.parametrize("event", EVENTS, ids=lambda e: str(e["status"]) + ("" if e.get("message") else "-bad"))
def test_sensor_same_event_twice_same_outcome_and_xcom(event: dict[str, Any], soft_fail: bool) -> None:
    sensor = MilvusImportSensor(task_id="wait", job_id="42", soft_fail=soft_fail)
    context = make_context()
    first = outcome(lambda: sensor.execute_complete(context, dict(event)))
    pushed = dict(context["ti"].pushed)
    second = outcome(lambda: sensor.execute_complete(context, dict(event)))
    assert first == second and context["ti"].pushed == pushed
    assert first[0] != "returned" or pushed["return_value"]["state_name"] == "Completed"
