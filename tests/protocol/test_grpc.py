"""gRPC import calls, pure: request bytes, metadata, answer parsing and status classification."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest

from airflow_provider_milvus import exceptions as exc
from airflow_provider_milvus.proto import milvus_import_pb2 as pb
from airflow_provider_milvus.protocol.base import GrpcRequest, GrpcResponse, HttpResponse
from airflow_provider_milvus.protocol.grpc import GET_IMPORT_STATE, IMPORT, LIST_IMPORT_TASKS, GrpcProtocol
from airflow_provider_milvus.protocol.rest import RestProtocol
from airflow_provider_milvus.transport.driver import run_sync

SERVER = "milvus:19530"


def drive(operation: Any, *responses: GrpcResponse | HttpResponse) -> tuple[Any, list[Any]]:
    sent: list[Any] = []
    queue = list(responses)

    def send(request: Any) -> GrpcResponse | HttpResponse:
        sent.append(request)
        return queue.pop(0)

    return run_sync(operation, send), sent


def ok(message: Any) -> GrpcResponse:
    return GrpcResponse(code="OK", body=message.SerializeToString())


def proto() -> GrpcProtocol:
    return GrpcProtocol(SERVER, token="root:Milvus", db_name="analytics", timeout=7.0)


def state_answer(**kwargs: Any) -> pb.GetImportStateResponse:
    infos = kwargs.pop("infos", {})
    return pb.GetImportStateResponse(infos=[pb.KeyValuePair(key=k, value=v) for k, v in infos.items()], **kwargs)


def test_import_request_and_metadata() -> None:
    job, sent = drive(
        proto().start_import("c", ["/data/a.json"], "p", None, {"sep": ","}),
        ok(pb.ImportResponse(status=pb.Status(), tasks=[448761313698322011])),
    )
    assert job == "448761313698322011"
    request = pb.ImportRequest.FromString(sent[0].body)
    assert (request.collection_name, request.partition_name, list(request.files), request.db_name) == (
        "c",
        "p",
        ["/data/a.json"],
        "analytics",
    )
    assert [(kv.key, kv.value) for kv in request.options] == [("sep", ",")]
    assert sent[0].method == IMPORT == "/milvus.proto.milvus.MilvusService/Import"
    assert dict(sent[0].metadata) == {"authorization": base64.b64encode(b"root:Milvus").decode(), "dbname": "analytics"}
    assert sent[0].timeout == 7.0
    assert "root" not in repr(sent[0])


def test_several_units_are_refused_for_grpc() -> None:
    with pytest.raises(exc.MilvusImportConfigError, match="one unit"):
        drive(proto().start_import("c", [["/a.json"], ["/b.json"]]))


def test_state_is_read_like_pymilvus() -> None:
    created = 1700000000
    answer = state_answer(
        status=pb.Status(),
        state=pb.ImportPersisted,
        row_count=900,
        id_list=[5, 8],
        id=3,
        create_ts=created,
        infos={
            "files": "/a.npy,/b.npy",
            "collection": "c",
            "partition": "_default",
            "failed_reason": "",
            "progress_percent": "90",
            "persist_cost": "0.02",
        },
    )
    state, sent = drive(proto().get_import_state("448761313698322011"), ok(answer))
    assert sent[0].method == GET_IMPORT_STATE
    assert pb.GetImportStateRequest.FromString(sent[0].body).task == 448761313698322011
    assert state.task_id == "448761313698322011"
    assert (state.state, state.state_name, state.row_count, state.progress) == (5, "Persisted", 900, 90)
    assert state.server_state == "ImportPersisted"
    assert state.files == ["/a.npy", "/b.npy"]
    assert (state.collection_name, state.partition_name) == ("c", "_default")
    assert state.id_ranges == [5, 8] and state.ids == [5, 6, 7]
    assert state.create_timestamp == created
    assert state.create_time_str == time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(created))
    assert state.infos["persist_cost"] == "0.02"


@pytest.mark.parametrize(
    ("raw", "code", "name", "word"),
    [
        (8, 8, "Flushed", "ImportFlushed"),
        (7, 7, "FailedAndCleaned", "ImportFailedAndCleaned"),
        (42, 100, "Unknown", "42"),
    ],
)
def test_states_beyond_pymilvus(raw: int, code: int, name: str, word: str) -> None:
    state, _ = drive(proto().get_import_state("1"), ok(state_answer(status=pb.Status(), state=raw)))
    assert (state.state, state.state_name, state.server_state) == (code, name, word)


def test_failed_reason_is_the_servers() -> None:
    reason = "the field 'wrong' is not defined in collection schema: importing data failed"
    state, _ = drive(
        proto().get_import_state("1"),
        ok(state_answer(status=pb.Status(), state=pb.ImportFailed, infos={"failed_reason": reason})),
    )
    assert state.failed and state.failed_reason == reason


def test_list() -> None:
    answer = pb.ListImportTasksResponse(
        status=pb.Status(),
        tasks=[state_answer(id=11, state=pb.ImportCompleted), state_answer(id=12, state=pb.ImportPending)],
    )
    states, sent = drive(proto().list_import_states("c"), ok(answer))
    assert [(s.task_id, s.state_name) for s in states] == [("11", "Completed"), ("12", "Pending")]
    request = pb.ListImportTasksRequest.FromString(sent[0].body)
    assert (request.collection_name, request.limit, request.db_name, sent[0].method) == (
        "c",
        0,
        "analytics",
        LIST_IMPORT_TASKS,
    )


@pytest.mark.parametrize(
    ("response", "error", "retryable"),
    [
        (
            GrpcResponse("UNAVAILABLE", details="failed to connect to all addresses"),
            exc.MilvusImportConnectionError,
            True,
        ),
        (GrpcResponse("DEADLINE_EXCEEDED", details="Deadline Exceeded"), exc.MilvusImportTimeoutError, True),
        (GrpcResponse("RESOURCE_EXHAUSTED", details="too many"), exc.MilvusImportServerBusyError, True),
        (GrpcResponse("UNAUTHENTICATED", details="auth check failure"), exc.MilvusImportAuthError, False),
        (GrpcResponse("PERMISSION_DENIED", details="no"), exc.MilvusImportAuthError, False),
        (GrpcResponse("UNIMPLEMENTED", details="unknown method"), exc.MilvusImportRouteNotFoundError, False),
        (GrpcResponse("INVALID_ARGUMENT", details="bad"), exc.MilvusImportRequestError, False),
        (
            ok(
                state_answer(
                    status=pb.Status(error_code=1, code=1000, reason="key not found[key=by-dev/meta/importtask/5]")
                )
            ),
            exc.MilvusImportJobNotFoundError,
            False,
        ),
        (
            ok(state_answer(status=pb.Status(code=2, reason="service unavailable"))),
            exc.MilvusImportServerBusyError,
            True,
        ),
        (
            ok(state_answer(status=pb.Status(code=65535, reason="odd", retriable=True))),
            exc.MilvusImportServerBusyError,
            True,
        ),
        (
            ok(state_answer(status=pb.Status(error_code=49, reason="rate limit exceeded"))),
            exc.MilvusImportServerBusyError,
            True,
        ),
        (
            ok(state_answer(status=pb.Status(code=1100, reason="invalid parameter"))),
            exc.MilvusImportRequestError,
            False,
        ),
        (GrpcResponse("OK", body=b"\xff\xff\xff"), exc.MilvusImportInvalidResponseError, True),
        (
            ok(state_answer(status=pb.Status(), infos={"progress_percent": "ninety"})),
            exc.MilvusImportInvalidResponseError,
            True,
        ),
        (
            ok(state_answer(status=pb.Status(), infos={"progress_percent": "250"})),
            exc.MilvusImportInvalidResponseError,
            True,
        ),
    ],
)
def test_errors_are_classified(response: GrpcResponse, error: type[Exception], retryable: bool) -> None:
    with pytest.raises(error) as caught:
        drive(proto().get_import_state("5"), response)
    assert caught.value.retryable is retryable  # type: ignore[attr-defined]
    text = str(caught.value)
    assert "job 5" in text and SERVER in text and "root:Milvus" not in text


@pytest.mark.parametrize("job_id", ["", "job-01fa0e5d42cjxudhpuehyp", "1.5", "9223372036854775808"])
def test_bad_job_ids(job_id: str) -> None:
    with pytest.raises(exc.MilvusImportConfigError):
        drive(proto().get_import_state(job_id))


def test_no_task_in_import_answer() -> None:
    with pytest.raises(exc.MilvusImportInvalidResponseError, match="no task id"):
        drive(proto().start_import("c", ["/a.json"]), ok(pb.ImportResponse(status=pb.Status())))


def test_import_status_error_quotes_the_server() -> None:
    answer = pb.ImportResponse(status=pb.Status(code=1100, reason="import request is empty"))
    with pytest.raises(exc.MilvusImportRequestError, match="import request is empty"):
        drive(proto().start_import("c", ["/a.json"]), ok(answer))


def checked_proto() -> GrpcProtocol:
    """A gRPC protocol whose server also serves REST v2 on the same endpoint (Milvus 2.4+)."""
    return GrpcProtocol(SERVER, rest=RestProtocol(f"http://{SERVER}", db_name="analytics"))


def rest_answer(body: Any, status: int = 200) -> HttpResponse:
    return HttpResponse(status=status, body=json.dumps(body).encode() if body is not None else b"404 page not found")


def test_failed_without_reason_is_checked_over_rest() -> None:
    """2.4+'s shim says ImportFailed with no reason for states it cannot map: REST describe decides."""
    staged = {"code": 0, "data": {"jobId": "7", "state": "Uncommitted", "progress": 99, "importedRows": 5}}
    state, sent = drive(
        checked_proto().get_import_state("7"), ok(state_answer(status=pb.Status(), state=1)), rest_answer(staged)
    )
    assert isinstance(sent[0], GrpcRequest) and sent[1].url.endswith("/v2/vectordb/jobs/import/describe")  # type: ignore[attr-defined]
    assert (state.task_id, state.state_name, state.server_state, state.failed) == ("7", "Started", "Uncommitted", False)


def test_failed_with_a_reason_is_believed_without_asking_rest() -> None:
    answer = state_answer(status=pb.Status(), state=1, infos={"failed_reason": "bad parquet"})
    state, sent = drive(checked_proto().get_import_state("7"), ok(answer))
    assert state.failed and state.failed_reason == "bad parquet" and len(sent) == 1


def test_a_server_without_rest_keeps_its_grpc_failure_and_is_not_asked_again() -> None:
    """Milvus 2.3 answers 404 on the v2 routes: its ImportFailed is its own."""
    protocol = checked_proto()
    failed = ok(state_answer(status=pb.Status(), state=1))
    state, sent = drive(protocol.get_import_state("7"), failed, rest_answer(None, 404), rest_answer(None, 404))
    assert state.failed and len(sent) == 3 and protocol.rest is None
    state, sent = drive(protocol.get_import_state("7"), failed)
    assert state.failed and len(sent) == 1
