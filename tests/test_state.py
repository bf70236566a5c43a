"""BulkInsertState: the contract's fields, codes, names, helpers and lossless JSON round trip."""

from __future__ import annotations

import json

import pytest

from airflow_provider_milvus import BulkInsertState
from airflow_provider_milvus.state import STATE_NAMES, rest_state_code, state_code


def test_state_table_is_the_contracts() -> None:
    assert STATE_NAMES == {
        0: "Pending",
        1: "Failed",
        2: "Started",
        5: "Persisted",
        6: "Completed",
        7: "FailedAndCleaned",
        8: "Flushed",
        100: "Unknown",
    }


#: REST v2 / Zilliz Cloud state words and the contract's codes (None: Milvus's "unknown import job state").
REST_STATE_WORDS = [
    ("Pending", 0),
    ("Importing", 2),
    ("Uncommitted", 2),
    ("Committing", 2),
    ("Completed", 6),
    ("Failed", 1),
    ("None", 100),
    ("Exploding", 100),
    ("", 100),
    ("completed", 100),
]


@pytest.mark.parametrize(("name", "code"), REST_STATE_WORDS)
def test_rest_state_mapping(name: str, code: int) -> None:
    assert rest_state_code(name) == code


@pytest.mark.parametrize(("raw", "code"), [(0, 0), (6, 6), (8, 8), (3, 100), (4, 100), (42, 100), (-1, 100)])
def test_raw_grpc_state_codes(raw: int, code: int) -> None:
    assert state_code(raw) == code


def _full() -> BulkInsertState:
    return BulkInsertState(
        task_id="448761313698322011",
        state=6,
        row_count=100000,
        total_rows=100000,
        progress=100,
        infos={"files": "a.json", "collection": "c", "failed_reason": "", "progress_percent": "100"},
        collection_name="c",
        partition_name="_default",
        files=["a.json"],
        id_ranges=[10, 13, 20, 22],
        create_timestamp=1700000000,
        create_time_str="2023-11-14 22:13:20",
        complete_time="2024-04-01T06:17:55Z",
        file_size=3279917,
        details=[{"fileName": "a.json", "fileSize": 1, "state": "Completed", "progress": 100}],
        server_state="Completed",
    )


def test_round_trip_is_lossless_and_json_only() -> None:
    state = _full()
    data = state.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert BulkInsertState.from_dict(json.loads(json.dumps(data))) == state
    assert data["state_name"] == "Completed"
    assert data["task_id"] == "448761313698322011"


def test_ids_expand_id_ranges_like_pymilvus() -> None:
    assert _full().ids == [10, 11, 12, 20, 21]


@pytest.mark.parametrize(
    ("code", "terminal", "succeeded", "failed"),
    [
        (0, False, False, False),
        (2, False, False, False),
        (5, False, False, False),
        (8, False, False, False),
        (100, False, False, False),
        (6, True, True, False),
        (1, True, False, True),
        (7, True, False, True),
    ],
)
def test_helpers(code: int, terminal: bool, succeeded: bool, failed: bool) -> None:
    state = BulkInsertState(task_id="1", state=code)
    assert (state.is_terminal, state.succeeded, state.failed) == (terminal, succeeded, failed)
    assert state.state_name == STATE_NAMES[code]


def test_immutable() -> None:
    state = _full()
    with pytest.raises(AttributeError):
        state.state = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"task_id": 1, "state": 6}, TypeError),
        ({"task_id": "1", "state": 3}, ValueError),
        ({"task_id": "1", "state": True}, TypeError),
        ({"task_id": "1", "state": 6, "state_name": "Failed"}, ValueError),
        ({"task_id": "1", "state": 2, "progress": 101}, ValueError),
        ({"task_id": "1", "state": 2, "progress": -1}, ValueError),
    ],
)
def test_invalid_values_are_refused(kwargs: dict[str, object], error: type[Exception]) -> None:
    with pytest.raises(error):
        BulkInsertState(**kwargs)  # type: ignore[arg-type]


def test_from_dict_needs_task_id_and_state() -> None:
    with pytest.raises(ValueError, match="missing"):
        BulkInsertState.from_dict({"state": 6})
    with pytest.raises(TypeError):
        BulkInsertState.from_dict([1, 2])  # type: ignore[arg-type]


def test_from_dict_ignores_unknown_keys() -> None:
    data = _full().to_dict() | {"added_in_a_later_version": 1}
    assert BulkInsertState.from_dict(data) == _full()


def test_from_dict_of_a_0_1_xcom_without_server_state() -> None:
    data = _full().to_dict()
    del data["server_state"]
    state = BulkInsertState.from_dict(data)
    assert state.server_state == "" and state.state_name == "Completed"
    assert BulkInsertState.from_dict(state.to_dict()) == state


def test_server_state_round_trips_and_marks_staged_jobs() -> None:
    staged = BulkInsertState(task_id="1", state=2, progress=99, server_state="Uncommitted")
    assert staged.to_dict()["server_state"] == "Uncommitted"
    assert BulkInsertState.from_dict(staged.to_dict()) == staged
    assert staged.staged and not staged.is_terminal
    assert not BulkInsertState(task_id="1", state=2, server_state="Importing").staged
    with pytest.raises(TypeError):
        BulkInsertState(task_id="1", state=2, server_state=None)  # type: ignore[arg-type]
