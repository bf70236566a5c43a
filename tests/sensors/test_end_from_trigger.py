"""MilvusImportSensor(end_from_trigger=True): what it hands the trigger, and where it refuses at parse time.

Per release (flags from version_compat): retries are accepted only where a trigger's failure honours
them (3.3.1+); starting in the triggerer only where the scheduler really does it (2.11, 3.0, 3.3+); every
release refuses it while listeners are registered, with emit_asset, or without deferrable.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import DAG, AirflowFailException, TaskDeferred

from airflow_provider_milvus.triggers.milvus_import import MilvusImportTrigger
from airflow_provider_milvus.version_compat import STARTS_TASKS_IN_TRIGGERER, TRIGGER_FAILURE_RETRIES
from tests.airflow_context import make_context
from tests.airflow_versions import serialized_round_trip
from tests.sensors.test_milvus_import import DONE, FAILED, RUNNING, answer_with, sensor


def test_off_by_default() -> None:
    assert sensor().end_from_trigger is False


def test_the_deferral_asks_the_trigger_to_end_the_task(monkeypatch: pytest.MonkeyPatch) -> None:
    answer_with(monkeypatch, RUNNING)
    with pytest.raises(TaskDeferred) as deferred:
        sensor(end_from_trigger=True, soft_fail=True).execute(make_context())
    assert isinstance(deferred.value.trigger, MilvusImportTrigger)
    _, kwargs = deferred.value.trigger.serialize()
    assert (kwargs["end_from_trigger"], kwargs["soft_fail"], kwargs["job_id"]) == (True, True, "42")


def test_a_job_already_ended_ends_on_the_worker_that_read_it(monkeypatch: pytest.MonkeyPatch) -> None:
    answer_with(monkeypatch, DONE)
    assert sensor(end_from_trigger=True).execute(make_context()) == DONE.to_dict()


@pytest.mark.parametrize(("answer", "ends"), [(DONE, "success"), (FAILED, "failed")])
def test_dag_test_resumes_with_the_end_state_and_reads_the_job_again(
    monkeypatch: pytest.MonkeyPatch, answer: Any, ends: str
) -> None:
    """dag.test() runs the end event on the worker (payload: the state's name); the sensor still ends right."""
    answer_with(monkeypatch, answer)
    context = make_context()
    task = sensor(end_from_trigger=True)
    if ends == "success":
        assert task.execute_complete(context, event="success") == DONE.to_dict()
    else:
        with pytest.raises(AirflowFailException, match="vector dimension 8"):
            task.execute_complete(context, event="failed")
    assert context["ti"].pushed["return_value"] == answer.to_dict()


def test_zero_worker_start_args_carry_the_setting() -> None:
    if not STARTS_TASKS_IN_TRIGGERER:
        with pytest.raises(ValueError, match=r"start_from_trigger=True cannot begin the wait in the triggerer"):
            sensor(end_from_trigger=True, start_from_trigger=True)
        return
    with DAG("zero_worker", schedule=None) as dag:
        task = sensor(end_from_trigger=True, start_from_trigger=True, soft_fail=True)
    kwargs = task.start_trigger_args.trigger_kwargs or {}
    assert (kwargs["end_from_trigger"], kwargs["soft_fail"]) == (True, True)
    assert MilvusImportTrigger(**kwargs).end_from_trigger is True
    assert serialized_round_trip(dag).get_task("wait").start_from_trigger is True


def test_retries_only_where_a_failure_in_the_triggerer_honours_them() -> None:
    if TRIGGER_FAILURE_RETRIES:
        assert sensor(end_from_trigger=True, retries=2).retries == 2
        return
    with pytest.raises(ValueError, match=r"ignores retries on Airflow .*fixed in 3\.3\.1.*retries=2; set retries=0"):
        sensor(end_from_trigger=True, retries=2)
    assert sensor(end_from_trigger=True, retries=0).end_from_trigger is True


def test_retries_from_default_args_count_too() -> None:
    if TRIGGER_FAILURE_RETRIES:
        return  # nothing to refuse: the retries apply
    with pytest.raises(ValueError, match="retries=3"), DAG("d", schedule=None, default_args={"retries": 3}):
        sensor(end_from_trigger=True)


def test_needs_deferrable() -> None:
    with pytest.raises(ValueError, match="needs deferrable=True"):
        sensor(end_from_trigger=True, deferrable=False)


def test_refuses_emit_asset() -> None:
    with pytest.raises(ValueError, match="emit_asset=True needs a worker"):
        sensor(end_from_trigger=True, emit_asset=True)


class _Listener:
    """A listener with no hooks: registering it is enough for Airflow to refuse end_from_trigger."""


@pytest.fixture
def a_listener() -> Iterator[None]:
    from airflow.listeners.listener import get_listener_manager

    manager = get_listener_manager()
    manager.add_listener(_Listener())
    try:
        yield
    finally:
        manager.clear()


def test_refuses_while_listeners_are_registered(a_listener: None) -> None:
    refused = r"listeners \(such as OpenLineage's\) are registered.*\[openlineage\] disabled"
    with pytest.raises(ValueError, match=refused):
        sensor(end_from_trigger=True)
    assert sensor().end_from_trigger is False  # the usual deferred sensor is fine with listeners
