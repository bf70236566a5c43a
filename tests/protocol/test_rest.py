"""REST v2 requests and answers, pure: the seed documents' examples, quirks and every error code."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_milvus import exceptions as exc
from airflow_provider_milvus.protocol.base import HttpRequest, HttpResponse
from airflow_provider_milvus.protocol.rest import RestProtocol, file_paths, parse_progress_data
from airflow_provider_milvus.transport.driver import run_sync
from tests.test_state import REST_STATE_WORDS

# Verbatim from the seed restful-v2-get-import-job-progress.md.
REST_SEED = """{
    "code": 0,
    "data": {
        "collectionName": "quick_setup",
        "completeTime": "2024-04-01T06:17:55Z",
        "details": [
            {
                "completeTime": "2024-04-01T06:17:53Z",
                "fileName": "id:448761313698322012 paths:\\"a6fb2d1c-7b1b-427c-a8a3-178944e3b66d/1.parquet\\" ",
                "fileSize": 3279917,
                "importedRows": 100000,
                "progress": 100,
                "state": "Completed",
                "totalRows": 100000
            }
        ],
        "fileSize": 3279917,
        "importedRows": 100000,
        "jobId": "448761313698322011",
        "progress": 100,
        "state": "Completed",
        "totalRows": 100000
    }
}"""

# Verbatim from the seed pymilvus-bulk_writer-get_import_progress.md.
BULK_WRITER_SEED = """{
    "code": 0,
    "data": {
        "collectionName": "quick_setup",
        "completeTime": "2024-10-15T15:27:41+08:00",
        "details": [
            {
                "completeTime": "2024-10-15T15:27:33+08:00",
                "fileName": "[8db36d4f-4ad6-4306-9f8c-7cfa985c0bbe/1.parquet]",
                "fileSize": 31567773,
                "importedRows": 10000,
                "progress": 100,
                "state": "Completed",
                "totalRows": 10000
            }
        ],
        "fileSize": 31567773,
        "importedRows": 10000,
        "jobId": "453240863839750922",
        "progress": 100,
        "state": "Completed",
        "totalRows": 10000
    }
}"""

SERVER = "http://milvus:19530"


def answer(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> HttpResponse:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return HttpResponse(status=status, body=raw, headers=headers or {})


def drive(operation: Any, *responses: HttpResponse) -> tuple[Any, list[HttpRequest]]:
    """Run an operation against canned answers; returns the result and the requests it sent."""
    sent: list[HttpRequest] = []
    queue = list(responses)

    def send(request: HttpRequest) -> HttpResponse:
        sent.append(request)
        return queue.pop(0)

    return run_sync(operation, send), sent


def rest(**kwargs: Any) -> RestProtocol:
    return RestProtocol(SERVER, **({"token": "root:Milvus", "db_name": "analytics", "timeout": 12.0} | kwargs))


def test_rest_seed_parses_to_what_it_says() -> None:
    state, sent = drive(rest().get_import_state("448761313698322011"), answer(json.loads(REST_SEED)))
    assert state.task_id == "448761313698322011"
    assert state.state == 6 and state.state_name == "Completed" and state.succeeded
    assert state.row_count == 100000 and state.total_rows == 100000
    assert state.progress == 100
    assert state.collection_name == "quick_setup"
    assert state.complete_time == "2024-04-01T06:17:55Z"
    assert state.file_size == 3279917
    assert state.files == ["a6fb2d1c-7b1b-427c-a8a3-178944e3b66d/1.parquet"]
    assert state.details[0]["importedRows"] == 100000 and state.details[0]["state"] == "Completed"
    assert state.infos == {
        "files": "a6fb2d1c-7b1b-427c-a8a3-178944e3b66d/1.parquet",
        "collection": "quick_setup",
        "failed_reason": "",
        "progress_percent": "100",
    }
    assert state.server_state == "Completed"
    assert sent[0].url == f"{SERVER}/v2/vectordb/jobs/import/describe"
    assert json.loads(sent[0].body) == {"jobId": "448761313698322011"}


def test_bulk_writer_seed_parses() -> None:
    state, _ = drive(rest().get_import_state("453240863839750922"), answer(json.loads(BULK_WRITER_SEED)))
    assert (state.task_id, state.state_name, state.row_count, state.total_rows) == (
        "453240863839750922",
        "Completed",
        10000,
        10000,
    )
    assert state.files == ["8db36d4f-4ad6-4306-9f8c-7cfa985c0bbe/1.parquet"]
    assert state.complete_time == "2024-10-15T15:27:41+08:00"


def test_job_id_as_json_integer_is_kept_digit_for_digit() -> None:
    raw = REST_SEED.replace('"jobId": "448761313698322011"', '"jobId": 448761313698322011').encode()
    state, _ = drive(rest().get_import_state("448761313698322011"), answer(raw))
    assert state.task_id == "448761313698322011"


def test_job_id_as_json_float_is_refused() -> None:
    raw = REST_SEED.replace('"jobId": "448761313698322011"', '"jobId": 4.48761313698322011e17').encode()
    with pytest.raises(exc.MilvusImportInvalidResponseError, match="jobId"):
        drive(rest().get_import_state("448761313698322011"), answer(raw))


def test_headers_carry_auth_database_and_timeout() -> None:
    _, sent = drive(rest().get_import_state("1"), answer(json.loads(REST_SEED)))
    headers = sent[0].headers
    assert headers["Authorization"] == "Bearer root:Milvus"
    assert headers["DB-Name"] == "analytics"
    assert headers["Request-Timeout"] == "12"
    assert "root:Milvus" not in repr(sent[0])


def test_early_24_quirks_code_200_and_jobID() -> None:
    body = {"code": 200, "data": {"jobID": "448761313698322099", "state": "Importing", "progress": 40}}
    state, _ = drive(rest().get_import_state("448761313698322099"), answer(body))
    assert state.task_id == "448761313698322099" and state.state_name == "Started" and state.progress == 40
    job, _ = drive(rest().start_import("c", ["/a.json"]), answer({"code": 200, "data": {"jobID": "7"}}))
    assert job == "7"


def test_describe_falls_back_to_get_progress_once_and_remembers() -> None:
    protocol = rest()
    not_found = answer(b"404 page not found", status=404)
    state, sent = drive(protocol.get_import_state("5"), not_found, answer(json.loads(REST_SEED)))
    assert [r.url.rsplit("/", 1)[1] for r in sent] == ["describe", "get_progress"]
    assert state.succeeded
    _, sent = drive(protocol.get_import_state("5"), answer(json.loads(REST_SEED)))
    assert [r.url.rsplit("/", 1)[1] for r in sent] == ["get_progress"]


def test_get_progress_404_too_is_a_route_error() -> None:
    not_found = answer(b"404 page not found", status=404)
    with pytest.raises(exc.MilvusImportRouteNotFoundError):
        drive(rest().get_import_state("5"), not_found, not_found)


def test_create_body_is_the_wire_shape() -> None:
    job, sent = drive(
        rest().start_import("c", [["/a/1.parquet"], ["/a/2.parquet"]], "p", None, {"timeout": "300"}),
        answer({"code": 0, "data": {"jobId": "448761313698322011"}}),
    )
    assert job == "448761313698322011"
    assert json.loads(sent[0].body) == {
        "collectionName": "c",
        "files": [["/a/1.parquet"], ["/a/2.parquet"]],
        "partitionName": "p",
        "dbName": "analytics",
        "options": {"timeout": "300"},
    }
    assert sent[0].url.endswith("/v2/vectordb/jobs/import/create")


def test_flat_files_are_one_unit() -> None:
    _, sent = drive(
        rest(db_name="").start_import("c", ["/a.npy", "/b.npy"]), answer({"code": 0, "data": {"jobId": "1"}})
    )
    assert json.loads(sent[0].body) == {"collectionName": "c", "files": [["/a.npy", "/b.npy"]]}


def test_list_records() -> None:
    body = {
        "code": 0,
        "data": {
            "records": [
                {"jobId": "448761313698322011", "collectionName": "c", "state": "Completed", "progress": 100},
                {
                    "jobId": "448761313698322012",
                    "collectionName": "c",
                    "state": "Failed",
                    "progress": 0,
                    "reason": "bad file",
                },
                {"jobId": "448761313698322013", "collectionName": "c", "state": "Importing", "progress": 55},
            ]
        },
    }
    states, sent = drive(rest().list_import_states("c"), answer(body))
    assert [(s.task_id, s.state_name, s.progress) for s in states] == [
        ("448761313698322011", "Completed", 100),
        ("448761313698322012", "Failed", 0),
        ("448761313698322013", "Started", 55),
    ]
    assert states[1].failed_reason == "bad file"
    assert json.loads(sent[0].body) == {"collectionName": "c", "dbName": "analytics"}


@pytest.mark.parametrize(
    ("response", "error", "retryable"),
    [
        (
            answer({"code": 2100, "message": "import job does not exist: jobID=1"}),
            exc.MilvusImportJobNotFoundError,
            False,
        ),
        (
            answer(
                {
                    "code": 2101,
                    "message": "import job does not exist, jobID=1: importing data failed on server side",
                }
            ),
            exc.MilvusImportJobNotFoundError,
            False,
        ),
        (
            answer({"code": 2101, "message": "The number of jobs has reached the limit, please try again later"}),
            exc.MilvusImportServerBusyError,
            True,
        ),
        (
            answer({"code": 2100, "message": "The number of jobs has reached the limit, please try again later."}),
            exc.MilvusImportServerBusyError,
            True,
        ),
        (
            answer({"code": 2101, "message": "importing data failed on server side"}),
            exc.MilvusImportRequestError,
            False,
        ),
        (answer({"code": 1801, "message": "can only accept json format request"}), exc.MilvusImportRequestError, False),
        (answer({"code": 1802, "message": "missing required parameters"}), exc.MilvusImportRequestError, False),
        (answer({"code": 1800, "message": "user hasn't authenticated"}, status=401), exc.MilvusImportAuthError, False),
        (answer(b"Forbidden", status=403), exc.MilvusImportAuthError, False),
        (answer(b"request timeout", status=408), exc.MilvusImportTimeoutError, True),
        (answer(b"slow down", status=429, headers={"retry-after": "7"}), exc.MilvusImportServerBusyError, True),
        (answer(b"<html>502 Bad Gateway</html>", status=502), exc.MilvusImportServerBusyError, True),
        (answer(b"<html>503</html>", status=503), exc.MilvusImportServerBusyError, True),
        (answer(b"<html>504</html>", status=504), exc.MilvusImportServerBusyError, True),
        (answer({"code": 4, "message": "request limit exceeded"}), exc.MilvusImportServerBusyError, True),
        (answer(b"<html>hello</html>"), exc.MilvusImportInvalidResponseError, True),
        (answer(b""), exc.MilvusImportInvalidResponseError, True),
        (answer(b'{"code": 0, "data": {"jobId"'), exc.MilvusImportInvalidResponseError, True),
        (answer([1, 2]), exc.MilvusImportInvalidResponseError, True),
        (answer({"code": 0}), exc.MilvusImportInvalidResponseError, True),
        (answer({"data": {}}), exc.MilvusImportInvalidResponseError, True),
        (
            answer({"code": 0, "data": {"state": "Importing", "progress": 150}}),
            exc.MilvusImportInvalidResponseError,
            True,
        ),
        (answer({"code": 0, "data": {"state": 3}}), exc.MilvusImportInvalidResponseError, True),
        (
            answer({"code": 0, "data": {"state": "Completed", "importedRows": -5}}),
            exc.MilvusImportInvalidResponseError,
            True,
        ),
    ],
)
def test_errors_are_classified(response: HttpResponse, error: type[Exception], retryable: bool) -> None:
    with pytest.raises(error) as caught:
        drive(rest().get_import_state("448761313698322011"), response)
    assert caught.value.retryable is retryable  # type: ignore[attr-defined]
    assert "448761313698322011" in str(caught.value)
    assert SERVER in str(caught.value)
    assert "root:Milvus" not in str(caught.value)


def test_unknown_job_message_quotes_server_and_mentions_retention() -> None:
    with pytest.raises(exc.MilvusImportJobNotFoundError) as caught:
        drive(rest().get_import_state("9"), answer({"code": 2100, "message": "import job does not exist"}))
    assert "import job does not exist" in str(caught.value)
    assert "taskRetention" in str(caught.value)


def test_retry_after_is_read() -> None:
    with pytest.raises(exc.MilvusImportServerBusyError) as caught:
        drive(rest().get_import_state("9"), answer(b"", status=429, headers={"retry-after": "7"}))
    assert caught.value.retry_after == 7.0


def test_unknown_state_is_unknown_not_a_crash() -> None:
    state, _ = drive(rest().get_import_state("9"), answer({"code": 0, "data": {"jobId": "9", "state": "Teleporting"}}))
    assert state.state == 100 and not state.is_terminal


@pytest.mark.parametrize("job_id", ["", "  ", "job-01fa0e5d42cjxudhpuehyp", "12a", "-5", "99999999999999999999"])
def test_bad_job_ids_are_refused_before_sending(job_id: str) -> None:
    with pytest.raises(exc.MilvusImportConfigError):
        drive(rest().get_import_state(job_id))


@pytest.mark.parametrize(
    ("files", "options"),
    [([], None), ("a.json", None), ([1], None), ([["a"], "b"], None), ([[]], None), (["a"], {"k": 1}), (["a"], ["k"])],
)
def test_bad_import_arguments_are_refused(files: Any, options: Any) -> None:
    with pytest.raises(exc.MilvusImportConfigError):
        drive(rest().start_import("c", files, options=options))


def test_missing_collection_is_refused() -> None:
    with pytest.raises(exc.MilvusImportConfigError, match="collection_name"):
        drive(rest().start_import(" ", ["a"]))


@pytest.mark.parametrize(
    ("name", "paths"),
    [
        ('id:1 paths:"a/1.parquet" ', ["a/1.parquet"]),
        ('paths:"a.npy" paths:"b.npy"', ["a.npy", "b.npy"]),
        ("[x/1.parquet]", ["x/1.parquet"]),
        ("[s3/a,b.npy c.npy]", ["s3/a,b.npy", "c.npy"]),  # a comma inside a path stays in it
        ("[a/1.npy b/2.npy]", ["a/1.npy", "b/2.npy"]),
        ('id:448761313698322012 paths:"a/1.npy" paths:"a/2.npy" ', ["a/1.npy", "a/2.npy"]),
        ("plain.json", ["plain.json"]),
        ("", []),
    ],
)
def test_file_names(name: str, paths: list[str]) -> None:
    assert file_paths(name) == paths


def test_parse_progress_without_data_object() -> None:
    with pytest.raises(exc.MilvusImportInvalidResponseError, match="no 'data' object"):
        parse_progress_data(None, what="x", server=SERVER, requested_job_id="1")


@pytest.mark.parametrize(("word", "code"), [(w, c) for w, c in REST_STATE_WORDS if w])
def test_server_state_is_the_word_the_server_sent(word: str, code: int) -> None:
    data = {"jobId": "7", "state": word, "progress": 99 if word == "Uncommitted" else 0}
    state = parse_progress_data(data, what="x", server=SERVER, requested_job_id="7")
    assert (state.server_state, state.state) == (word, code)
