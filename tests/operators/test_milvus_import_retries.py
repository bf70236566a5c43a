"""Retries never import twice: the stored job id (3.3's task_state_store), the server-side search, clearing.

A fake server stands in for Milvus (its jobs, their states, ``start_import`` calls); the
operator runs its real code, with the running Airflow's ``ResumableJobMixin`` (3.3's, or a stand-in
that keeps nothing: there the server-side search alone keeps retries from importing twice).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowException, TaskDeferred

from airflow_provider_milvus import BulkInsertState
from airflow_provider_milvus.hooks.milvus_import import MilvusImportHook
from airflow_provider_milvus.operators.milvus_import import MilvusImportOperator
from airflow_provider_milvus.resume import find_earlier_job, first_try_of_generation, import_files
from airflow_provider_milvus.version_compat import HAS_TASK_STATE_STORE, ResumableJobMixin
from tests.airflow_context import FakeDagRun, MemoryTaskStateStore, make_context

FILES = ["/data/a.json"]
RUN_START = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
T0 = int(RUN_START.timestamp())
KEY = "milvus_import_job_id"


def kept(job_id: str) -> dict[str, str]:
    """What the store holds after a try that imported ``job_id``: the id on 3.3+, nothing below."""
    return {KEY: job_id} if HAS_TASK_STATE_STORE else {}


def job(
    job_id: str, state: int, *, files: list[str] | None = None, created: int = T0 + 5, rows: int = 0
) -> BulkInsertState:
    return BulkInsertState(
        task_id=job_id,
        state=state,
        progress=100 if state == 6 else 10,
        row_count=rows,
        collection_name="c",
        partition_name="_default",
        files=FILES if files is None else files,
        create_timestamp=created,
    )


class FakeServer:
    """Jobs by id; ``start_import`` makes a new Pending job with the next id."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *jobs: BulkInsertState) -> None:
        self.jobs = {j.task_id: j for j in jobs}
        self.started: list[str] = []
        self.keys: list[str] = []
        server = self

        def start_import(hook: MilvusImportHook, collection: str, files: Any, *args: Any, **kwargs: Any) -> str:
            job_id = str(100 + len(server.started))
            server.started.append(job_id)
            server.keys.append(kwargs["idempotency_key"])
            server.jobs[job_id] = job(job_id, 0, files=files, created=T0 + 50)
            return job_id

        def get_import_state(hook: MilvusImportHook, job_id: str, db_name: str | None = None) -> BulkInsertState:
            if job_id not in server.jobs:
                from airflow_provider_milvus.exceptions import MilvusImportError

                raise MilvusImportError(f"no import job {job_id}")
            return server.jobs[job_id]

        def list_import_states(hook: MilvusImportHook, collection: str | None = None, db: str | None = None) -> Any:
            return list(server.jobs.values())

        monkeypatch.setattr(MilvusImportHook, "start_import", start_import)
        monkeypatch.setattr(MilvusImportHook, "get_import_state", get_import_state)
        monkeypatch.setattr(MilvusImportHook, "list_import_states", list_import_states)
        monkeypatch.setattr(MilvusImportHook, "protocol", property(lambda self: "grpc"))
        # A server before 2.6.24: the key is sent but ignored, so a retry searches (tests/operators/
        # test_milvus_import_keys.py runs the emulator's servers that honour it).
        monkeypatch.setattr(MilvusImportHook, "honours_idempotency_keys", lambda self: False)


def operator(**kwargs: Any) -> MilvusImportOperator:
    base = {"task_id": "load", "collection_name": "c", "files": FILES, "poll_interval": 0.01, "retries": 2}
    return MilvusImportOperator(**(base | kwargs))


def retry_context(store: MemoryTaskStateStore | None = None, try_number: int = 2) -> dict[str, Any]:
    """Try ``try_number`` of a task with retries=2 never cleared (max_tries 2)."""
    return make_context(store=store, try_number=try_number, max_tries=2, dag_run=FakeDagRun(RUN_START))


def deferred_job(op: MilvusImportOperator, context: dict[str, Any]) -> str:
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context)
    return str(deferred.value.trigger.job_id)


def test_the_mixin_of_the_running_airflow_is_in_use() -> None:
    if HAS_TASK_STATE_STORE:
        from airflow.sdk import ResumableJobMixin as expected
    else:  # pragma: no cover - older Airflow legs
        try:
            from airflow.providers.common.compat.sdk import ResumableJobMixin as expected
        except ImportError:
            from airflow_provider_milvus.resume import FallbackResumableJobMixin as expected
    assert ResumableJobMixin is expected and isinstance(operator(), expected)
    assert MilvusImportOperator.external_id_key == KEY


def test_first_try_stores_the_job_id_before_deferring(monkeypatch: pytest.MonkeyPatch) -> None:
    server = FakeServer(monkeypatch)
    store = MemoryTaskStateStore()
    context = make_context(store=store, try_number=1, max_tries=2)
    assert deferred_job(operator(), context) == "100"
    assert store.stored == kept("100")
    assert context["ti"].pushed["job_id"] == "100" and server.started == ["100"]


def test_retry_reattaches_to_the_running_job_deferred(monkeypatch: pytest.MonkeyPatch) -> None:
    server = FakeServer(monkeypatch, job("7", 2))
    context = retry_context(MemoryTaskStateStore({KEY: "7"}))
    assert deferred_job(operator(), context) == "7"
    assert server.started == [] and context["ti"].pushed["job_id"] == "7"


def test_retry_reattaches_and_waits_in_the_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    server = FakeServer(monkeypatch, job("7", 2))
    states = iter([job("7", 2), job("7", 6, rows=10)])
    monkeypatch.setattr(
        MilvusImportHook, "get_import_state", lambda self, j, db=None: next(states, job("7", 6, rows=10))
    )
    context = retry_context(MemoryTaskStateStore({KEY: "7"}))
    result = operator(deferrable=False).execute(context)
    assert result["task_id"] == "7" and result["state_name"] == "Completed" and result["row_count"] == 10
    assert server.started == [] and context["ti"].pushed["return_value"] == result


@pytest.mark.parametrize("deferrable", [True, False])
def test_retry_returns_a_completed_jobs_final_state(monkeypatch: pytest.MonkeyPatch, deferrable: bool) -> None:
    server = FakeServer(monkeypatch, job("7", 6, rows=1000))
    context = retry_context(MemoryTaskStateStore({KEY: "7"}))
    result = operator(deferrable=deferrable).execute(context)  # no deferral: the job already ended
    assert result == job("7", 6, rows=1000).to_dict() == context["ti"].pushed["return_value"]
    assert server.started == [] and context["ti"].pushed["job_id"] == "7"


def test_retry_after_a_failed_job_starts_a_new_import(monkeypatch: pytest.MonkeyPatch) -> None:
    server = FakeServer(monkeypatch, job("7", 1))
    store = MemoryTaskStateStore({KEY: "7"})
    context = retry_context(store)
    assert deferred_job(operator(), context) == "100"
    assert server.started == ["100"] and store.stored == (kept("100") or {KEY: "7"})
    assert context["ti"].pushed["job_id"] == "100"


def test_retry_without_a_stored_id_finds_the_job_on_the_server(monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker died between the server's answer and the store write (or Airflow < 3.3: no store)."""
    older = job("3", 6, rows=5, created=T0 - 3600)  # a job of an earlier run: same files, before this run
    other = job("8", 2, files=["/data/other.json"], created=T0 + 20)
    server = FakeServer(monkeypatch, older, job("7", 2, created=T0 + 10), other)
    for store in (MemoryTaskStateStore(), None):
        context = retry_context(store)
        assert deferred_job(operator(), context) == "7"
        assert context["ti"].pushed["job_id"] == "7"
    assert server.started == []


def test_retry_finding_only_a_failed_job_starts_anew(monkeypatch: pytest.MonkeyPatch) -> None:
    server = FakeServer(monkeypatch, job("7", 1, created=T0 + 10))
    assert deferred_job(operator(), retry_context(None)) == "100"
    assert server.started == ["100"]


def test_first_try_never_searches_the_server(monkeypatch: pytest.MonkeyPatch) -> None:
    """A same-files job already on the server (another run) does not stop the first try from importing."""
    server = FakeServer(monkeypatch, job("7", 2, created=T0 + 10))
    assert deferred_job(operator(), make_context(try_number=1, max_tries=2, dag_run=FakeDagRun(RUN_START))) == "100"
    assert server.started == ["100"]


def test_durable_false_imports_on_every_try(monkeypatch: pytest.MonkeyPatch) -> None:
    server = FakeServer(monkeypatch, job("7", 2, created=T0 + 10))
    store = MemoryTaskStateStore({KEY: "7"})
    assert deferred_job(operator(durable=False), retry_context(store)) == "100"
    assert server.started == ["100"] and store.stored == {KEY: "7"}  # nothing kept


def test_clearing_starts_over(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cleared after try 3 (max_tries 3 + 2 = 5): try 4 forgets the stored, completed job and imports anew."""
    server = FakeServer(monkeypatch, job("7", 6, rows=1000))
    store = MemoryTaskStateStore({KEY: "7"})
    context = make_context(store=store, try_number=4, max_tries=5, dag_run=FakeDagRun(RUN_START))
    assert deferred_job(operator(), context) == "100"
    assert server.started == ["100"] and store.stored == kept("100")
    # Its own retry (try 5 of the same generation) reattaches to the new job again.
    assert deferred_job(operator(), make_context(store=store, try_number=5, max_tries=5)) == "100"
    assert server.started == ["100"]


def test_an_unreadable_stored_job_fails_the_try_without_importing(monkeypatch: pytest.MonkeyPatch) -> None:
    server = FakeServer(monkeypatch)
    context = retry_context(MemoryTaskStateStore({KEY: "404"}))
    if not HAS_TASK_STATE_STORE:  # pragma: no cover - no stored id below 3.3: the search finds no job
        assert deferred_job(operator(), context) == "100"
        return
    with pytest.raises(AirflowException, match=r"Cannot read import job 404 .* Clear the task"):
        operator().execute(context)
    assert server.started == []


def test_first_try_of_generation_follows_airflows_formula() -> None:
    assert first_try_of_generation(1, 2, 2) and not first_try_of_generation(2, 2, 2)
    assert first_try_of_generation(4, 5, 2) and not first_try_of_generation(5, 5, 2)
    assert first_try_of_generation(1, 0, 0) and first_try_of_generation(2, 1, 0)


def test_find_earlier_job_reads_jobs_listed_without_files() -> None:
    bare = job("9", 2, files=[], created=T0 + 30)
    full = {"9": job("9", 2, created=T0 + 30)}
    found = find_earlier_job([bare], full.__getitem__, collection_name="c", partition_name=None, files=FILES, since=T0)
    assert found == full["9"]
    # Listed without a creation time (REST list): read for it; still unknown after the read (REST before 2.6.6): never.
    listed = job("9", 2, files=[], created=0)
    assert find_earlier_job([listed], full.__getitem__, collection_name="c", partition_name=None, files=FILES, since=T0)
    undated = {"9": job("9", 2, created=0)}
    search = {"collection_name": "c", "partition_name": None, "files": FILES, "since": T0}
    assert find_earlier_job([listed], undated.__getitem__, **search) is None  # type: ignore[arg-type]
    # Legacy gRPC lists every job as id 0: nothing to read (the read would fail).
    assert find_earlier_job([job("0", 2, files=[], created=0)], {}.__getitem__, **search) is None  # type: ignore[arg-type]
    assert import_files([["/a.npy", "/b.npy"], ["/c.npy"]]) == {"/a.npy", "/b.npy", "/c.npy"}
    assert import_files("/a.json") == {"/a.json"}
