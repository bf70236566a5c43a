"""A lost ``create`` answer and the retry after it, on servers that honour idempotency keys and ones that ignore them.

The emulator (REST v2 and legacy gRPC of one release on one port) starts the job and drops the answer
of try 1's ``create``; try 2 runs the operator's real code with no job id kept (a worker killed before
the store write, or Airflow before 3.3). Then the server's jobs are counted:

- 2.6.24 and 3.0.2 honour the key: try 2 sends ``create`` again with the same key and the server
  answers the first job: ONE job.
- 2.6-late (2.6.6 to 2.6.23) ignores the key but its jobs have ``createTime``: try 2 finds the first
  job by files and creation time: ONE job.
- 2.5 (no ``createTime`` over REST) ignores the key: the search cannot tell this run's job from an
  older one of the same files, so try 2 imports again: TWO jobs (README, "Idempotency keys").
- 2.6-late over legacy gRPC (every listed job is id 0, create_ts 0) and Zilliz Cloud (no creation
  time; whether it honours the key is undocumented): TWO jobs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import TaskDeferred

from airflow_provider_milvus.exceptions import MilvusImportError
from airflow_provider_milvus.operators.milvus_import import MilvusImportOperator
from tests.airflow_context import FakeDagRun, MemoryTaskStateStore, make_context
from tests.emulator.grpc_server import MilvusEndpoint
from tests.emulator.server import DEFAULT_API_KEY, ImportEmulator
from tests.reliability.support import cloud_conn

CREATE = "/v2/vectordb/jobs/import/create"
FILES = ["/data/a.parquet"]


def run_start() -> FakeDagRun:
    """A run that started a minute ago (the earliest an earlier try's job can be from)."""
    return FakeDagRun(datetime.now(timezone.utc) - timedelta(minutes=1))


@pytest.fixture
def endpoint_conn(
    make_endpoint: Callable[..., MilvusEndpoint], monkeypatch: pytest.MonkeyPatch
) -> Callable[[str, str], MilvusEndpoint]:
    """``endpoint_conn(profile, protocol)``: a started endpoint and connection ``keys`` to it."""

    def make(profile: str, protocol: str) -> MilvusEndpoint:
        endpoint = make_endpoint(profile, speed=0)
        conn = {"conn_type": "milvus", "host": endpoint.base_url, "extra": {"protocol": protocol}}
        monkeypatch.setenv("AIRFLOW_CONN_KEYS", json.dumps(conn))
        return endpoint

    return make


def operator(**kwargs: Any) -> MilvusImportOperator:
    base = {"task_id": "load", "collection_name": "c", "files": FILES, "milvus_conn_id": "keys", "retries": 2}
    return MilvusImportOperator(**(base | {"poll_interval": 0.01} | kwargs))


def try_context(try_number: int, max_tries: int = 2, dag_run: FakeDagRun | None = None) -> dict[str, Any]:
    """Try ``try_number``; the store is empty: no job id survived (3.3+), or there is no store (below 3.3)."""
    return make_context(store=MemoryTaskStateStore(), try_number=try_number, max_tries=max_tries, dag_run=dag_run)


def lose_create_answer(endpoint: MilvusEndpoint, protocol: str) -> None:
    """The next ``create`` starts its job and its answer never arrives."""
    if protocol == "grpc":
        endpoint.grpc.lose_import_answers = 1
    else:
        endpoint.rest.inject_close(route=CREATE, process=True)


def deferred_on(op: MilvusImportOperator, context: dict[str, Any]) -> str:
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context)
    return str(deferred.value.trigger.job_id)


def lost_answer_then_retry(endpoint: MilvusEndpoint, protocol: str) -> tuple[list[str], str]:
    """Try 1 loses the create answer and fails; try 2 runs. The server's jobs, and the job try 2 waits for."""
    dag_run = run_start()
    lose_create_answer(endpoint, protocol)
    with pytest.raises(MilvusImportError):
        operator().execute(try_context(1, dag_run=dag_run))
    assert len(endpoint.rest.job_ids) == 1  # the server did start it
    endpoint.rest.advance(0.5)  # the retry delay: the job is importing, its files listed in its details
    waited = deferred_on(operator(), try_context(2, dag_run=dag_run))
    return endpoint.rest.job_ids, waited


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
@pytest.mark.parametrize("profile", ["2.6.24", "3.0.2"])
def test_lost_answer_ends_with_one_job_where_keys_are_honoured(
    endpoint_conn: Callable[[str, str], MilvusEndpoint], profile: str, protocol: str
) -> None:
    endpoint = endpoint_conn(profile, protocol)
    jobs, waited = lost_answer_then_retry(endpoint, protocol)
    assert jobs == [waited]  # ONE job: the retry's create got the first job's id back
    assert endpoint.grpc.count("GetVersion") == 1  # detected once, on the retry, without a second import
    if protocol == "rest":
        keys = {r.header("Idempotency-Key") for r in endpoint.rest.requests if r.route == CREATE}
        assert len(keys) == 1 and None not in keys
        assert endpoint.rest.request_count("/v2/vectordb/jobs/import/list") == 0  # no search needed


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_lost_answer_with_create_time_finds_the_job_where_keys_are_ignored(
    endpoint_conn: Callable[[str, str], MilvusEndpoint], protocol: str
) -> None:
    """2.6-late ignores the key; the search finds the first job by its files and creation time."""
    endpoint = endpoint_conn("2.6-late", protocol)
    jobs, waited = lost_answer_then_retry(endpoint, protocol)
    if protocol == "rest":
        assert jobs == [waited]  # ONE job
    else:
        # Legacy gRPC ListImportTasks answers create_ts 0 for every entry (milvus issue 38172): the search
        # cannot date the job, so the retry imports again.
        assert len(jobs) == 2 and waited == jobs[1]


def test_lost_answer_without_create_time_imports_twice_where_keys_are_ignored(
    endpoint_conn: Callable[[str, str], MilvusEndpoint],
) -> None:
    """2.5 over REST: no createTime, no honoured key; a job of the same files may be another run's: two jobs."""
    endpoint = endpoint_conn("2.5", "rest")
    jobs, waited = lost_answer_then_retry(endpoint, "rest")
    assert len(jobs) == 2 and waited == jobs[1]
    keys = [r.header("Idempotency-Key") for r in endpoint.rest.requests if r.route == CREATE]
    assert len(keys) == 2 and keys[0] == keys[1]  # the same key: a 2.6.24+ server would have answered job 1


def test_retry_after_a_failed_job_imports_anew_then_reattaches(
    endpoint_conn: Callable[[str, str], MilvusEndpoint],
) -> None:
    """The first job failed: key 1 answers it, so the retry starts key 2's import; try 3 finds that one again."""
    endpoint = endpoint_conn("2.6.24", "rest")
    dag_run = run_start()
    first = deferred_on(operator(), try_context(1, dag_run=dag_run))
    endpoint.rest.fail_job(first)
    second = deferred_on(operator(), try_context(2, dag_run=dag_run))
    assert second != first and endpoint.rest.job_ids == [first, second]
    assert deferred_on(operator(), try_context(3, dag_run=dag_run)) == second
    assert endpoint.rest.job_ids == [first, second]


def test_clearing_starts_a_new_import_with_a_new_key(endpoint_conn: Callable[[str, str], MilvusEndpoint]) -> None:
    endpoint = endpoint_conn("2.6.24", "rest")
    first = deferred_on(operator(), try_context(1))
    endpoint.rest.finish_job(first)
    # Cleared after try 1 (retries=2): max_tries becomes 1 + 2 = 3; try 2 is the first of a new generation.
    cleared = deferred_on(operator(), try_context(2, max_tries=3))
    assert cleared != first and endpoint.rest.job_ids == [first, cleared]
    keys = [r.header("Idempotency-Key") for r in endpoint.rest.requests if r.route == CREATE]
    assert len(set(keys)) == 2


def test_durable_false_imports_on_every_try_even_where_keys_are_honoured(
    endpoint_conn: Callable[[str, str], MilvusEndpoint],
) -> None:
    endpoint = endpoint_conn("3.0.2", "rest")
    first = deferred_on(operator(durable=False), try_context(1))
    second = deferred_on(operator(durable=False), try_context(2))
    assert first != second and endpoint.rest.job_ids == [first, second]


def test_another_task_instance_never_gets_this_ones_job(endpoint_conn: Callable[[str, str], MilvusEndpoint]) -> None:
    """Same files, same collection, another task (or run): another key, another import."""
    endpoint = endpoint_conn("2.6.24", "rest")
    first = deferred_on(operator(), try_context(1))
    other = deferred_on(operator(task_id="load_again"), try_context(1))
    assert first != other and endpoint.rest.job_ids == [first, other]


def test_lost_answer_on_zilliz_cloud_imports_twice(
    make_emulator: Callable[..., ImportEmulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Zilliz Cloud: the key is sent, but nothing documents that the control plane honours it, and its jobs
    carry no creation time: the retry cannot find the first job and imports again (README)."""
    cloud = make_emulator(profile="cloud-both", speed=0, token=DEFAULT_API_KEY)
    cloud_conn(monkeypatch, cloud, "keys")
    dag_run = run_start()
    cloud.inject_close(route=CREATE, process=True)
    files = ["s3://bucket/a.parquet"]
    with pytest.raises(MilvusImportError):
        operator(files=files).execute(try_context(1, dag_run=dag_run))
    waited = deferred_on(operator(files=files), try_context(2, dag_run=dag_run))
    assert len(cloud.job_ids) == 2 and waited == cloud.job_ids[1]
    keys = [r.header("Idempotency-Key") for r in cloud.requests if r.route == CREATE]
    assert len(keys) == 2 and keys[0] == keys[1] and keys[0]
