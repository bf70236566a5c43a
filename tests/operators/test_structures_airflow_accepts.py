"""Every structure the provider hands Airflow passes the checks the running Airflow applies to it.

- asset (dataset) event ``extra``: Airflow 2.11 and 3.0 hash it (``frozenset(extra.items())``); every
  release stores it as JSON;
- XCom values (``job_id``, the final state's dict): that release's ``BaseXCom`` serializer;
- trigger kwargs (``serialize()``): the ``Trigger`` row's encrypted kwargs, read back into the same trigger;
- trigger event payloads: kept in the task's ``next_kwargs`` through ``BaseSerialization``;
- ``StartTriggerArgs`` (``start_from_trigger``): the serialized DAG's copy builds the same trigger.

The states come from the real parsers (the REST emulator's answers) and one with every field set.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import DAG

from airflow_provider_milvus import BulkInsertState
from airflow_provider_milvus.assets import import_event_extra
from airflow_provider_milvus.events import ERROR, FAILED, SUCCESS, TIMEOUT, make_event
from airflow_provider_milvus.hooks.milvus_import import MilvusImportHook
from airflow_provider_milvus.sensors.milvus_import import MilvusImportSensor
from airflow_provider_milvus.triggers.milvus_import import MilvusImportTrigger
from airflow_provider_milvus.version_compat import AIRFLOW_V_3_0_PLUS, ASSET_EXTRA_HASHED, STARTS_TASKS_IN_TRIGGERER
from tests.airflow_versions import serialized_round_trip
from tests.emulator.server import ImportEmulator

FULL = BulkInsertState(
    task_id="449",
    state=6,
    row_count=3,
    total_rows=3,
    progress=100,
    infos={"files": "a.json,b.json", "collection": "c"},
    failed_reason="",
    collection_name="c",
    partition_name="p",
    files=["/data/a.json", "s3://bucket/b.json"],
    id_ranges=[1, 4],
    create_timestamp=1_700_000_000,
    create_time_str="2023-11-14 22:13:20",
    complete_time="2023-11-14T22:13:30Z",
    file_size=123,
    details=[{"fileName": "[a.json]", "fileSize": 10, "progress": 100, "state": "Completed", "rows": None}],
    server_state="Completed",
)


@pytest.fixture
def states(make_emulator: Callable[..., ImportEmulator], monkeypatch: pytest.MonkeyPatch) -> list[BulkInsertState]:
    """States as the REST parser reads them (completed, failed, still importing), plus one with every field set."""
    emulator = make_emulator(mode="rest", job_duration=600)
    monkeypatch.setenv("AIRFLOW_CONN_MILVUS_DEFAULT", json.dumps({"conn_type": "milvus", "host": emulator.base_url}))
    hook = MilvusImportHook()
    running = emulator.create_job("c", [["/data/1.json"], ["/data/2.json"]])
    failed = emulator.create_job("c", [["/data/fail.json"]])
    emulator.clock.advance(300)  # half-way: the failing file has failed, the other job imports
    read = [hook.get_import_state(job_id) for job_id in (running, failed)]
    emulator.clock.advance(600)
    read.append(hook.get_import_state(running))
    assert [state.state_name for state in read] == ["Started", "Failed", "Completed"]
    return [*read, FULL]


def test_asset_event_extra_passes_the_release_checks(states: list[BulkInsertState]) -> None:
    for state in states:
        extra = import_event_extra(state, "default")
        if ASSET_EXTRA_HASHED:  # what TaskInstance._register_dataset_changes does to an alias event's extra
            hash(frozenset(extra.items()))
            assert json.loads(extra["files"]) == state.files
        else:
            assert extra["files"] == state.files
        assert json.loads(json.dumps(extra, sort_keys=True)) == extra  # stored as JSON on every release


def xcom_round_trip(value: Any) -> Any:
    """``value`` through this release's XCom serializer and back (3.x: JSON between task and API server)."""
    if AIRFLOW_V_3_0_PLUS:
        from airflow.sdk.bases.xcom import BaseXCom
    else:
        from airflow.models.xcom import BaseXCom
    stored = BaseXCom.serialize_value(value)
    if not isinstance(stored, bytes):
        stored = json.loads(json.dumps(stored))
    return BaseXCom.deserialize_value(SimpleNamespace(value=stored))


def test_xcom_values_pass_the_release_serializer(states: list[BulkInsertState]) -> None:
    for state in states:
        assert xcom_round_trip(state.to_dict()) == state.to_dict()
        assert BulkInsertState.from_dict(xcom_round_trip(state.to_dict())) == state
        assert xcom_round_trip(state.task_id) == state.task_id


def stored_trigger_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Trigger kwargs as the triggerer reads them back from the ``trigger`` table (encrypted, serialized)."""
    from airflow.models.trigger import Trigger

    return dict(Trigger(classpath=f"{MilvusImportTrigger.__module__}.MilvusImportTrigger", kwargs=kwargs).kwargs)


@pytest.mark.parametrize(
    "settings",
    [
        {"job_id": "449"},
        {
            "job_id": "in01-abc",
            "milvus_conn_id": "zilliz",
            "poll_interval": 0.5,
            "end_time": 1_900_000_000.25,
            "protocol": "cloud",
            "max_attempts": 3,
            "stall_timeout": 60.0,
            "on_stall": "fail",
            "db_name": "archive",
            "abort_on_kill": True,
            "staged_is_done": True,
        },
    ],
)
def test_trigger_kwargs_survive_the_trigger_table(settings: dict[str, Any]) -> None:
    classpath, kwargs = MilvusImportTrigger(**settings).serialize()
    read_back = stored_trigger_kwargs(kwargs)
    assert read_back == kwargs
    assert MilvusImportTrigger(**read_back).serialize() == (classpath, kwargs)
    assert json.loads(json.dumps(kwargs)) == kwargs


def test_trigger_event_payloads_survive_next_kwargs(states: list[BulkInsertState]) -> None:
    """The triggerer hands the event to the task as ``next_kwargs={"event": payload}`` (BaseSerialization)."""
    from airflow.serialization.serialized_objects import BaseSerialization
    from airflow.triggers.base import TriggerEvent

    payloads = [make_event(status, state.task_id, state, "m") for status in (SUCCESS, FAILED) for state in states]
    payloads += [make_event(TIMEOUT, "449", None, "no end"), make_event(ERROR, "449", None, "unreadable")]
    for payload in payloads:
        next_kwargs = {"event": TriggerEvent(payload).payload}
        assert BaseSerialization.deserialize(BaseSerialization.serialize(next_kwargs)) == next_kwargs
        assert json.loads(json.dumps(payload)) == payload


def test_start_trigger_args_survive_dag_serialization() -> None:
    if not STARTS_TASKS_IN_TRIGGERER:  # Airflow 3.1, 3.2: the sensor refuses start_from_trigger when parsed
        with pytest.raises(ValueError, match="cannot begin the wait in the triggerer"):
            MilvusImportSensor(task_id="wait", job_id="449", start_from_trigger=True)
        return
    with DAG("structures_sft", schedule=None) as dag:
        MilvusImportSensor(
            task_id="wait", job_id="449", poke_interval=7, timeout=600, db_name="archive", start_from_trigger=True
        )
    built = dag.get_task("wait").start_trigger_args
    args = serialized_round_trip(dag).get_task("wait").start_trigger_args
    assert (args.trigger_cls, args.next_method, args.timeout) == (built.trigger_cls, "execute_complete", built.timeout)
    kwargs = stored_trigger_kwargs(dict(args.trigger_kwargs or {}))
    assert kwargs == built.trigger_kwargs
    assert MilvusImportTrigger(**kwargs).serialize() == MilvusImportTrigger(**(built.trigger_kwargs or {})).serialize()
