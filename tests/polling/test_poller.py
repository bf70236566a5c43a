"""The shared poller against a busy emulated server: its own decisions and the requests the server saw.

Rounds are driven one by one (``poll_once``) on a frozen emulator clock: nothing here depends on timing.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_milvus.client import AsyncMilvusImportClient
from airflow_provider_milvus.polling import SharedPoller, cost
from airflow_provider_milvus.polling import poller as poller_module
from airflow_provider_milvus.protocol import cloud as cloud_protocol
from airflow_provider_milvus.protocol.base import HttpResponse
from airflow_provider_milvus.protocol.rest import RestProtocol, loads
from airflow_provider_milvus.settings import MilvusSettings
from airflow_provider_milvus.transport.driver import THREAD_PARSE_BYTES, run_async
from airflow_provider_milvus.waiting import Pause
from tests.emulator.grpc_server import MilvusEndpoint
from tests.emulator.server import DEFAULT_API_KEY, DEFAULT_CLUSTER_ID, EmulatorClock, ImportEmulator

MakeEmulator = Callable[..., ImportEmulator]


def client_for(emulator: ImportEmulator | MilvusEndpoint, protocol: str) -> AsyncMilvusImportClient:
    if protocol == "cloud":
        assert isinstance(emulator, ImportEmulator)
        settings = MilvusSettings(
            host="127.0.0.1",
            port=emulator.port,
            secure=False,
            protocol="cloud",
            cloud_api_key=DEFAULT_API_KEY,
            cloud_cluster_id=DEFAULT_CLUSTER_ID,
            cloud_endpoint=emulator.base_url,
        )
    else:
        settings = MilvusSettings(host="127.0.0.1", port=emulator.port, secure=False, protocol=protocol)
    return AsyncMilvusImportClient(settings)


def start_jobs(emulator: ImportEmulator, n: int, collection: str = "watched") -> list[str]:
    for _ in range(n):
        emulator.script_next_job(duration=1_000.0)
    return [emulator.create_job(collection, [[f"{collection}/{i}.json"]]) for i in range(n)]


def watching(emulator: ImportEmulator, protocol: str, jobs: list[str]) -> SharedPoller:
    """A poller that runs rounds only when the test says (``poll_once``), watching ``jobs`` at 1 s."""
    poller = SharedPoller(client_for(emulator, protocol), autostart=False)
    for job in jobs:
        poller.watch(job, 1.0)
    return poller


async def rounds(poller: SharedPoller, n: int) -> list[str]:
    """Run ``n`` rounds, then one read by each waiting trigger; the kinds of the rounds' plans.

    A job a list serves takes the round's answer; any other job is read by its reader, as per-job polling.
    """
    kinds = []
    for _ in range(n):
        plan = await poller.poll_once()
        for job_id in list(poller.jobs):
            await poller.read(job_id)
        if not plan.lists:
            kinds.append("per-job")
        else:
            kinds.append("probe" if any(p.probe for p in plan.lists) else "list")
    return kinds


async def test_quiet_server_one_collection_list_per_round(make_emulator: MakeEmulator) -> None:
    emulator = make_emulator(speed=0)
    jobs = start_jobs(emulator, 40)
    poller = watching(emulator, "rest", jobs)
    try:
        assert await rounds(poller, 5) == ["per-job", "probe", "list", "list", "list"]
    finally:
        await poller.aclose()
    # Each job once, then from the lists: the probe answered before the readers came back.
    assert emulator.request_count("describe") == 40
    assert emulator.request_count("list") == 4
    bodies = [r.json for r in emulator.requests if r.path.endswith("/list")]
    assert all(body == {"collectionName": "watched"} for body in bodies)  # filtered to the watched collection


async def test_busy_collection_is_read_per_job_and_measured_again_after_its_backoff(
    make_emulator: MakeEmulator,
) -> None:
    emulator = make_emulator(speed=0)
    emulator.add_history(3_000, collection="watched")
    jobs = start_jobs(emulator, 40)
    poller = watching(emulator, "rest", jobs)
    try:
        kinds = await rounds(poller, 12)
    finally:
        await poller.aclose()
    assert kinds == ["per-job", "probe"] + ["per-job"] * 7 + ["probe"] + ["per-job"] * 2
    assert emulator.request_count("describe") == 12 * 40  # every round read every job: the probes served none
    assert emulator.request_count("list") == 2
    measure = poller.list_costs["watched"]
    assert not measure.complete and measure.backoff == 16  # found too dear twice: the wait doubled
    assert measure.bytes < 40 * 2 * poller.read_cost.bytes + 65_536  # stopped near its budget, not 3,000 jobs


async def test_history_of_other_collections_costs_nothing_with_the_collection_filter(
    make_emulator: MakeEmulator,
) -> None:
    emulator = make_emulator(speed=0)
    emulator.add_history(5_000, collection="other", collections=4)
    jobs = start_jobs(emulator, 40)
    poller = watching(emulator, "rest", jobs)
    try:
        assert await rounds(poller, 4) == ["per-job", "probe", "list", "list"]
    finally:
        await poller.aclose()
    assert emulator.request_count("describe") == 40 and emulator.request_count("list") == 3


async def test_a_list_that_shrinks_is_used_again(make_emulator: MakeEmulator) -> None:
    clock = EmulatorClock(speed=0)
    emulator = make_emulator(clock=clock)
    emulator.add_history(3_000, collection="watched", window=600.0)
    jobs = start_jobs(emulator, 40)
    poller = watching(emulator, "rest", jobs)
    try:
        assert await rounds(poller, 3) == ["per-job", "probe", "per-job"]
        clock.advance(10_800)  # the history is forgotten; the watched jobs still run
        assert await rounds(poller, 8) == ["per-job"] * 6 + ["probe", "list"]
    finally:
        await poller.aclose()
    assert poller.list_costs["watched"].complete


async def test_cloud_stops_paging_once_every_watched_job_was_seen(make_emulator: MakeEmulator) -> None:
    emulator = make_emulator(mode="cloud", speed=0, token=DEFAULT_API_KEY, rate_limit=None)
    emulator.add_history(1_000)
    jobs = start_jobs(emulator, 40)  # the newest: on the first page (of 80)
    poller = watching(emulator, "cloud", jobs)
    try:
        # The first round's page serves the jobs' first sight too (one job is read in full: a measure).
        assert await rounds(poller, 4) == ["probe", "list", "list", "list"]
    finally:
        await poller.aclose()
    pages = [r.json["currentPage"] for r in emulator.requests if r.path.endswith("/list")]
    assert pages == [1, 1, 1, 1]  # 11 pages of history never read
    assert emulator.request_count("getProgress") == 1


async def test_cloud_never_pages_more_than_per_job_reads_would_cost(make_emulator: MakeEmulator) -> None:
    emulator = make_emulator(mode="cloud", speed=0, token=DEFAULT_API_KEY, rate_limit=None)
    jobs = start_jobs(emulator, 40)
    emulator.add_history(1_000)  # newer than the watched jobs: they sit on the last pages
    poller = watching(emulator, "cloud", jobs)
    try:
        # The first round's page (for the jobs' first sight) misses them: they are read, and no list again soon.
        assert await rounds(poller, 3) == ["probe", "per-job", "per-job"]
    finally:
        await poller.aclose()
    measure = poller.list_costs[None]
    assert not measure.complete and measure.pages == emulator.request_count("list") == 2  # the 40 fill one, and one
    assert emulator.request_count("describe") + emulator.request_count("getProgress") == 3 * 40


async def test_legacy_grpc_shim_is_known_from_its_first_read_and_never_listed(
    make_endpoint: Callable[..., MilvusEndpoint],
) -> None:
    endpoint = make_endpoint("2.5", speed=0)
    endpoint.rest.add_history(2_000, collection="watched")
    jobs = start_jobs(endpoint.rest, 60)
    poller = SharedPoller(client_for(endpoint, "grpc"), autostart=False)
    for job in jobs:
        poller.watch(job, 1.0)
    try:
        await rounds(poller, 3)  # the shim's GetImportState said id 0: its list would too, and is never asked
    finally:
        await poller.aclose()
    assert endpoint.grpc.count("ListImportTasks") == 0 and endpoint.grpc.count("GetImportState") == 3 * 60


async def test_milvus_2_3_grpc_lists_by_collection(make_endpoint: Callable[..., MilvusEndpoint]) -> None:
    endpoint = make_endpoint("2.3", speed=0)
    endpoint.rest.add_history(500, collection="other")
    jobs = start_jobs(endpoint.rest, 100)
    poller = SharedPoller(client_for(endpoint, "grpc"), autostart=False)
    for job in jobs:
        poller.watch(job, 1.0)
    try:
        assert await rounds(poller, 3) == ["per-job", "probe", "list"]
    finally:
        await poller.aclose()
    assert endpoint.grpc.count("GetImportState") == 100 and endpoint.grpc.count("ListImportTasks") == 2


async def test_list_collection_shares_one_request_between_callers(make_emulator: MakeEmulator) -> None:
    emulator = make_emulator(speed=0, latency=0.2)
    emulator.add_history(300, collection="watched", collections=3)
    poller = SharedPoller(client_for(emulator, "rest"), autostart=False)
    try:
        first, second = await asyncio.gather(poller.list_collection("watched"), poller.list_collection("watched"))
    finally:
        await poller.aclose()
    assert len(first) == len(second) == 100 and {s.collection_name for s in first} == {"watched"}
    assert emulator.request_count("list") == 1


def test_sliced_json_decodes_a_long_list_as_json_loads_does() -> None:
    records = [
        {"jobId": str(10**18 + i), "collectionName": "c", "state": "Completed", "progress": 100} for i in range(9_000)
    ]
    body = json.dumps({"code": 0, "data": {"records": records}}, indent=1).encode()
    assert len(body) > 256 * 1024
    assert loads(body) == json.loads(body)
    tricky = (
        json.dumps({"code": 0, "message": '"records":[', "data": {"records": records[:3]}}).encode() + b" " * 300_000
    )
    assert loads(tricky) == json.loads(tricky)


async def test_a_long_answer_is_parsed_off_the_event_loop() -> None:
    loop_thread = threading.get_ident()
    parsed_in: list[int] = []
    protocol = RestProtocol("http://milvus.invalid:19530")
    records = [
        {"jobId": str(10**18 + i), "collectionName": "c", "state": "Completed"} for i in range(THREAD_PARSE_BYTES // 40)
    ]
    body = json.dumps({"code": 0, "data": {"records": records}}).encode()

    def operation() -> Any:
        listing = yield from protocol.list_jobs("c")
        parsed_in.append(threading.get_ident())
        return listing

    async def send(request: Any) -> HttpResponse:
        return HttpResponse(200, body)

    listing = await run_async(operation(), send)
    assert len(listing.states) == len(records) and parsed_in[0] != loop_thread


@pytest.mark.parametrize("size", [100, THREAD_PARSE_BYTES])
async def test_short_answers_stay_on_the_loop(size: int) -> None:
    loop_thread = threading.get_ident()
    seen: list[int] = []

    def operation() -> Any:
        answer = yield "request"
        seen.append(threading.get_ident())
        return answer

    async def send(request: Any) -> HttpResponse:
        return HttpResponse(200, b"x" * size)

    await run_async(operation(), send)
    assert seen == [loop_thread]


async def test_jobs_no_list_serves_are_read_by_their_readers_only(make_emulator: MakeEmulator) -> None:
    emulator = make_emulator(speed=0)
    jobs = start_jobs(emulator, 2)
    poller = watching(emulator, "rest", jobs)
    try:
        await poller.poll_once()
        await poller.poll_once()  # rounds plan per-job reads: they ask the server nothing themselves
        assert emulator.request_count() == 0
        await poller.read(jobs[0])  # one reader polls: one describe, at its own pace
    finally:
        await poller.aclose()
    assert [r.json["jobId"] for r in emulator.requests] == [jobs[0]]


real_sleep = asyncio.sleep


def record_sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record every ``asyncio.sleep`` the poller (and what it calls) starts; the sleeps still happen."""
    slept: list[float] = []

    async def recorded(seconds: float) -> None:
        slept.append(seconds)
        await real_sleep(seconds)

    monkeypatch.setattr(poller_module.asyncio, "sleep", recorded)
    return slept


async def test_readers_of_jobs_no_list_serves_keep_their_own_pace(
    make_emulator: MakeEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Per-job readers sleep their own interval (spread, as per-job polling); listed ones wait for the round."""
    emulator = make_emulator(speed=0)
    jobs = start_jobs(emulator, 40)
    poller = watching(emulator, "rest", jobs)
    slept = record_sleeps(monkeypatch)
    try:
        assert await rounds(poller, 1) == ["per-job"]
        await asyncio.wait_for(poller.pause(Pause(0.01), jobs[0]), 5)
        assert 0.01 in slept  # its own timer: no round needed
        assert await rounds(poller, 2) == ["probe", "list"]
        waiting = asyncio.ensure_future(poller.pause(Pause(30), jobs[0]))  # gives up on rounds after 61 s
        await real_sleep(0.2)
        assert not waiting.done() and 30 not in slept  # a listed job's reader wakes with the next round
        await poller.poll_once()
        await asyncio.wait_for(waiting, 5)
    finally:
        await poller.aclose()


async def test_a_probe_never_serves_a_reader_an_answer_older_than_its_own_read(make_emulator: MakeEmulator) -> None:
    """A reader that read while the probe was under way keeps its own, newer answer; the others take the probe's."""
    emulator = make_emulator(speed=0)
    jobs = start_jobs(emulator, 40)
    poller = watching(emulator, "rest", jobs)
    try:
        assert await rounds(poller, 1) == ["per-job"]
        held = emulator.inject_hold(route="list")  # the probe's list waits for the test
        probe = asyncio.ensure_future(poller.poll_once())
        # The list has arrived (and is held) once it is recorded; "a request in flight" could still be the
        # last read of the round before, whose handler has answered but not yet counted itself out.
        for _ in range(3000):
            if emulator.request_count("list"):
                break
            await asyncio.sleep(0.01)
        assert emulator.request_count("list") == 1 and not probe.done()
        emulator.finish_job(jobs[0])  # ends while the probe is under way...
        assert (await poller.read(jobs[0])).state_name == "Completed"  # ...and its reader reads it on its own
        held.release()
        assert (await probe).lists and poller.last_plan.lists[0].probe
        assert (await poller.read(jobs[1])).state_name != "Completed"  # from the probe: no read
        describes = emulator.request_count("describe")
        assert describes == 41 and poller.jobs[jobs[1]].probe_answer is False
        assert (await poller.read(jobs[0])).state_name == "Completed"  # its own newer answer, read again
        assert emulator.request_count("describe") == 42
    finally:
        await poller.aclose()


async def test_a_cloud_probe_holds_its_readers(make_emulator: MakeEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    """Zilliz Cloud counts every request against 20/s: readers wait for the probe's page instead of reading."""
    emulator = make_emulator(mode="cloud", speed=0, token=DEFAULT_API_KEY, rate_limit=None)
    jobs = [emulator.create_job("watched", [[f"s3://b/{i}.json"]], cluster_id=DEFAULT_CLUSTER_ID) for i in range(20)]
    poller = watching(emulator, "cloud", jobs)
    slept = record_sleeps(monkeypatch)
    try:
        assert await rounds(poller, 2) == ["probe", "list"]
        waiting = asyncio.ensure_future(poller.pause(Pause(30), jobs[0]))
        await real_sleep(0.2)
        assert not waiting.done() and 30 not in slept  # waits for the next round, as a listed job's reader
        await poller.poll_once()
        await asyncio.wait_for(waiting, 5)
    finally:
        await poller.aclose()
    assert emulator.request_count("getProgress") == 1  # the first page served every first sight (one read: a measure)


@pytest.mark.parametrize(("waits", "lists", "reads"), [(30, 1, 1), (2, 0, 2)])
async def test_cloud_new_waits_see_their_first_state_on_one_page(
    make_emulator: MakeEmulator, waits: int, lists: int, reads: int
) -> None:
    """Zilliz Cloud: waits that start together take their first state from one page, not a read each.

    One job is read in full all the same (the cost model's first measure of a read); below three waits a
    page saves nothing, and each is read as by per-job polling.
    """
    emulator = make_emulator(mode="cloud", speed=0, token=DEFAULT_API_KEY, rate_limit=None)
    emulator.add_history(1_000)
    jobs = start_jobs(emulator, waits)  # the newest: on the first page
    poller = SharedPoller(client_for(emulator, "cloud"))  # its own round loop, as in a triggerer
    for job in jobs:
        poller.watch(job, 1.0)
    try:
        states = await asyncio.wait_for(asyncio.gather(*(poller.read(job) for job in jobs)), 30)
    finally:
        await poller.aclose()
    assert [s.task_id for s in states] == jobs and not any(s.is_terminal for s in states)
    assert {s.collection_name for s in states} == {"watched"}
    assert emulator.request_count("list") == lists and emulator.request_count("getProgress") == reads


async def test_pauses_between_pages_are_not_counted_as_parse_time(
    make_emulator: MakeEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cost model prices a list by its parse time: the pauses between cloud pages are no work (they made a
    list of a few pages look dearer than a thousand reads)."""
    monkeypatch.setattr(cloud_protocol, "PAGE_INTERVAL", 1.0)
    emulator = make_emulator(mode="cloud", speed=0, token=DEFAULT_API_KEY, rate_limit=None)
    emulator.add_history(250)
    client = client_for(emulator, "cloud")
    try:
        listing = await client.list_jobs(None, None)
    finally:
        await client.aclose()
    assert listing.complete and listing.pages == 3 and len(listing.states) == 250
    assert client.stats.seconds < 1.0  # two pauses of 1 s, and parsing three pages of 100 records


@pytest.mark.parametrize("waits", [5, 150])
async def test_cloud_lists_only_as_often_as_rate_limited_reads_would_cost(
    make_emulator: MakeEmulator, monkeypatch: pytest.MonkeyPatch, waits: int
) -> None:
    """Zilliz Cloud: at this process's share of 6 requests/s, per-job polling reads at most 6 jobs an interval.
    A page of 5 jobs costs less than reading them and is listed every round; pages of 150 cost more than 6
    reads and are listed only every few intervals: as often as their bytes stay within those reads' (x 1.25)."""
    monkeypatch.setenv("AIRFLOW__MILVUS__CLOUD_REQUESTS_PER_SECOND", "6")
    emulator = make_emulator(mode="cloud", speed=0, token=DEFAULT_API_KEY, rate_limit=None)
    emulator.add_history(300)
    jobs = start_jobs(emulator, waits)  # the newest: on the first pages
    poller = watching(emulator, "cloud", jobs)
    try:
        assert await rounds(poller, 2) == ["probe", "list"]
    finally:
        await poller.aclose()
    plan, measure, read = poller.last_plan, poller.list_costs[None], poller.read_cost
    reads_bytes = 6 * read.bytes * cost.BYTES_SLACK  # one interval of per-job reads, with the slack
    assert measure.complete and measure.entries >= waits
    if waits == 5:
        assert plan.spacing == 1 and plan.reason == "one list"
    else:
        assert plan.spacing > 1 and plan.reason == f"one list every {plan.spacing} intervals"
        assert measure.bytes / plan.spacing <= reads_bytes < measure.bytes / (plan.spacing - 1)
    assert emulator.request_count("getProgress") == 1  # running jobs: first sights from the pages, one measure


async def test_the_round_loop_waits_the_spacing_of_a_paced_list(
    make_emulator: MakeEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loop itself sleeps the spaced rounds' intervals; readers of listed jobs wait for the next round, and a
    wait that starts meanwhile is read at once (one read is cheaper than those lists) instead of waiting."""
    monkeypatch.setenv("AIRFLOW__MILVUS__CLOUD_REQUESTS_PER_SECOND", "6")
    emulator = make_emulator(mode="cloud", speed=0, token=DEFAULT_API_KEY, rate_limit=None)
    jobs = start_jobs(emulator, 150)
    poller = SharedPoller(client_for(emulator, "cloud"))  # its own round loop, as in a triggerer
    for job in jobs:
        poller.watch(job, 0.5)
    slept = record_sleeps(monkeypatch)
    try:
        await asyncio.wait_for(asyncio.gather(*(poller.read(job) for job in jobs)), 60)  # first sights
        pauses = [asyncio.ensure_future(poller.pause(Pause(0.5), job)) for job in jobs]
        await asyncio.wait_for(asyncio.gather(*pauses), 60)  # the next round: a measured list
        await asyncio.wait_for(asyncio.gather(*(poller.read(job) for job in jobs)), 60)
        assert poller.last_plan.spacing > 1
        new = start_jobs(emulator, 1)[0]
        poller.watch(new, 0.5)
        assert (await asyncio.wait_for(poller.read(new), 60)).task_id == new
        for _ in range(500):
            if any(s > 0.5 for s in slept):
                break
            await real_sleep(0.01)
    finally:
        await poller.aclose()
    # The readers never slept their own 0.5 s (they wait for rounds); the loop slept more than one interval.
    assert 0.5 not in slept and any(s > 0.5 for s in slept)
    assert emulator.request_count("getProgress") == 2  # the first measure, and the new wait's first read


async def test_closing_ends_a_round_loop_that_swallowed_a_cancel(
    make_emulator: MakeEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Python 3.11's ``asyncio.wait_for`` can swallow a cancel (its inner wait done at that moment): the loop must
    end all the same when the poller is closed, not poll on forever while ``aclose`` waits for it."""
    emulator = make_emulator(speed=0)
    jobs = start_jobs(emulator, 5)
    poller = SharedPoller(client_for(emulator, "rest"))
    for job in jobs:
        poller.watch(job, 0.2)
    swallowed: list[float] = []
    sleeping = asyncio.Event()

    async def deaf(seconds: float) -> None:
        sleeping.set()
        try:
            await real_sleep(max(seconds, 5.0))  # long enough that the cancel finds the loop here
        except asyncio.CancelledError:
            if swallowed:
                raise
            swallowed.append(seconds)  # as wait_for on 3.11 may: the loop goes on

    await asyncio.wait_for(asyncio.gather(*(poller.read(job) for job in jobs)), 30)
    monkeypatch.setattr(poller_module.asyncio, "sleep", deaf)
    await asyncio.wait_for(sleeping.wait(), 30)  # the round loop sleeps between rounds
    await asyncio.wait_for(poller.aclose(), 30)
    assert swallowed and poller._task is not None and poller._task.done()
