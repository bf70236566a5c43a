"""The shared poller: one list per round for many triggers, the same events as per-job polling, fallbacks."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import weakref
from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_milvus import BulkInsertState
from airflow_provider_milvus.client import AsyncMilvusImportClient
from airflow_provider_milvus.polling import FETCH_CONCURRENCY, Known, merge_summary, plan_fetches, shared_poller
from airflow_provider_milvus.polling.poller import _LOOPS
from airflow_provider_milvus.triggers.milvus_import import MilvusImportTrigger
from tests.emulator.grpc_server import MilvusEndpoint
from tests.emulator.server import DEFAULT_API_KEY, DEFAULT_CLUSTER_ID, ImportEmulator


def st(job: str, code: int, progress: int = 0, rows: int = 0) -> BulkInsertState:
    return BulkInsertState(task_id=job, state=code, progress=progress, row_count=rows)


def test_plan_fetches_reads_only_what_changed_state_or_ended() -> None:
    listed = {"a": st("a", 2, 40), "b": st("b", 2, 50), "c": st("c", 6, 100), "d": st("d", 0), "f": st("f", 2, 10)}
    known = {
        "a": Known(st("a", 2, 30, 300), fetched_at=100.0),  # same state, progress moved: merged from the list
        "b": Known(st("b", 0, 0), fetched_at=100.0),  # Pending -> Importing: full read
        "c": Known(st("c", 2, 99, 990), fetched_at=100.0),  # ended: full read
        "d": Known(None),  # never read in full
        "e": Known(st("e", 2, 10), fetched_at=100.0),  # not in the list: read directly
        "f": Known(st("f", 2, 10), fetched_at=0.0, refresh=50.0),  # last full read too old
    }
    fetch, from_list = plan_fetches(list(known), listed, known, now=110.0, listing_is_full=False)
    assert sorted(fetch) == ["b", "c", "d", "e", "f"] and from_list == ["a"]


def test_plan_fetches_takes_full_listings_as_they_are() -> None:
    fetch, from_list = plan_fetches(["a", "z"], {"a": st("a", 2, 40, 400)}, {}, now=0.0, listing_is_full=True)
    assert fetch == ["z"] and from_list == ["a"]


def test_plan_fetches_can_serve_running_jobs_from_the_list_but_never_an_end() -> None:
    """Zilliz Cloud: first sights and changes of a running job's state come from the page; ends are read."""
    listed = {"a": st("a", 0), "b": st("b", 2, 0), "c": st("c", 6, 100)}
    known = {job: Known(None) for job in listed}
    fetch, from_list = plan_fetches(list(known), listed, known, now=0.0, listing_is_full=False, running_from_list=True)
    assert fetch == ["c"] and from_list == ["a", "b"]  # the final state is read in full
    only_new = {job: listed[job] for job in ("a", "b")}
    fetch, from_list = plan_fetches(
        ["a", "b"], only_new, known, now=0.0, listing_is_full=False, running_from_list=True, need_sample=True
    )
    assert fetch == ["a"] and from_list == ["b"]  # nothing read yet: one is read in full, a measure
    seen = {
        "a": Known(st("a", 0), fetched_at=100.0),  # Pending -> Importing: the page's state is merged
        "b": Known(st("b", 2, 10), fetched_at=0.0, refresh=50.0),  # last full read too old: read in full
    }
    fetch, from_list = plan_fetches(
        ["a", "b"], {"a": st("a", 2), "b": st("b", 2)}, seen, now=110.0, listing_is_full=False, running_from_list=True
    )
    assert fetch == ["b"] and from_list == ["a"]
    fetch, from_list = plan_fetches(["a"], {"a": st("a", 2)}, seen, now=110.0, listing_is_full=False)
    assert fetch == ["a"] and from_list == []  # self-hosted: a change of state is read in full


def test_merge_summary_keeps_rows_and_takes_state_and_progress() -> None:
    full = BulkInsertState(task_id="a", state=2, progress=30, row_count=300, infos={"progress_percent": "30"})
    merged = merge_summary(full, st("a", 2, 45), with_progress=True)
    assert (merged.state_name, merged.progress, merged.row_count, merged.infos["progress_percent"]) == (
        "Started",
        45,
        300,
        "45",
    )
    assert merge_summary(full, st("a", 2, 0), with_progress=False) is full  # the cloud list has no progress


async def run_triggers(jobs: list[str], conn_id: str, *, coalesce: bool, interval: float = 0.2) -> list[dict[str, Any]]:
    async def one(job: str) -> dict[str, Any]:
        trigger = MilvusImportTrigger(job_id=job, milvus_conn_id=conn_id, poll_interval=interval, coalesce=coalesce)
        events = [event.payload async for event in trigger.run()]
        assert len(events) == 1
        return events[0]

    return await asyncio.wait_for(asyncio.gather(*(one(job) for job in jobs)), 120)


class ReadsInFlight:
    """How many state reads (describe / list) the async client had started and not finished, at the most."""

    def __init__(self) -> None:
        self.now = self.peak = self.per_job_peak = self.job_reads = 0
        self.per_job: dict[str, int] = {}

    def wrap(self, read: Callable[..., Any], *, job_arg: bool) -> Callable[..., Any]:
        async def counted(client: AsyncMilvusImportClient, *args: Any, **kwargs: Any) -> Any:
            job = str(args[0]) if job_arg else ""
            self.now += 1
            self.per_job[job] = self.per_job.get(job, 0) + 1
            self.peak = max(self.peak, self.now)
            if job_arg:
                self.job_reads += 1
                self.per_job_peak = max(self.per_job_peak, self.per_job[job])
            try:
                return await read(client, *args, **kwargs)
            finally:
                self.now -= 1
                self.per_job[job] -= 1

        return counted


def count_reads_in_flight(monkeypatch: pytest.MonkeyPatch) -> ReadsInFlight:
    """Count the async client's reads in flight (the real reads still run)."""
    reads = ReadsInFlight()
    for name, job_arg in (("get_import_state", True), ("list_import_states", False)):
        wrapped = reads.wrap(getattr(AsyncMilvusImportClient, name), job_arg=job_arg)
        monkeypatch.setattr(AsyncMilvusImportClient, name, wrapped)
    return reads


def connect(monkeypatch: pytest.MonkeyPatch, conn_id: str, **conn: Any) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "milvus", **conn}))


@pytest.mark.parametrize("coalesce", [True, False])
async def test_many_triggers_same_events_fewer_requests(
    monkeypatch: pytest.MonkeyPatch, make_emulator: Callable[..., ImportEmulator], coalesce: bool
) -> None:
    emulator = make_emulator(mode="rest", job_duration=1.5)
    jobs = [emulator.create_job("c", [[f"/data/{i}.parquet"]]) for i in range(40)]
    bad = emulator.create_job("c", [["/data/fail.parquet"]])
    connect(monkeypatch, "many", host=emulator.base_url, extra={"protocol": "rest"})
    reads = count_reads_in_flight(monkeypatch)
    events = await run_triggers([*jobs, bad], "many", coalesce=coalesce)
    assert [e["status"] for e in events] == ["success"] * 40 + ["failed"]
    assert all(e["state"]["row_count"] == e["state"]["total_rows"] > 0 for e in events[:40])
    assert events[-1]["state"]["failed_reason"]
    lists, describes = emulator.request_count("list"), emulator.request_count("describe")
    if coalesce:
        assert lists >= 1
        # Until the first list (a probe) answers, each reader reads on its own, as per-job polling. From then
        # on: Pending -> Importing, the end, and at most one own read that was under way during the probe.
        routes = [r.route.rsplit("/", 1)[-1] for r in emulator.requests]
        after_first_list = routes[routes.index("list") :].count("describe")
        assert after_first_list <= 41 * 3, (after_first_list, describes)
    else:  # one describe per read, each job read at least once (a slow start may first see it ended)
        assert lists == 0 and describes == reads.job_reads >= 41
    # Counted in the event loop, where the client's calls start and end: exact, whatever the OS schedules.
    # Each job has at most one read at a time; a poller reads at most FETCH_CONCURRENCY at once, either way.
    assert reads.per_job_peak == 1
    assert reads.peak <= FETCH_CONCURRENCY


async def test_coalesced_and_per_job_events_are_identical(
    monkeypatch: pytest.MonkeyPatch, make_emulator: Callable[..., ImportEmulator]
) -> None:
    emulator = make_emulator(mode="rest", speed=0)
    jobs = [emulator.create_job("c", [[f"/d/{i}.parquet"]]) for i in range(5)]
    for job in jobs[:4]:
        emulator.finish_job(job)
    emulator.fail_job(jobs[4], "bad parquet")
    connect(monkeypatch, "same", host=emulator.base_url, extra={"protocol": "rest"})
    coalesced = await run_triggers(jobs, "same", coalesce=True)
    per_job = await run_triggers(jobs, "same", coalesce=False)
    assert coalesced == per_job


async def test_untrusted_grpc_list_falls_back_to_per_job(
    monkeypatch: pytest.MonkeyPatch, make_endpoint: Callable[..., MilvusEndpoint]
) -> None:
    """Milvus 2.4+ answers the legacy gRPC calls with id 0: the shared poller never lists, each job is read."""
    endpoint = make_endpoint("2.5", job_duration=0.3)
    endpoint.rest.add_history(500, collection="c")
    jobs = [endpoint.rest.create_job("c", [[f"/data/{i}.parquet"]]) for i in range(5)]
    connect(monkeypatch, "legacy", host=f"http://127.0.0.1:{endpoint.port}", extra={"protocol": "grpc"})
    events = await run_triggers(jobs, "legacy", coalesce=True, interval=0.05)
    assert [e["status"] for e in events] == ["success"] * 5
    assert [e["state"]["task_id"] for e in events] == jobs
    assert endpoint.grpc.count("ListImportTasks") == 0 and endpoint.grpc.count("GetImportState") >= 5


async def test_cloud_stays_under_its_rate_limit(
    monkeypatch: pytest.MonkeyPatch, make_emulator: Callable[..., ImportEmulator]
) -> None:
    emulator = make_emulator(mode="cloud", token=DEFAULT_API_KEY, job_duration=1.0)
    jobs = [emulator.create_job("c", [[f"s3://b/{i}.parquet"]]) for i in range(60)]
    connect(
        monkeypatch,
        "cloudy",
        extra={
            "protocol": "cloud",
            "cloud_endpoint": emulator.base_url,
            "cloud_api_key": DEFAULT_API_KEY,
            "cloud_cluster_id": DEFAULT_CLUSTER_ID,
        },
    )
    events = await run_triggers(jobs, "cloudy", coalesce=False, interval=0.05)
    assert all(e["status"] == "success" for e in events)
    assert emulator.rate_limited_count("getProgress") == 0 and emulator.rate_limited_count("list") == 0


async def test_jobs_of_another_database_are_read_with_its_header(
    monkeypatch: pytest.MonkeyPatch, make_emulator: Callable[..., ImportEmulator]
) -> None:
    """REST reads a job's database only from DB-Name: a trigger given db_name must send it."""
    emulator = make_emulator(mode="rest", speed=0, strict_db=True)
    job = emulator.create_job("c", [["/d/1.parquet"]], db_name="analytics")
    emulator.finish_job(job)
    connect(monkeypatch, "otherdb", host=emulator.base_url, extra={"protocol": "rest", "db_name": "default"})
    for coalesce in (True, False):
        trigger = MilvusImportTrigger(
            job_id=job, milvus_conn_id="otherdb", poll_interval=0.05, coalesce=coalesce, db_name="analytics"
        )
        (event,) = [e.payload async for e in trigger.run()]
        assert event["status"] == "success", event
    assert all(r.header("DB-Name") == "analytics" for r in emulator.requests)


def test_a_poller_belongs_to_the_loop_that_runs_it(
    monkeypatch: pytest.MonkeyPatch, make_emulator: Callable[..., ImportEmulator]
) -> None:
    """A loop that ends with a trigger still inside its poller (a triggerer stopped hard) takes the poller with it.

    The next loop gets a fresh poller and client that work; the dead loop leaves nothing in the registry
    (0.1 kept its pollers and locks under ``id(loop)``, which a new loop can reuse).
    """
    emulator = make_emulator(mode="rest", speed=0)
    job = emulator.create_job("c", [["/d/1.parquet"]])
    emulator.finish_job(job)
    connect(monkeypatch, "loops", host=emulator.base_url, extra={"protocol": "rest"})
    hook = MilvusImportTrigger(job_id=job, milvus_conn_id="loops")
    from airflow_provider_milvus.hooks.milvus_import import MilvusImportHook

    get_settings = MilvusImportHook("loops", protocol="rest").aget_settings
    left_open: list[Any] = []

    async def enter_and_leave_open() -> Any:
        stack = contextlib.AsyncExitStack()
        poller = await stack.enter_async_context(shared_poller("loops", "rest", get_settings))
        assert (await poller.client.get_import_state(job)).succeeded
        left_open.append(stack)  # never exited: the loop goes away under it
        return poller

    first_loop = asyncio.new_event_loop()
    first = first_loop.run_until_complete(enter_and_leave_open())
    gone = weakref.ref(first_loop)
    first_loop.close()
    del first_loop
    left_open.clear()

    async def fresh() -> Any:
        async with shared_poller("loops", "rest", get_settings) as poller:
            loops = [ref() is asyncio.get_running_loop() for ref, _ in _LOOPS.values()]
            return poller, (await poller.client.get_import_state(job)).succeeded, loops

    second, ok, loops = asyncio.run(fresh())
    assert second is not first and ok
    assert loops == [True], "a closed loop's pollers outlived it"
    del first, loops
    gc.collect()
    assert gone() is None, "the closed loop is still referenced"
    events = asyncio.run(run_triggers([job], "loops", coalesce=True, interval=0.05))
    assert events[0]["status"] == "success" and hook.job_id == job
