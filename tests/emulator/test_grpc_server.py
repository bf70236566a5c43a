"""The legacy gRPC emulator of Milvus 2.4+ answers as section 6 of the spec says, on the REST emulator's port."""

from __future__ import annotations

from collections.abc import Callable

import grpc
import pytest
import requests

from airflow_provider_milvus.proto import milvus_import_pb2 as pb
from tests.emulator.fixtures import grpc_call as call
from tests.emulator.grpc_server import MilvusEndpoint
from tests.emulator.profiles import REST_PROFILES

IMPORTED = pb.ImportResponse


@pytest.mark.parametrize("name", REST_PROFILES)
def test_a_grpc_job_is_the_rest_job(
    make_endpoint: Callable[..., MilvusEndpoint], channel_to: Callable[[MilvusEndpoint], grpc.Channel], name: str
) -> None:
    endpoint = make_endpoint(name, speed=0)
    channel = channel_to(endpoint)
    started = call(channel, "Import", pb.ImportRequest(collection_name="c", files=["/d/1.parquet"]), pb.ImportResponse)
    assert len(started.tasks) == 1  # type: ignore[attr-defined]
    job_id = str(started.tasks[0])  # type: ignore[attr-defined]
    route = "get_progress" if name == "2.4.0" else "describe"
    over_rest = requests.post(f"{endpoint.base_url}/v2/vectordb/jobs/import/{route}", json={"jobId": job_id}, timeout=5)
    assert over_rest.json()["data"]["jobId"] == job_id  # same port, same id, same job
    endpoint.rest.finish_job(job_id)
    state = call(channel, "GetImportState", pb.GetImportStateRequest(task=int(job_id)), pb.GetImportStateResponse)
    assert (state.id, state.collection_id, list(state.segment_ids), list(state.id_list)) == (0, 0, [], [])  # type: ignore[attr-defined]
    assert {kv.key for kv in state.infos} == {"failed_reason", "progress_percent"}  # type: ignore[attr-defined]
    assert (state.state, state.row_count) == (pb.ImportCompleted, 10_000) and state.create_ts > 0  # type: ignore[attr-defined]
    listed = call(channel, "ListImportTasks", pb.ListImportTasksRequest(limit=1), pb.ListImportTasksResponse)
    entry = listed.tasks[0]  # type: ignore[attr-defined]
    assert (entry.id, entry.row_count, entry.create_ts, entry.state) == (0, 0, 0, pb.ImportCompleted)


@pytest.mark.parametrize(
    ("word", "code", "reason"),
    [
        ("Pending", pb.ImportPending, ""),
        ("Importing", pb.ImportStarted, ""),
        ("Failed", pb.ImportFailed, "bad parquet"),
        ("None", pb.ImportFailed, ""),
        ("Uncommitted", pb.ImportFailed, ""),
        ("Committing", pb.ImportFailed, ""),
    ],
)
def test_states_are_collapsed_and_unmappable_ones_look_failed(
    make_endpoint: Callable[..., MilvusEndpoint],
    channel_to: Callable[[MilvusEndpoint], grpc.Channel],
    word: str,
    code: int,
    reason: str,
) -> None:
    endpoint = make_endpoint("3.0", speed=0)
    job_id = endpoint.rest.create_job("c", [["/d/1.parquet"]])
    endpoint.rest.set_job(job_id, state=word, reason=reason or None)
    channel = channel_to(endpoint)
    state = call(channel, "GetImportState", pb.GetImportStateRequest(task=int(job_id)), pb.GetImportStateResponse)
    infos = {kv.key: kv.value for kv in state.infos}  # type: ignore[attr-defined]
    assert (state.state, infos["failed_reason"]) == (code, reason)  # type: ignore[attr-defined]


def test_one_file_rule_unknown_task_and_auth(
    make_endpoint: Callable[..., MilvusEndpoint], channel_to: Callable[[MilvusEndpoint], grpc.Channel]
) -> None:
    endpoint = make_endpoint("2.6-late", speed=0)
    channel = channel_to(endpoint)
    two_json = call(
        channel, "Import", pb.ImportRequest(collection_name="c", files=["/a.json", "/b.json"]), pb.ImportResponse
    )
    assert two_json.status.code != 0 and "accepts only one file" in two_json.status.reason  # type: ignore[attr-defined]
    numpy = call(
        channel, "Import", pb.ImportRequest(collection_name="c", files=["/id.npy", "/vec.npy"]), pb.ImportResponse
    )
    assert numpy.status.code == 0 and len(numpy.tasks) == 1  # type: ignore[attr-defined]
    gone = call(channel, "GetImportState", pb.GetImportStateRequest(task=1), pb.GetImportStateResponse)
    assert gone.status.code == 2101 and "import job does not exist" in gone.status.reason  # type: ignore[attr-defined]
    locked = make_endpoint("2.5", speed=0, token="root:Milvus")
    with pytest.raises(grpc.RpcError) as caught:
        call(channel_to(locked), "ListImportTasks", pb.ListImportTasksRequest(), pb.ListImportTasksResponse)
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED  # type: ignore[attr-defined]
