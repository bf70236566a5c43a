"""Tests of the import API emulator itself, over real sockets with plain ``requests``."""

from __future__ import annotations

import json
import re
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import requests

from tests.emulator.server import (
    DEFAULT_API_KEY,
    DEFAULT_CLUSTER_ID,
    GARBAGE_KINDS,
    IMPORT_PREFIX,
    ImportEmulator,
)

MakeEmulator = Callable[..., ImportEmulator]
FILE_STATES = {"None", "Pending", "InProgress", "Failed", "Completed", "Retry"}
JOB_STATES = {"Pending", "Importing", "Completed", "Failed"}
PROGRESS_KEYS = {
    "jobId",
    "collectionName",
    "createTime",
    "completeTime",
    "state",
    "progress",
    "importedRows",
    "totalRows",
    "fileSize",
    "details",
}
DETAIL_KEYS = {"fileName", "fileSize", "progress", "completeTime", "state", "importedRows", "totalRows"}
CLOUD_AUTH = {"Authorization": f"Bearer {DEFAULT_API_KEY}"}


def post(
    emulator: ImportEmulator,
    route: str,
    body: Any = None,
    *,
    headers: dict[str, str] | None = None,
    data: bytes | None = None,
    timeout: float | tuple[float, float] = 5.0,
    **kwargs: Any,
) -> requests.Response:
    """POST JSON (or raw ``data``) to a route of the emulator."""
    if data is not None:
        return requests.post(emulator.url(route), data=data, headers=headers, timeout=timeout, **kwargs)
    return requests.post(emulator.url(route), json=body, headers=headers, timeout=timeout, **kwargs)


def create(emulator: ImportEmulator, files: list[list[str]] | None = None, **extra: Any) -> str:
    """Create a REST job and return its id."""
    body = {"collectionName": "articles", "files": files or [["a.parquet"]], **extra}
    answer = post(emulator, "create", body).json()
    assert answer["code"] == 0, answer
    return str(answer["data"]["jobId"])


def describe(emulator: ImportEmulator, job_id: str, route: str = "describe", **kwargs: Any) -> dict[str, Any]:
    """Describe a REST job and return the whole answer."""
    answer: dict[str, Any] = post(emulator, route, {"jobId": job_id}, **kwargs).json()
    return answer


def cloud_create(emulator: ImportEmulator, **extra: Any) -> str:
    """Create a cloud job and return its id."""
    body = {
        "clusterId": DEFAULT_CLUSTER_ID,
        "collectionName": "articles",
        "objectUrls": [["s3://bucket/a.parquet"]],
        "accessKey": "ak",
        "secretKey": "sk",
        **extra,
    }
    answer = post(emulator, "create", body, headers=CLOUD_AUTH).json()
    assert answer["code"] == 0, answer
    return str(answer["data"]["jobId"])


def cloud_progress(emulator: ImportEmulator, job_id: str, cluster_id: str = DEFAULT_CLUSTER_ID) -> dict[str, Any]:
    """getProgress of a cloud job; the whole answer."""
    answer: dict[str, Any] = post(
        emulator, "getProgress", {"clusterId": cluster_id, "jobId": job_id}, headers=CLOUD_AUTH
    ).json()
    return answer


# ------------------------------------------------------------------ REST lifecycle


def wait_until(done: Callable[[], bool], what: str, limit: float = 60.0) -> None:
    """Wait for ``done`` (a liveness guard, generous for a loaded machine: never a measured bound)."""
    deadline = time.monotonic() + limit
    while not done():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.01)


def test_create_returns_int64_job_id_as_decimal_string_above_2_53(rest_emulator: ImportEmulator) -> None:
    response = post(rest_emulator, "create", {"collectionName": "c", "files": [["a.json"]]})
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert re.search(r'"jobId":"\d+"', response.text)
    job_id = response.json()["data"]["jobId"]
    assert isinstance(job_id, str) and int(job_id) > 2**53
    assert int(create(rest_emulator)) > int(job_id)


def test_lifecycle_follows_the_clock(make_emulator: MakeEmulator) -> None:
    emulator = make_emulator(speed=0, job_duration=10.0, rows_per_file=1000)
    job_id = create(emulator, [["a.parquet"], ["b.parquet"]])

    data = describe(emulator, job_id)["data"]
    assert (data["state"], data["progress"], data["importedRows"], data["details"]) == ("Pending", 0, 0, [])
    emulator.advance(0.5)
    data = describe(emulator, job_id)["data"]
    assert data["state"] == "Pending" and 0 < data["progress"] < 10

    emulator.advance(2.0)  # 2.5 s: first file half done
    data = describe(emulator, job_id)["data"]
    assert data["state"] == "Importing" and 10 <= data["progress"] < 70
    assert [d["state"] for d in data["details"]] == ["InProgress", "Pending"]
    assert data["totalRows"] == 2000 and 0 < data["importedRows"] < 1000
    rows_before = data["importedRows"]

    emulator.advance(3.0)  # 5.5 s: second file in progress
    data = describe(emulator, job_id)["data"]
    assert [d["state"] for d in data["details"]] == ["Completed", "InProgress"]
    assert data["details"][0]["completeTime"] and not data["details"][1]["completeTime"]
    assert data["importedRows"] > rows_before and data["completeTime"] == ""

    emulator.advance(3.0)  # 8.5 s: index building
    data = describe(emulator, job_id)["data"]
    assert data["state"] == "Importing" and 70 <= data["progress"] <= 99
    assert data["importedRows"] == data["totalRows"] == 2000

    emulator.advance(2.0)
    data = describe(emulator, job_id)["data"]
    assert (data["state"], data["progress"], data["importedRows"]) == ("Completed", 100, 2000)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", data["completeTime"])
    assert all(d["state"] == "Completed" and d["progress"] == 100 for d in data["details"])


def test_progress_data_has_the_spec_fields_on_describe_and_get_progress(rest_emulator: ImportEmulator) -> None:
    job_id = create(rest_emulator, [["x/1.parquet", "x/2.parquet"]])
    rest_emulator.advance(1.0)
    described = describe(rest_emulator, job_id)
    progress = describe(rest_emulator, job_id, route="get_progress")
    assert described["code"] == progress["code"] == 0
    assert set(described["data"]) == set(progress["data"]) == PROGRESS_KEYS
    assert described["data"]["jobId"] == job_id
    detail = described["data"]["details"][0]
    assert set(detail) == DETAIL_KEYS
    assert detail["fileName"] == "[x/1.parquet x/2.parquet]"
    assert detail["state"] in FILE_STATES
    assert described["data"]["fileSize"] == detail["fileSize"] > 0


def test_speed_runs_jobs_in_compressed_real_time(make_emulator: MakeEmulator) -> None:
    emulator = make_emulator(speed=50.0, job_duration=5.0)
    job_id = create(emulator)
    seen: list[str] = []

    def completed() -> bool:
        state = describe(emulator, job_id)["data"]["state"]
        if not seen or seen[-1] != state:
            seen.append(state)
        return state == "Completed"

    wait_until(completed, "a 5 s job at speed 50 completes")
    assert set(seen) <= JOB_STATES


def test_index_hold_keeps_the_job_importing_between_70_and_99(make_emulator: MakeEmulator) -> None:
    emulator = make_emulator(speed=0, job_duration=1.0, index_hold=100.0)
    job_id = create(emulator)
    for step in (1.0, 30.0, 60.0):
        emulator.advance(step)
        data = describe(emulator, job_id)["data"]
        assert data["state"] == "Importing" and 70 <= data["progress"] <= 99
        assert data["importedRows"] == data["totalRows"] > 0
    emulator.advance(20.0)
    assert describe(emulator, job_id)["data"]["state"] == "Completed"


def test_a_file_named_fail_makes_the_job_fail(make_emulator: MakeEmulator) -> None:
    emulator = make_emulator(speed=0, job_duration=10.0)
    job_id = create(emulator, [["ok.parquet"], ["will_fail.parquet"], ["later.parquet"]])
    emulator.advance(2.0)
    assert describe(emulator, job_id)["data"]["state"] == "Importing"
    emulator.advance(20.0)
    data = describe(emulator, job_id)["data"]
    assert data["state"] == "Failed"
    assert "will_fail.parquet" in data["reason"]
    assert (data["progress"], data["importedRows"], data["totalRows"]) == (0, 0, 0)
    assert data["completeTime"]
    assert [d["state"] for d in data["details"]] == ["Completed", "Failed", "Pending"]
    assert data["details"][1]["reason"] == data["reason"]
    assert "reason" not in data["details"][0]


def test_fail_jobs_knob_fails_every_job(make_emulator: MakeEmulator) -> None:
    emulator = make_emulator(speed=0, fail_jobs=True)
    job_id = create(emulator)
    emulator.advance(100.0)
    data = describe(emulator, job_id)["data"]
    assert data["state"] == "Failed" and data["reason"] == "emulated failure"


def test_set_job_forces_values_until_cleared(make_emulator: MakeEmulator) -> None:
    emulator = make_emulator(speed=0)
    job_id = create(emulator)
    emulator.set_job(job_id, state="Importing", progress=42, imported_rows=7)
    emulator.advance(1000.0)
    data = describe(emulator, job_id)["data"]
    assert (data["state"], data["progress"], data["importedRows"]) == ("Importing", 42, 7)
    emulator.set_job(job_id, state="Failed", reason="disk full")
    data = describe(emulator, job_id)["data"]
    assert (data["state"], data["reason"]) == ("Failed", "disk full")
    assert data["progress"] == 42  # the earlier progress override is sticky
    emulator.set_job(job_id, clear=True)
    assert describe(emulator, job_id)["data"]["state"] == "Completed"
    assert emulator.job(job_id)["state"] == "Completed"


def test_finish_fail_and_expire_helpers(make_emulator: MakeEmulator) -> None:
    emulator = make_emulator(speed=0, job_duration=100.0)
    done, broken, gone = create(emulator), create(emulator), create(emulator)
    emulator.advance(10.0)
    emulator.finish_job(done)
    emulator.fail_job(broken, "bucket not found")
    emulator.expire_job(gone)
    assert describe(emulator, done)["data"]["state"] == "Completed"
    data = describe(emulator, broken)["data"]
    assert (data["state"], data["reason"]) == ("Failed", "bucket not found")
    assert describe(emulator, gone)["code"] == 2100
    assert emulator.job_ids == [done, broken]


def test_script_next_job_sets_duration_and_failure(make_emulator: MakeEmulator) -> None:
    emulator = make_emulator(speed=0, job_duration=100.0)
    emulator.script_next_job(duration=1.0, rows_per_file=5)
    emulator.script_next_job(fail_after=0.5, fail_reason="scripted")
    fast, failing, normal = create(emulator), create(emulator), create(emulator)
    emulator.advance(2.0)
    assert describe(emulator, fast)["data"]["state"] == "Completed"
    assert describe(emulator, fast)["data"]["totalRows"] == 5
    assert describe(emulator, failing)["data"]["reason"] == "scripted"
    assert describe(emulator, normal)["data"]["state"] == "Pending"


def test_set_job_changes_the_timeline(make_emulator: MakeEmulator) -> None:
    emulator = make_emulator(speed=0, job_duration=100.0)
    job_id = create(emulator)
    emulator.set_job(job_id, duration=1.0, index_hold=5.0)
    emulator.advance(3.0)
    data = describe(emulator, job_id)["data"]
    assert data["state"] == "Importing" and data["progress"] >= 70
    emulator.advance(5.0)
    assert describe(emulator, job_id)["data"]["state"] == "Completed"


def test_list_returns_records_with_filters(make_emulator: MakeEmulator) -> None:
    emulator = make_emulator(speed=0, job_duration=1.0)
    first = create(emulator, collectionName="a")
    second = create(emulator, [["fail.json"]], collectionName="b", dbName="other")
    emulator.advance(5.0)
    answer = post(emulator, "list", {}).json()
    assert answer["code"] == 0 and set(answer["data"]) == {"records"}
    records = answer["data"]["records"]
    assert [r["jobId"] for r in records] == [first, second]
    assert set(records[0]) == {"jobId", "collectionName", "state", "progress"}
    assert records[1]["state"] == "Failed" and "fail.json" in records[1]["reason"]
    only_b = post(emulator, "list", {"collectionName": "b"}).json()["data"]["records"]
    assert [r["jobId"] for r in only_b] == [second]
    other_db = post(emulator, "list", {"dbName": "other"}).json()["data"]["records"]
    assert [r["jobId"] for r in other_db] == [second]
    assert post(emulator, "list", data=b"").json()["code"] == 1801


def test_concurrent_creates_get_unique_ids(rest_emulator: ImportEmulator) -> None:
    ids: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        job_id = create(rest_emulator)
        with lock:
            ids.append(job_id)

    held = rest_emulator.inject_hold(count=16, route="create")
    threads = [threading.Thread(target=worker) for _ in range(16)]
    for thread in threads:
        thread.start()
    wait_until(lambda: rest_emulator.in_flight_requests == 16, "16 creates held at once")
    held.release()
    for thread in threads:
        thread.join()
    assert len(set(ids)) == 16
    assert rest_emulator.max_concurrent_requests == 16 and rest_emulator.max_concurrent_connections == 16


# ------------------------------------------------------------------------ REST errors


def test_unknown_job_answers_2100(rest_emulator: ImportEmulator) -> None:
    response = post(rest_emulator, "describe", {"jobId": "449999999999999999"})
    assert response.status_code == 200
    answer = response.json()
    assert answer["code"] == 2100 and "import job does not exist" in answer["message"]
    assert "data" not in answer
    not_a_number = describe(rest_emulator, "job-abc")
    assert not_a_number["code"] == 2100 and "invalid syntax" in not_a_number["message"]


def test_retention_forgets_finished_jobs(make_emulator: MakeEmulator) -> None:
    emulator = make_emulator(speed=0, job_duration=1.0, retention=60.0)
    job_id = create(emulator)
    emulator.advance(30.0)
    assert describe(emulator, job_id)["data"]["state"] == "Completed"
    emulator.advance(40.0)
    answer = describe(emulator, job_id)
    assert answer["code"] == 2100 and "import job does not exist" in answer["message"]
    assert post(emulator, "list", {}).json()["data"]["records"] == []


@pytest.mark.parametrize(
    ("route", "raw"),
    [
        ("describe", b"{not json"),
        ("describe", b""),
        ("describe", b"[]"),
        ("describe", b'"text"'),
        ("describe", b'{"jobId": 449999999999999999}'),
        ("create", b'{"collectionName": "c", "files": ["a.json"]}'),
        ("create", b'{"collectionName": "c", "files": [["a.json"]], "options": {"sep": 1}}'),
        ("create", b'{"collectionName": 5, "files": [["a.json"]]}'),
        ("list", b'{"collectionName": NaN}'),
    ],
)
def test_malformed_body_answers_1801(rest_emulator: ImportEmulator, route: str, raw: bytes) -> None:
    response = post(rest_emulator, route, data=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 200
    answer = response.json()
    assert answer["code"] == 1801
    assert answer["message"].startswith("can only accept json format request")


@pytest.mark.parametrize(
    ("route", "body"),
    [
        ("create", {"files": [["a.json"]]}),
        ("create", {"collectionName": "c"}),
        ("create", {"collectionName": "", "files": [["a.json"]]}),
        ("create", {"collectionName": "c", "files": []}),
        ("describe", {}),
        ("get_progress", {"jobId": ""}),
        ("describe", None),
    ],
)
def test_missing_required_field_answers_1802(
    rest_emulator: ImportEmulator, route: str, body: dict[str, Any] | None
) -> None:
    raw = b"null" if body is None else json.dumps(body).encode()
    answer = post(rest_emulator, route, data=raw).json()
    assert answer["code"] == 1802
    assert answer["message"].startswith("missing required parameters")


def test_auth_token_is_checked(make_emulator: MakeEmulator) -> None:
    emulator = make_emulator(token="root:Milvus")
    for headers in ({}, {"Authorization": "Bearer root:wrong"}, {"Authorization": "Basic cm9vdDpNaWx2dXM="}):
        response = post(emulator, "list", {}, headers=headers)
        assert response.status_code == 401
        assert response.json() == {"code": 1800, "message": "user hasn't authenticated"}
    ok = post(emulator, "list", {}, headers={"Authorization": "Bearer root:Milvus"})
    assert ok.status_code == 200 and ok.json()["code"] == 0


def test_forbidden_answers_403(make_emulator: MakeEmulator) -> None:
    emulator = make_emulator(forbidden=True)
    response = post(emulator, "create", {"collectionName": "c", "files": [["a"]]})
    assert response.status_code == 403
    assert response.json()["code"] != 0 and response.json()["message"]


def test_request_timeout_header_shorter_than_latency_answers_408(make_emulator: MakeEmulator) -> None:
    emulator = make_emulator(latency=600.0)  # waiting it out would time the client out (10 s): the 408 is early
    response = post(emulator, "list", {}, headers={"Request-Timeout": "0.05"}, timeout=10.0)
    assert response.status_code == 408
    assert response.json()["code"] != 0
    emulator.latency = 0.3
    started = time.monotonic()
    slow = post(emulator, "list", {}, headers={"Request-Timeout": "5"})
    assert slow.status_code == 200
    assert time.monotonic() - started >= 0.3  # a lower bound: load only makes it longer


def test_unknown_routes_and_methods_answer_go_404(rest_emulator: ImportEmulator) -> None:
    for response in (
        post(rest_emulator, "/v2/vectordb/jobs/import/nope", {}),
        post(rest_emulator, "getProgress", {"jobId": "1"}),
        requests.get(rest_emulator.url("describe"), timeout=5),
        requests.put(rest_emulator.url("create"), json={}, timeout=5),
    ):
        assert response.status_code == 404
        assert response.text == "404 page not found"
        assert response.headers["Content-Type"].startswith("text/plain")


def test_describe_routed_false_only_serves_get_progress(make_emulator: MakeEmulator) -> None:
    emulator = make_emulator(describe_routed=False)
    job_id = create(emulator)
    assert post(emulator, "describe", {"jobId": job_id}).status_code == 404
    assert describe(emulator, job_id, route="get_progress")["code"] == 0


def test_legacy_quirks_use_code_200_and_jobID(make_emulator: MakeEmulator) -> None:
    emulator = make_emulator(legacy_quirks=True)
    answer = post(emulator, "create", {"collectionName": "c", "files": [["a"]]}).json()
    assert answer["code"] == 200 and set(answer["data"]) == {"jobID"}
    job_id = answer["data"]["jobID"]
    data = describe(emulator, job_id)
    assert data["code"] == 200 and data["data"]["jobID"] == job_id and "jobId" not in data["data"]
    records = post(emulator, "list", {}).json()
    assert records["code"] == 200 and records["data"]["records"][0]["jobID"] == job_id
    assert describe(emulator, "123")["code"] == 2100


def test_db_name_header_is_recorded_and_strict_db_checks_it(make_emulator: MakeEmulator) -> None:
    emulator = make_emulator(strict_db=True)
    job_id = create(emulator, dbName="sales")
    assert describe(emulator, job_id, headers={"DB-Name": "sales"})["code"] == 0
    assert describe(emulator, job_id)["code"] == 2100
    assert emulator.requests[-2].header("db-name") == "sales"
    lenient = ImportEmulator()
    with lenient:
        other = create(lenient, dbName="sales")
        assert describe(lenient, other)["code"] == 0


def test_unknown_collection_and_limits(make_emulator: MakeEmulator) -> None:
    emulator = make_emulator(collections={"articles"}, max_files=2, max_jobs=1, speed=0)
    answer = post(emulator, "create", {"collectionName": "nope", "files": [["a"]]}).json()
    assert answer["code"] == 100 and "collection not found" in answer["message"]
    too_many = post(emulator, "create", {"collectionName": "articles", "files": [["a"], ["b"], ["c"]]}).json()
    assert too_many["code"] == 2100 and "1024" not in too_many["message"] and "2" in too_many["message"]
    create(emulator)
    busy = post(emulator, "create", {"collectionName": "articles", "files": [["a"]]}).json()
    assert busy["code"] == 2100 and "limit" in busy["message"]


# ----------------------------------------------------------------------------- cloud


def test_cloud_create_and_get_progress(cloud_emulator: ImportEmulator) -> None:
    job_id = cloud_create(cloud_emulator)
    assert re.fullmatch(r"job-[a-z0-9]{20}", job_id)
    answer = cloud_progress(cloud_emulator, job_id)
    assert answer["code"] == 0
    data = answer["data"]
    assert set(data) == PROGRESS_KEYS - {"createTime"}
    assert data["jobId"] == job_id and data["state"] in JOB_STATES
    cloud_emulator.finish_job(job_id)
    data = cloud_progress(cloud_emulator, job_id)["data"]
    assert (data["state"], data["progress"]) == ("Completed", 100)
    single = cloud_create(cloud_emulator, objectUrls=None, objectUrl="https://example.com/data.json")
    assert cloud_progress(cloud_emulator, single)["code"] == 0


def test_cloud_wrong_api_key_answers_21119(cloud_emulator: ImportEmulator, make_emulator: MakeEmulator) -> None:
    body = {"clusterId": DEFAULT_CLUSTER_ID, "jobId": "job-x"}
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        response = post(cloud_emulator, "getProgress", body, headers=headers)
        assert response.status_code == 200
        assert response.json() == {"code": 21119, "message": "The apikey is illegal."}
    strict = make_emulator(mode="cloud", token="k", cloud_auth_status=401)
    assert post(strict, "list", {"clusterId": DEFAULT_CLUSTER_ID}).status_code == 401


def test_cloud_cluster_and_job_errors(cloud_emulator: ImportEmulator) -> None:
    job_id = cloud_create(cloud_emulator)
    unknown_cluster = post(
        cloud_emulator, "getProgress", {"clusterId": "in03-unknown", "jobId": job_id}, headers=CLOUD_AUTH
    ).json()
    assert unknown_cluster["code"] == 96018 and "Cluster not found" in unknown_cluster["message"]
    empty_cluster = post(cloud_emulator, "getProgress", {"jobId": job_id}, headers=CLOUD_AUTH).json()
    assert empty_cluster["code"] == 96025
    unknown_job = cloud_progress(cloud_emulator, "job-doesnotexist0000000")
    assert unknown_job["code"] == 96026 and "Job not found" in unknown_job["message"]
    missing = post(
        cloud_emulator, "create", {"clusterId": DEFAULT_CLUSTER_ID, "collectionName": "c"}, headers=CLOUD_AUTH
    ).json()
    assert missing["code"] == 80000 and "objectUrl" in missing["message"]
    bad_json = post(cloud_emulator, "create", data=b"{", headers=CLOUD_AUTH).json()
    assert bad_json["code"] == 80000


def test_cloud_list_is_paged(cloud_emulator: ImportEmulator) -> None:
    ids = [cloud_emulator.create_job("c", [["s3://b/x.json"]]) for _ in range(25)]
    cloud_emulator.create_job("c", [["s3://b/x.json"]], cluster_id="in03-other")

    def page(size: int, number: int) -> dict[str, Any]:
        body = {"clusterId": DEFAULT_CLUSTER_ID, "pageSize": size, "currentPage": number}
        answer: dict[str, Any] = post(cloud_emulator, "list", body, headers=CLOUD_AUTH).json()
        return answer

    first = page(10, 1)
    assert first["code"] == 0
    assert {k: first["data"][k] for k in ("count", "currentPage", "pageSize")} == {
        "count": 25,
        "currentPage": 1,
        "pageSize": 10,
    }
    assert set(first["data"]["records"][0]) == {"collectionName", "jobId", "state"}
    pages = [page(10, n)["data"]["records"] for n in (1, 2, 3, 4)]
    assert [len(p) for p in pages] == [10, 10, 5, 0]
    assert [r["jobId"] for p in pages for r in p] == list(reversed(ids))
    assert page(0, 1)["code"] == 96008 and page(101, 1)["code"] == 96008
    assert page(10, 0)["code"] == 96009
    assert page(10, "1")["code"] == 80000  # type: ignore[arg-type]


def test_cloud_legacy_shape(make_emulator: MakeEmulator) -> None:
    emulator = make_emulator(mode="cloud", legacy_shape=True, speed=0, job_duration=10.0)
    job_id = emulator.create_job("medium_articles", [["folder/1/"]])
    emulator.advance(5.0)
    answer = cloud_progress(emulator, job_id)
    assert answer["code"] == 200
    data = answer["data"]
    assert "state" not in data and "progress" not in data
    assert 0 < data["readyPercentage"] < 1 and data["errorMessage"] is None
    assert data["fileName"] == "folder/1/" and data["completeTime"] is None
    assert set(data["details"][0]) == {"fileName", "fileSize", "readyPercentage", "completeTime", "errorMessage"}
    emulator.advance(10.0)
    data = cloud_progress(emulator, job_id)["data"]
    assert data["readyPercentage"] == 1 and isinstance(data["completeTime"], str)
    failing = emulator.create_job("medium_articles", [["folder/fail/"]])
    emulator.advance(20.0)
    assert "folder/fail/" in cloud_progress(emulator, failing)["data"]["errorMessage"]


def test_cloud_describe_route_is_a_knob(cloud_emulator: ImportEmulator, make_emulator: MakeEmulator) -> None:
    job_id = cloud_create(cloud_emulator)
    body = {"clusterId": DEFAULT_CLUSTER_ID, "jobId": job_id}
    assert post(cloud_emulator, "describe", body, headers=CLOUD_AUTH).status_code == 404
    assert post(cloud_emulator, "get_progress", body, headers=CLOUD_AUTH).status_code == 404
    routed = make_emulator(mode="cloud", cloud_describe_routed=True)
    other = routed.create_job("c", [["a"]])
    answer = post(routed, "describe", {"clusterId": DEFAULT_CLUSTER_ID, "jobId": other}).json()
    assert answer["code"] == 0 and answer["data"]["jobId"] == other


def test_cloud_rate_limit_per_endpoint(cloud_emulator: ImportEmulator) -> None:
    job_id = cloud_create(cloud_emulator)
    body = {"clusterId": DEFAULT_CLUSTER_ID, "jobId": job_id}
    now = [1000.0]
    cloud_emulator.rate_clock = lambda: now[0]  # the one-second window, frozen: the count is exact

    def statuses(count: int) -> list[int]:
        return [
            session.post(cloud_emulator.url("getProgress"), json=body, headers=CLOUD_AUTH, timeout=5).status_code
            for _ in range(count)
        ]

    with requests.Session() as session:
        first = statuses(25)
        listed = session.post(
            cloud_emulator.url("list"), json={"clusterId": DEFAULT_CLUSTER_ID}, headers=CLOUD_AUTH, timeout=5
        )
        now[0] += 0.999
        still = statuses(1)
        now[0] += 0.001
        later = statuses(21)
    assert first == [200] * 20 + [429] * 5
    assert still == [429] and later == [200] * 20 + [429]  # the window slides after one second
    assert cloud_emulator.rate_limited_count("getProgress") == 7
    assert cloud_emulator.rate_limited_count() == 7
    assert cloud_emulator.request_count("getProgress") == 47
    assert listed.status_code == 200 and listed.json()["code"] == 0


def test_rate_limit_answer_is_configurable(make_emulator: MakeEmulator) -> None:
    rest = make_emulator(rate_limit=2)
    answers = [post(rest, "list", {}) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert answers[2].json() == {"code": 1807, "message": "request is rejected by limiter"}
    cloud = make_emulator(
        mode="cloud", rate_limit=1, rate_limit_status=200, rate_limit_code=90000, rate_limit_retry_after="1"
    )
    post(cloud, "list", {"clusterId": DEFAULT_CLUSTER_ID})
    limited = post(cloud, "list", {"clusterId": DEFAULT_CLUSTER_ID})
    assert limited.status_code == 200 and limited.json()["code"] == 90000
    assert limited.headers["Retry-After"] == "1"
    assert ImportEmulator().rate_limit is None and ImportEmulator(mode="cloud").rate_limit == 20


# ---------------------------------------------------------------------------- faults


@pytest.mark.parametrize("status", [502, 503, 504])
def test_status_fault_sends_an_html_proxy_page(rest_emulator: ImportEmulator, status: int) -> None:
    fault = rest_emulator.inject_status(status, count=2)
    for _ in range(2):
        response = post(rest_emulator, "list", {})
        assert response.status_code == status
        assert response.headers["Content-Type"].startswith("text/html")
        assert response.text.startswith("<html>") and str(status) in response.text
    assert fault.applied == 2 and rest_emulator.pending_faults == []
    assert post(rest_emulator, "list", {}).json()["code"] == 0
    assert [r.fault for r in rest_emulator.requests] == ["status", "status", None]


def test_429_fault_with_and_without_retry_after(rest_emulator: ImportEmulator) -> None:
    rest_emulator.inject_status(429, retry_after=3)
    rest_emulator.inject_status(429)
    first = post(rest_emulator, "list", {})
    second = post(rest_emulator, "list", {})
    assert first.status_code == second.status_code == 429
    assert first.headers["Retry-After"] == "3" and "Retry-After" not in second.headers


def test_faults_can_target_one_route(rest_emulator: ImportEmulator) -> None:
    job_id = create(rest_emulator)
    rest_emulator.inject_status(503, route="describe")
    assert post(rest_emulator, "list", {}).status_code == 200
    assert post(rest_emulator, "get_progress", {"jobId": job_id}).status_code == 200
    assert post(rest_emulator, "describe", {"jobId": job_id}).status_code == 503
    rest_emulator.inject_status(500, route=f"{IMPORT_PREFIX}/list", count=5)
    rest_emulator.clear_faults()
    assert post(rest_emulator, "list", {}).status_code == 200


@pytest.mark.parametrize("partial", ["none", "headers", "body"])
def test_reset_fault_breaks_the_connection(rest_emulator: ImportEmulator, partial: str) -> None:
    rest_emulator.inject_reset(partial=partial, route="create")  # type: ignore[arg-type]
    with pytest.raises(requests.exceptions.RequestException):
        post(rest_emulator, "create", {"collectionName": "c", "files": [["a"]]})
    assert len(rest_emulator.job_ids) == 1  # the server did the work, the answer was lost
    assert post(rest_emulator, "list", {}).json()["code"] == 0


def test_close_fault_and_unprocessed_reset(rest_emulator: ImportEmulator) -> None:
    rest_emulator.inject_close()
    with pytest.raises(requests.exceptions.ConnectionError):
        post(rest_emulator, "create", {"collectionName": "c", "files": [["a"]]})
    rest_emulator.inject_reset(partial="none", process=False)
    with pytest.raises(requests.exceptions.ConnectionError):
        post(rest_emulator, "create", {"collectionName": "c", "files": [["a"]]})
    assert rest_emulator.job_ids == []


def test_slow_fault_delays_the_answer(rest_emulator: ImportEmulator) -> None:
    rest_emulator.inject_slow(0.5)
    with pytest.raises(requests.exceptions.ReadTimeout):
        post(rest_emulator, "list", {}, timeout=(1.0, 0.1))
    rest_emulator.inject_slow(0.2)
    started = time.monotonic()
    assert post(rest_emulator, "list", {}).json()["code"] == 0
    assert time.monotonic() - started >= 0.2


def _garbage_answer(emulator: ImportEmulator, kind: str, route: str, body: dict[str, Any]) -> requests.Response:
    """Inject ``kind`` on ``route`` and return the broken answer."""
    emulator.inject_garbage(kind, route=route)
    return post(emulator, route, body)


@pytest.mark.parametrize("kind", GARBAGE_KINDS)
def test_garbage_fault_kinds(make_emulator: MakeEmulator, kind: str) -> None:
    emulator = make_emulator(speed=0)
    job_id = create(emulator)
    emulator.advance(1.0)
    response = _garbage_answer(emulator, kind, "describe", {"jobId": job_id})
    assert response.status_code == 200
    if kind in ("html_200", "empty", "truncated_json"):
        with pytest.raises(ValueError):
            response.json()
        assert (response.content == b"") == (kind == "empty")
        if kind == "html_200":
            assert response.text.startswith("<html>")
        return
    answer = response.json()
    if kind == "json_array":
        assert isinstance(answer, list)
    elif kind == "no_data":
        assert answer == {"code": 0}
    elif kind == "null_data":
        assert answer == {"code": 0, "data": None}
    elif kind == "wrong_types":
        assert isinstance(answer["data"]["progress"], str) and isinstance(answer["data"]["details"], dict)
    elif kind == "code_as_string":
        assert answer["code"] == "0"
    elif kind == "unknown_state":
        assert answer["data"]["state"] not in JOB_STATES
    elif kind == "progress_150":
        assert answer["data"]["progress"] == 150
    elif kind == "float_job_id":
        assert isinstance(answer["data"]["jobId"], float) and "e+17" in response.text
    assert post(emulator, "describe", {"jobId": job_id}).json()["data"]["jobId"] == job_id


def test_float_job_id_garbage_on_create_and_cloud(cloud_emulator: ImportEmulator) -> None:
    cloud_emulator.inject_garbage("float_job_id", route="create")
    body = {"clusterId": DEFAULT_CLUSTER_ID, "collectionName": "c", "objectUrl": "s3://b/a.json"}
    answer = post(cloud_emulator, "create", body, headers=CLOUD_AUTH).json()
    assert isinstance(answer["data"]["jobId"], float)


def test_oversized_fault_sends_a_huge_valid_json_body(rest_emulator: ImportEmulator) -> None:
    job_id = create(rest_emulator)
    rest_emulator.inject_oversized(3 * 1024 * 1024, route="describe")
    response = post(rest_emulator, "describe", {"jobId": job_id})
    assert len(response.content) > 3 * 1024 * 1024
    answer = response.json()
    assert answer["data"]["jobId"] == job_id and len(answer["padding"]) == 3 * 1024 * 1024


def test_inject_rejects_unknown_garbage(rest_emulator: ImportEmulator) -> None:
    with pytest.raises(ValueError):
        rest_emulator.inject_garbage("nonsense")
    with pytest.raises(ValueError):
        rest_emulator.inject_status(502, count=0)


# ------------------------------------------------------------------------ availability


def test_stop_and_start_on_the_same_port_keep_the_jobs(make_emulator: MakeEmulator) -> None:
    emulator = make_emulator(speed=0)
    job_id = create(emulator)
    port, url = emulator.port, emulator.base_url
    with requests.Session() as session:
        assert session.post(emulator.url("list"), json={}, timeout=5).status_code == 200
        emulator.stop()
        assert not emulator.running
        with pytest.raises(requests.exceptions.ConnectionError):
            session.post(emulator.url("list"), json={}, timeout=5)
        emulator.start()
        assert emulator.port == port and emulator.base_url == url and emulator.running
        assert session.post(emulator.url("describe"), json={"jobId": job_id}, timeout=5).json()["code"] == 0


def test_pause_refuse_and_hang_then_resume(rest_emulator: ImportEmulator) -> None:
    rest_emulator.pause()
    with pytest.raises(requests.exceptions.ConnectionError):
        post(rest_emulator, "list", {})
    rest_emulator.resume()
    assert post(rest_emulator, "list", {}).status_code == 200
    rest_emulator.pause(hang=True)
    assert not rest_emulator.running
    with pytest.raises(requests.exceptions.ReadTimeout):
        post(rest_emulator, "list", {}, timeout=(1.0, 0.2))
    rest_emulator.resume()
    assert post(rest_emulator, "list", {}).status_code == 200


def test_context_manager_starts_and_stops() -> None:
    with ImportEmulator(mode="cloud") as emulator:
        assert emulator.running and emulator.base_url.startswith("http://127.0.0.1:")
        base = emulator.base_url
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.post(base + f"{IMPORT_PREFIX}/list", json={}, timeout=2)


# ------------------------------------------------------------------------------- TLS


def test_tls_with_a_self_signed_certificate(make_emulator: MakeEmulator, emulator_tls_cert: tuple[str, str]) -> None:
    from cryptography import x509

    cert_path, key_path = emulator_tls_cert
    emulator = make_emulator(certfile=cert_path, keyfile=key_path)
    assert emulator.base_url.startswith("https://127.0.0.1:")
    assert post(emulator, "list", {}, verify=cert_path).json()["code"] == 0
    context = ssl.create_default_context(cafile=cert_path)
    assert httpx.post(emulator.url("list"), json={}, verify=context).json()["code"] == 0
    with pytest.raises(requests.exceptions.SSLError):
        post(emulator, "list", {})
    with open(cert_path, "rb") as handle:
        cert = x509.load_pem_x509_certificate(handle.read())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "127.0.0.1" in [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    assert "localhost" in san.get_values_for_type(x509.DNSName)


@pytest.mark.parametrize("partial", ["none", "headers", "body"])
def test_reset_fault_over_tls(make_emulator: MakeEmulator, emulator_tls_cert: tuple[str, str], partial: str) -> None:
    cert_path, key_path = emulator_tls_cert
    emulator = make_emulator(certfile=cert_path, keyfile=key_path)
    emulator.inject_reset(partial=partial)  # type: ignore[arg-type]
    with pytest.raises(requests.exceptions.RequestException):
        post(emulator, "list", {}, verify=cert_path)
    emulator.pause(hang=True)
    with pytest.raises(requests.exceptions.Timeout):  # the TLS handshake never completes
        post(emulator, "list", {}, verify=cert_path, timeout=(0.2, 0.2))
    emulator.resume()
    assert post(emulator, "list", {}, verify=cert_path).json()["code"] == 0


# ------------------------------------------------------------------------ observability


def test_requests_are_recorded_with_raw_headers(make_emulator: MakeEmulator) -> None:
    emulator = make_emulator(token="root:Milvus")
    headers = {"Authorization": "Bearer root:Milvus", "DB-Name": "db1", "Request-Timeout": "30"}
    post(emulator, "list", {"collectionName": "c"}, headers=headers)
    post(emulator, "describe", {"jobId": "1"}, headers=headers)
    (first, second) = emulator.requests
    assert first.method == "POST" and first.route == f"{IMPORT_PREFIX}/list"
    assert first.header("authorization") == "Bearer root:Milvus"
    assert first.safe_headers["Authorization"] == "<redacted>"
    assert first.json == {"collectionName": "c"} and first.status == 200
    assert second.header("Request-Timeout") == "30"
    assert emulator.request_count("list") == 1 and emulator.request_count(f"{IMPORT_PREFIX}/describe") == 1
    assert emulator.request_count() == 2
    emulator.reset()
    assert emulator.requests == [] and emulator.request_count() == 0


def test_connection_tracking(rest_emulator: ImportEmulator) -> None:
    with requests.Session() as session:
        for _ in range(3):
            session.post(rest_emulator.url("list"), json={}, timeout=5)
    assert rest_emulator.total_connections == 1
    rest_emulator.reset()
    held = rest_emulator.inject_hold(count=5)
    threads = [threading.Thread(target=post, args=(rest_emulator, "list", {})) for _ in range(5)]
    for thread in threads:
        thread.start()
    wait_until(lambda: rest_emulator.in_flight_requests == 5, "5 requests held at once")
    held.release()
    for thread in threads:
        thread.join()
    assert rest_emulator.max_concurrent_connections == 5
    assert rest_emulator.max_concurrent_requests == 5
    wait_until(lambda: rest_emulator.open_connections == 0, "every connection closed")


def test_httpx_keep_alive_client(rest_emulator: ImportEmulator) -> None:
    with httpx.Client(base_url=rest_emulator.base_url) as client:
        job_id = client.post(f"{IMPORT_PREFIX}/create", json={"collectionName": "c", "files": [["a"]]}).json()
        for _ in range(3):
            answer = client.post(f"{IMPORT_PREFIX}/describe", json={"jobId": job_id["data"]["jobId"]}).json()
            assert answer["code"] == 0
    assert rest_emulator.total_connections == 1


async def test_httpx_async_client(rest_emulator: ImportEmulator) -> None:
    async with httpx.AsyncClient(base_url=rest_emulator.base_url) as client:
        response = await client.post(f"{IMPORT_PREFIX}/list", json={})
    assert response.json() == {"code": 0, "data": {"records": []}}


def test_fixture_defaults(rest_emulator: ImportEmulator, cloud_emulator: ImportEmulator) -> None:
    assert rest_emulator.mode == "rest" and rest_emulator.token is None and rest_emulator.running
    assert cloud_emulator.mode == "cloud" and cloud_emulator.token == DEFAULT_API_KEY
    assert rest_emulator.port != cloud_emulator.port
