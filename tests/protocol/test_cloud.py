"""Zilliz Cloud control-plane requests and answers, pure: both answer shapes, paging, errors."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_milvus import exceptions as exc
from airflow_provider_milvus.protocol.base import HttpRequest, HttpResponse, Sleep
from airflow_provider_milvus.protocol.cloud import PAGE_SIZE, CloudProtocol
from tests.protocol.test_rest import answer, drive

# Verbatim (de-commented) from the seed zilliz-cloud-get_import_progress.txt: the older answer shape.
CLOUD_LEGACY_SEED = {
    "code": 200,
    "data": {
        "collectionName": "medium_articles",
        "fileName": "folder/1/",
        "fileSize": 26571700,
        "readyPercentage": 1,
        "completeTime": "2023-10-28T06:51:49Z",
        "errorMessage": None,
        "jobId": "job-01fa0e5d42cjxudhpuehyp",
        "details": [
            {
                "fileName": "folder/1/",
                "fileSize": 26571700,
                "readyPercentage": 1,
                "completeTime": "2023-10-28T06:51:49Z",
                "errorMessage": None,
            }
        ],
    },
}
ENDPOINT = "https://api.cloud.zilliz.com"
KEY = "secret-api-key-0123456789"


def cloud() -> CloudProtocol:
    return CloudProtocol(ENDPOINT, api_key=KEY, cluster_id="in01-0123456789abcde", timeout=10)


def test_legacy_seed_parses_to_what_it_says() -> None:
    state, sent = drive(cloud().get_import_state("job-01fa0e5d42cjxudhpuehyp"), answer(CLOUD_LEGACY_SEED))
    assert state.task_id == "job-01fa0e5d42cjxudhpuehyp"
    assert state.state_name == "Completed" and state.progress == 100
    assert state.collection_name == "medium_articles"
    assert state.file_size == 26571700
    assert state.files == ["folder/1/"]
    assert state.complete_time == "2023-10-28T06:51:49Z"
    assert state.failed_reason == ""
    assert state.server_state == ""  # the older shape sends no state word
    assert state.details[0]["progress"] == 100
    assert sent[0].url == f"{ENDPOINT}/v2/vectordb/jobs/import/getProgress"
    assert json.loads(sent[0].body) == {"clusterId": "in01-0123456789abcde", "jobId": "job-01fa0e5d42cjxudhpuehyp"}
    assert sent[0].headers["Authorization"] == f"Bearer {KEY}"


@pytest.mark.parametrize(
    ("ready", "error", "state_name", "progress"),
    [
        (0.5, None, "Started", 50),
        (0, None, "Started", 0),
        (0.3, "bad parquet", "Failed", 30),
        (1, None, "Completed", 100),
    ],
)
def test_legacy_shape_states(ready: float, error: str | None, state_name: str, progress: int) -> None:
    data = dict(CLOUD_LEGACY_SEED["data"], readyPercentage=ready, errorMessage=error)  # type: ignore[arg-type]
    state, _ = drive(cloud().get_import_state("job-x"), answer({"code": 200, "data": data}))
    assert (state.state_name, state.progress) == (state_name, progress)
    assert state.failed_reason == (error or "")


def test_current_shape_parses() -> None:
    body = {
        "code": 0,
        "data": {
            "jobId": "job-abc",
            "collectionName": "c",
            "state": "Importing",
            "progress": 42,
            "importedRows": 420,
            "totalRows": 1000,
            "details": [{"fileName": "s3://b/1.parquet", "state": "InProgress", "progress": 42}],
        },
    }
    state, _ = drive(cloud().get_import_state("job-abc"), answer(body))
    assert (state.state_name, state.progress, state.row_count, state.total_rows) == ("Started", 42, 420, 1000)
    assert state.server_state == "Importing"


def test_illegal_api_key_is_an_auth_error_without_the_key() -> None:
    with pytest.raises(exc.MilvusImportAuthError) as caught:
        drive(cloud().get_import_state("job-x"), answer({"code": 21119, "message": "The apikey is illegal."}))
    assert "The apikey is illegal." in str(caught.value)
    assert KEY not in str(caught.value)
    assert "in01-0123456789abcde" in str(caught.value)


def test_create_moves_storage_credentials_out_of_options() -> None:
    job, sent = drive(
        cloud().start_import(
            "c", [["s3://b/1.parquet"]], options={"access_key": "AK", "secret_key": "SK", "timeout": "60"}
        ),
        answer({"code": 0, "data": {"jobId": "job-0123456789abcdefghij"}}),
    )
    assert job == "job-0123456789abcdefghij"
    assert json.loads(sent[0].body) == {
        "clusterId": "in01-0123456789abcde",
        "collectionName": "c",
        "objectUrls": [["s3://b/1.parquet"]],
        "accessKey": "AK",
        "secretKey": "SK",
        "options": {"timeout": "60"},
    }


def test_list_reads_every_page_spaced_for_the_rate_limit() -> None:
    total = PAGE_SIZE * 2 + 5
    records = [{"jobId": f"job-{i:020d}", "collectionName": "c", "state": "Completed"} for i in range(total)]

    def page(n: int) -> HttpResponse:
        chunk = records[(n - 1) * PAGE_SIZE : n * PAGE_SIZE]
        return answer({"code": 0, "data": {"count": total, "currentPage": n, "pageSize": PAGE_SIZE, "records": chunk}})

    sent: list[Any] = []
    operation = cloud().list_import_states()
    request = next(operation)
    states = None
    pages = iter([page(1), page(2), page(3)])
    try:
        while True:
            sent.append(request)
            request = operation.send(None if isinstance(request, Sleep) else next(pages))
    except StopIteration as stop:
        states = stop.value
    assert states is not None and len(states) == total
    http = [r for r in sent if isinstance(r, HttpRequest)]
    assert [json.loads(r.body)["currentPage"] for r in http] == [1, 2, 3]
    assert sum(isinstance(r, Sleep) for r in sent) == 2


@pytest.mark.parametrize("job_id", ["", " ", "job with space", "x" * 300])
def test_bad_cloud_job_ids(job_id: str) -> None:
    with pytest.raises(exc.MilvusImportConfigError):
        drive(cloud().get_import_state(job_id))
