"""A busy server's history in the emulator (spec section 7): lists answer it all, retention forgets it with
each release's not-found answer, and a restart fails (2.3) or resumes (2.4+) the jobs in flight."""

from __future__ import annotations

from collections.abc import Callable

import grpc
import pytest
import requests

from airflow_provider_milvus.proto import milvus_import_pb2 as pb
from tests.emulator.fixtures import grpc_call as call
from tests.emulator.grpc_server import MilvusEndpoint
from tests.emulator.profiles import CLOUD_PROFILES, PROFILES, REST_PROFILES
from tests.emulator.server import DEFAULT_API_KEY, DEFAULT_CLUSTER_ID, EmulatorClock, ImportEmulator

CLOUD_AUTH = {"Authorization": f"Bearer {DEFAULT_API_KEY}"}
MakeEmulator = Callable[..., ImportEmulator]
MakeEndpoint = Callable[..., MilvusEndpoint]


def rest(emulator: ImportEmulator, route: str, body: dict[str, object]) -> dict[str, object]:
    answer: dict[str, object] = requests.post(emulator.url(route), json=body, timeout=30).json()
    return answer


def cloud(emulator: ImportEmulator, route: str, body: dict[str, object]) -> dict[str, object]:
    body = {"clusterId": DEFAULT_CLUSTER_ID, **body}
    answer: dict[str, object] = requests.post(emulator.url(route), json=body, headers=CLOUD_AUTH, timeout=30).json()
    return answer


def records(answer: dict[str, object]) -> list[dict[str, object]]:
    data = answer["data"]
    assert isinstance(data, dict), answer
    found: list[dict[str, object]] = data["records"]
    return found


@pytest.mark.parametrize("name", REST_PROFILES)
def test_rest_list_answers_the_whole_history_and_filters_by_collection(make_emulator: MakeEmulator, name: str) -> None:
    emulator = make_emulator(name, speed=0)
    history = emulator.add_history(300, collection="other", collections=3)
    mine = emulator.create_job("watched", [["a.json"]])
    listed = records(rest(emulator, "list", {}))
    assert {str(r["jobId"]) for r in listed} == {*history, mine}
    states = {r["state"] for r in listed if r["jobId"] != mine}
    assert states == {"Completed", "Failed"}  # finished jobs, some failed
    by_collection = records(rest(emulator, "list", {"collectionName": "other_1"}))
    assert len(by_collection) == 100 and {r["collectionName"] for r in by_collection} == {"other_1"}
    assert [r["jobId"] for r in records(rest(emulator, "list", {"collectionName": "watched"}))] == [mine]


@pytest.mark.parametrize("name", CLOUD_PROFILES)
def test_cloud_list_pages_the_history_100_a_page_with_its_count(make_emulator: MakeEmulator, name: str) -> None:
    emulator = make_emulator(name, speed=0, token=DEFAULT_API_KEY, rate_limit=None)
    history = emulator.add_history(250)
    mine = emulator.create_job("watched", [["a.json"]])
    seen: list[str] = []
    for page in (1, 2, 3):
        data = cloud(emulator, "list", {"pageSize": 100, "currentPage": page})["data"]
        assert isinstance(data, dict)
        assert data["count"] == 251
        seen += [str(r["jobId"]) for r in data["records"]]
    assert seen[0] == mine and sorted(seen) == sorted([*history, mine])  # newest first, each once
    assert len(records(cloud(emulator, "list", {"pageSize": 100, "currentPage": 3}))) == 51


@pytest.mark.parametrize("name", [*REST_PROFILES, *CLOUD_PROFILES])
def test_retention_forgets_finished_jobs_with_the_release_answer(make_emulator: MakeEmulator, name: str) -> None:
    clock = EmulatorClock(speed=0)
    is_cloud = PROFILES[name].mode == "cloud"
    knobs = {"token": DEFAULT_API_KEY, "rate_limit": None} if is_cloud else {}
    emulator = make_emulator(name, clock=clock, **knobs)
    oldest, *_, newest = emulator.add_history(10, window=100.0)
    emulator.script_next_job(duration=50.0)
    running = emulator.create_job("watched", [["a.json"]])
    clock.advance(10_800 - 50)  # the oldest ended ~91 s ago plus this: now past 3 h; the newest is not
    if is_cloud:
        route = "getProgress" if PROFILES[name].knobs.get("cloud_get_progress_routed") else "describe"
        gone = cloud(emulator, route, {"jobId": oldest})
        assert gone["code"] == 96026, gone
        assert cloud(emulator, route, {"jobId": newest})["code"] == 0
        assert cloud(emulator, route, {"jobId": running})["code"] == 0  # retention counts from the end
        return
    route = "get_progress" if name == "2.4.0" else "describe"
    gone = rest(emulator, route, {"jobId": oldest})
    expected = PROFILES[name].knobs.get("not_found_code", 2100)
    assert gone["code"] == expected and "import job does not exist" in str(gone["message"]), gone
    assert rest(emulator, route, {"jobId": newest})["code"] == 0
    assert rest(emulator, route, {"jobId": running})["code"] == 0  # it ended 10,700 s ago: within retention
    assert oldest not in {str(r["jobId"]) for r in records(rest(emulator, "list", {}))}


@pytest.mark.parametrize("name", REST_PROFILES)
def test_legacy_grpc_shim_lists_the_history_with_id_0_and_forgets_with_the_release_code(
    make_endpoint: MakeEndpoint, channel_to: Callable[[MilvusEndpoint], grpc.Channel], name: str
) -> None:
    clock = EmulatorClock(speed=0)
    endpoint = make_endpoint(name, clock=clock)
    history = endpoint.rest.add_history(120, collections=2)
    channel = channel_to(endpoint)
    listed = call(channel, "ListImportTasks", pb.ListImportTasksRequest(limit=5), pb.ListImportTasksResponse)
    tasks = listed.tasks  # type: ignore[attr-defined]
    assert len(tasks) == 120 and {t.id for t in tasks} == {0}  # limit ignored, ids 0 (milvus issue 38172)
    filtered = call(
        channel, "ListImportTasks", pb.ListImportTasksRequest(collection_name="history"), pb.ListImportTasksResponse
    )
    assert len(filtered.tasks) == 60  # type: ignore[attr-defined]
    clock.advance(10_800 + 1)
    gone = call(channel, "GetImportState", pb.GetImportStateRequest(task=int(history[0])), pb.GetImportStateResponse)
    status = gone.status  # type: ignore[attr-defined]
    assert status.code == PROFILES[name].knobs.get("not_found_code", 2100)
    assert "import job does not exist" in status.reason


def test_milvus_2_3_has_no_rest_v2_its_own_grpc_and_forgets_a_day_after_creation(
    make_endpoint: MakeEndpoint, channel_to: Callable[[MilvusEndpoint], grpc.Channel]
) -> None:
    clock = EmulatorClock(speed=0)
    endpoint = make_endpoint("2.3", clock=clock)
    assert requests.post(endpoint.rest.url("list"), json={}, timeout=5).status_code == 404
    endpoint.rest.add_history(50, window=3_600.0)
    channel = channel_to(endpoint)
    started = call(channel, "Import", pb.ImportRequest(collection_name="c", files=["a.json"]), pb.ImportResponse)
    task = started.tasks[0]  # type: ignore[attr-defined]
    state = call(channel, "GetImportState", pb.GetImportStateRequest(task=task), pb.GetImportStateResponse)
    infos = {kv.key: kv.value for kv in state.infos}  # type: ignore[attr-defined]
    assert state.id == task and infos["collection"] == "c" and "progress_percent" in infos  # type: ignore[attr-defined]
    listed = call(channel, "ListImportTasks", pb.ListImportTasksRequest(), pb.ListImportTasksResponse)
    ids = [t.id for t in listed.tasks]  # type: ignore[attr-defined]
    assert len(ids) == 51 and 0 not in ids and task in ids
    clock.advance(86_400 - 10)  # the history was created up to an hour ago: gone; the task (created now) is not
    listed = call(channel, "ListImportTasks", pb.ListImportTasksRequest(), pb.ListImportTasksResponse)
    assert [t.id for t in listed.tasks] == [task]  # type: ignore[attr-defined]
    clock.advance(11)
    gone = call(channel, "GetImportState", pb.GetImportStateRequest(task=task), pb.GetImportStateResponse)
    status = gone.status  # type: ignore[attr-defined]
    assert status.code == 1000 and status.reason.startswith("key not found[key=") and str(task) in status.reason


def test_restart_fails_running_tasks_on_2_3_and_keeps_pending_ones(
    make_endpoint: MakeEndpoint, channel_to: Callable[[MilvusEndpoint], grpc.Channel]
) -> None:
    clock = EmulatorClock(speed=0)
    endpoint = make_endpoint("2.3", clock=clock)
    endpoint.rest.script_next_job(duration=100.0)
    running = endpoint.rest.create_job("c", [["a.json"]])
    clock.advance(30)  # importing
    endpoint.rest.script_next_job(duration=100.0)
    pending = endpoint.rest.create_job("c", [["b.json"]])
    endpoint.rest.restart()
    channel = channel_to(endpoint)
    failed = call(channel, "GetImportState", pb.GetImportStateRequest(task=int(running)), pb.GetImportStateResponse)
    infos = {kv.key: kv.value for kv in failed.infos}  # type: ignore[attr-defined]
    assert failed.state == pb.ImportFailed and infos["failed_reason"] == "task marked failed as service restarted"  # type: ignore[attr-defined]
    queued = call(channel, "GetImportState", pb.GetImportStateRequest(task=int(pending)), pb.GetImportStateResponse)
    assert queued.state == pb.ImportPending  # type: ignore[attr-defined]
    clock.advance(200)
    done = call(channel, "GetImportState", pb.GetImportStateRequest(task=int(pending)), pb.GetImportStateResponse)
    assert done.state == pb.ImportCompleted  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", REST_PROFILES)
def test_restart_resumes_jobs_on_2_4_and_later_from_pending(make_emulator: MakeEmulator, name: str) -> None:
    clock = EmulatorClock(speed=0)
    emulator = make_emulator(name, clock=clock)
    emulator.script_next_job(duration=100.0)
    job = emulator.create_job("c", [["a.json"]])
    clock.advance(50)
    before = emulator.job(job)
    assert before["state"] == "Importing" and int(before["progress"]) > 10
    emulator.restart()
    after = emulator.job(job)
    assert after["state"] == "Pending" and int(after["progress"]) < int(before["progress"])  # progress fell back
    clock.advance(200)
    route = "get_progress" if name == "2.4.0" else "describe"
    answer = rest(emulator, route, {"jobId": job})
    data = answer["data"]
    assert isinstance(data, dict) and data["state"] == "Completed"
