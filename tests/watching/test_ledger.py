"""The watcher's ledger: baseline, candidates, failures, retention, settling a candidate, the stored shape."""

from __future__ import annotations

import json

import pytest

from airflow_provider_milvus import BulkInsertState
from airflow_provider_milvus import exceptions as exc
from airflow_provider_milvus.watching.ledger import (
    CLOCK_SKEW,
    LEDGER_VERSION,
    WatchLedger,
    completed_at,
    event_payload,
    settle,
)

PENDING, FAILED, STARTED, COMPLETED = 0, 1, 2, 6
BEGAN = 1_800_000_000.0


def job(job_id: str, state: int, **fields: object) -> BulkInsertState:
    return BulkInsertState(task_id=job_id, state=state, collection_name="articles", **fields)  # type: ignore[arg-type]


def test_the_baseline_counts_ended_jobs_as_seen_and_leaves_running_ones_to_announce() -> None:
    ledger = WatchLedger.begin([job("1", COMPLETED), job("2", FAILED), job("3", STARTED), job("0", COMPLETED)], BEGAN)
    assert ledger == WatchLedger(began_at=BEGAN, seen=frozenset({"1", "2"}))
    review = ledger.review([job("1", COMPLETED), job("2", FAILED), job("3", COMPLETED)])
    assert [s.task_id for s in review.candidates] == ["3"]


def test_a_new_completed_job_is_a_candidate_a_failed_one_is_remembered_without_one() -> None:
    ledger = WatchLedger(began_at=BEGAN)
    review = ledger.review([job("10", COMPLETED), job("11", FAILED), job("12", PENDING)])
    assert [s.task_id for s in review.candidates] == ["10"]
    assert review.ledger.seen == {"11"}
    # the candidate becomes seen only when it is settled, so a crash before that re-reads it
    assert "10" not in review.ledger.seen


def test_candidates_come_oldest_first_and_once_when_listed_twice() -> None:
    listed = [
        job("300", COMPLETED),
        job("20", STARTED),
        job("20", COMPLETED),
        job("job-b", COMPLETED),
        job("4", COMPLETED),
    ]
    review = WatchLedger(began_at=BEGAN).review(listed)
    assert [s.task_id for s in review.candidates] == ["4", "20", "300", "job-b"]


def test_unnamed_entries_of_legacy_grpc_lists_are_ignored() -> None:
    review = WatchLedger(began_at=BEGAN).review([job("0", COMPLETED), job("", COMPLETED)])
    assert review.candidates == ()
    assert review.ledger.seen == frozenset()


def test_jobs_the_server_forgot_leave_the_ledger_only_after_a_complete_listing() -> None:
    ledger = WatchLedger(began_at=BEGAN, seen=frozenset({"1", "2", "3"}))
    assert ledger.review([job("3", COMPLETED)], complete=False).ledger.seen == {"1", "2", "3"}
    assert ledger.review([job("3", COMPLETED)]).ledger.seen == {"3"}


def test_settling_a_completed_job_announces_it_once() -> None:
    ledger = WatchLedger(began_at=BEGAN)
    listed = job("7", COMPLETED)
    described = job("7", COMPLETED, row_count=100, files=["a.parquet"])
    settled = settle(ledger, listed, described)
    assert settled.event_state == described
    assert settled.ledger.seen == {"7"}
    assert settled.ledger.review([listed]).candidates == ()


def test_settling_when_the_job_failed_or_fell_back_or_the_read_failed() -> None:
    ledger = WatchLedger(began_at=BEGAN)
    listed = job("7", COMPLETED)
    failed = settle(ledger, listed, job("7", FAILED, failed_reason="bad file"))
    assert (failed.event_state, failed.ledger.seen) == (None, {"7"})
    fell_back = settle(ledger, listed, job("7", STARTED, progress=40))
    assert (fell_back.event_state, fell_back.ledger) == (None, ledger)
    flaky = settle(ledger, listed, exc.MilvusImportConnectionError("reset", server="s"))
    assert (flaky.event_state, flaky.ledger) == (None, ledger)
    forgotten = settle(ledger, listed, exc.MilvusImportJobNotFoundError("import job does not exist", server="s"))
    assert (forgotten.event_state, forgotten.ledger.seen) == (listed, {"7"})


def test_a_job_known_to_have_completed_before_the_watcher_began_gives_no_event() -> None:
    ledger = WatchLedger(began_at=BEGAN)  # 2027-01-15T08:00:00Z
    assert completed_at(job("7", COMPLETED, complete_time="2027-01-15T09:00:00+01:00")) == BEGAN
    old = settle(ledger, job("7", COMPLETED), job("7", COMPLETED, complete_time="2020-01-01T00:00:00Z"))
    assert (old.event_state, old.ledger.seen) == (None, {"7"})
    within_skew = job("8", COMPLETED, complete_time="2027-01-15T08:00:00Z")
    assert completed_at(within_skew) == BEGAN  # 2027-01-15T08:00:00Z
    assert (
        settle(WatchLedger(began_at=BEGAN + CLOCK_SKEW / 2), job("8", COMPLETED), within_skew).event_state is not None
    )
    # no zone: local time of an unknown zone is not compared
    assert completed_at(job("9", COMPLETED, complete_time="2020-01-01 00:00:00")) is None


def test_legacy_grpc_describe_without_an_id_keeps_the_listed_id() -> None:
    settled = settle(WatchLedger(began_at=BEGAN), job("7", COMPLETED), job("0", COMPLETED, row_count=3))
    assert settled.event_state is not None and settled.event_state.task_id == "7"


def test_the_stored_shape_is_json_and_reads_back() -> None:
    ledger = WatchLedger(began_at=BEGAN, seen=frozenset({"b", "a"}))
    stored = json.loads(json.dumps(ledger.to_stored()))
    assert stored == {"version": LEDGER_VERSION, "began_at": BEGAN, "seen": ["a", "b"]}
    assert WatchLedger.from_stored(stored) == ledger


@pytest.mark.parametrize(
    "value",
    [
        None,
        "x",
        {},
        {"version": 99, "began_at": 1.0, "seen": []},
        {"version": LEDGER_VERSION, "began_at": True, "seen": []},
        {"version": LEDGER_VERSION, "began_at": 1.0, "seen": "a"},
        {"version": LEDGER_VERSION, "began_at": 1.0, "seen": [1]},
    ],
)
def test_anything_else_stored_reads_as_no_ledger(value: object) -> None:
    assert WatchLedger.from_stored(value) is None


def test_the_payload_has_the_operator_extra_keys_and_the_state() -> None:
    state = job("7", COMPLETED, row_count=100, partition_name="p", files=["a.parquet", "b.parquet"])
    payload = event_payload(state, "default")
    assert payload == {
        "job_id": "7",
        "row_count": 100,
        "collection_name": "articles",
        "partition_name": "p",
        "db_name": "default",
        "files": ["a.parquet", "b.parquet"],
        "state": state.to_dict(),
    }
    assert json.loads(json.dumps(payload)) == payload
