"""MilvusImportSensor(start_from_trigger=True): the scheduler defers it straight to the trigger, no worker start.

Where the scheduler would start it on a worker anyway (Airflow 3.1 and 3.2) the DAG fails to parse
instead: there every test below asserts that refusal (``started``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import DAG

from airflow_provider_milvus.sensors.milvus_import import MilvusImportSensor
from airflow_provider_milvus.triggers.milvus_import import MilvusImportTrigger
from airflow_provider_milvus.version_compat import RENDERS_START_TRIGGER_TEMPLATES, STARTS_TASKS_IN_TRIGGERER
from tests.airflow_versions import serialized_round_trip

REFUSED = (
    r"start_from_trigger=True cannot begin the wait in the triggerer on Airflow 3\.[12]\.\d+: .*#66307"
    r".*Remove start_from_trigger.*or upgrade to Airflow 3\.3"
)


def started(**kwargs: Any) -> MilvusImportSensor | None:
    """The sensor with start_from_trigger=True; None (after checking the refusal) where this Airflow refuses it."""
    kwargs = {"task_id": "wait", "start_from_trigger": True} | kwargs
    if not STARTS_TASKS_IN_TRIGGERER:
        with pytest.raises(ValueError, match=REFUSED):
            MilvusImportSensor(**kwargs)
        return None
    return MilvusImportSensor(**kwargs)


def test_start_trigger_args_rebuild_the_same_trigger_as_a_deferral() -> None:
    sensor = started(job_id="449", poke_interval=7, timeout=600, db_name="archive")
    if sensor is None:
        return
    args = sensor.start_trigger_args
    assert sensor.start_from_trigger is True and args is not None
    assert args.trigger_cls == "airflow_provider_milvus.triggers.milvus_import.MilvusImportTrigger"
    assert args.next_method == "execute_complete"
    assert args.timeout == timedelta(seconds=600)
    trigger = MilvusImportTrigger(**(args.trigger_kwargs or {}))
    classpath, kwargs = trigger.serialize()
    assert classpath == args.trigger_cls
    assert (kwargs["job_id"], kwargs["poll_interval"], kwargs["db_name"]) == ("449", 7.0, "archive")
    assert kwargs["end_time"] is None  # Airflow's trigger timeout ends the wait instead
    assert (kwargs["end_from_trigger"], kwargs["soft_fail"]) == (False, False)


def test_templated_job_id_is_kept_for_the_triggerer_to_render() -> None:
    """From 3.3 the triggerer renders templates; 2.11 refuses a templated job id when the DAG is parsed."""
    if STARTS_TASKS_IN_TRIGGERER and not RENDERS_START_TRIGGER_TEMPLATES:
        with pytest.raises(ValueError, match="job_id known when the DAG is parsed"):
            MilvusImportSensor(task_id="wait", job_id="{{ params.job_id }}", start_from_trigger=True)
        return
    sensor = started(job_id="{{ params.job_id }}")
    if sensor is None:
        return
    assert sensor.start_trigger_args is not None
    assert (sensor.start_trigger_args.trigger_kwargs or {})["job_id"] == "{{ params.job_id }}"
    # The triggerer renders the fields that are templated on the task AND trigger kwargs AND trigger attributes.
    rendered = set(sensor.template_fields) & set(sensor.start_trigger_args.trigger_kwargs or {})
    assert {"job_id", "milvus_conn_id", "db_name"} <= rendered
    assert all(hasattr(MilvusImportTrigger(job_id="1"), name) for name in rendered)


def test_the_setting_survives_dag_serialization() -> None:
    with DAG("sft", schedule=None) as dag:
        sensor = started(job_id="449")
    if sensor is None:
        return
    task = serialized_round_trip(dag).get_task("wait")
    assert task.start_from_trigger is True
    assert task.start_trigger_args is not None and task.start_trigger_args.next_method == "execute_complete"


def test_off_by_default() -> None:
    sensor = MilvusImportSensor(task_id="wait", job_id="449")
    assert sensor.start_from_trigger is False and sensor.start_trigger_args is None


def test_needs_deferrable() -> None:
    message = REFUSED if not STARTS_TASKS_IN_TRIGGERER else "start_from_trigger waits in the triggerer; it needs"
    with pytest.raises(ValueError, match=message):
        MilvusImportSensor(task_id="wait", job_id="449", deferrable=False, start_from_trigger=True)
