"""The emulator's release profiles answer on the wire as section 6 of the spec says, release by release."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from tests.emulator.profiles import PROFILES, REST_PROFILES, profile
from tests.emulator.server import IDEMPOTENCY_TTL, ImportEmulator
from tests.emulator.test_emulator import post

LATE = ("2.6-late", "3.0", "2.6.24", "3.0.2")
TWO_PHASE = ("3.0", "3.0.2")


def started(make_emulator: Callable[..., ImportEmulator], name: str, **knobs: object) -> ImportEmulator:
    return make_emulator(profile=name, speed=0, **knobs)


@pytest.mark.parametrize("name", REST_PROFILES)
def test_routes_file_names_create_time_and_codes(make_emulator: Callable[..., ImportEmulator], name: str) -> None:
    emulator = started(make_emulator, name)
    answer = post(emulator, "create", {"collectionName": "c", "files": [["a/1.npy", "a/2.npy"]]}).json()
    job_id = answer["data"]["jobId"]
    emulator.finish_job(job_id)
    describe = post(emulator, "describe", {"jobId": job_id})
    progress = post(emulator, "get_progress", {"jobId": job_id}).json()["data"]
    assert describe.status_code == (404 if name == "2.4.0" else 200)
    file_name = progress["details"][0]["fileName"]
    if name.startswith("2.4"):
        assert re.fullmatch(r'id:\d+ paths:"a/1\.npy" paths:"a/2\.npy" ', file_name), file_name
    else:
        assert file_name == "[a/1.npy a/2.npy]"
    assert ("createTime" in progress) is (name in LATE)
    gone = post(emulator, "get_progress", {"jobId": "1"}).json()
    assert gone["code"] == (2101 if name in LATE else 2100)
    assert "import job does not exist, jobID=1" in gone["message"]
    bad = post(emulator, "get_progress", {"jobId": "abc"}).json()
    assert bad["code"] == (1100 if name in LATE else 2100)
    two_phase = post(emulator, "commit", {"jobId": job_id})
    assert two_phase.status_code == (200 if name in TWO_PHASE else 404)
    assert post(emulator, "abort", {"jobId": job_id}).status_code == (200 if name in TWO_PHASE else 404)


@pytest.mark.parametrize("name", REST_PROFILES)
def test_job_limit_words_and_code(make_emulator: Callable[..., ImportEmulator], name: str) -> None:
    emulator = started(make_emulator, name, max_jobs=1)
    body = {"collectionName": "c", "files": [["a.parquet"]]}
    assert post(emulator, "create", body).json()["code"] == 0
    refused = post(emulator, "create", body).json()
    assert refused["code"] == (2100 if name in ("2.4.0", "2.4.13", "2.5") else 2101)
    assert refused["message"].startswith("The number of jobs has reached the limit, please try again later")


@pytest.mark.parametrize("name", REST_PROFILES)
def test_progress_bands_and_per_file_retry(make_emulator: Callable[..., ImportEmulator], name: str) -> None:
    emulator = started(make_emulator, name, job_duration=100.0)
    job_id = emulator.create_job("c", [["retry/1.parquet"], ["b/2.parquet"]])
    seen: list[tuple[str, int]] = []
    file_states: set[str] = set()
    for _ in range(101):
        data = emulator.job(job_id)
        seen.append((data["state"], data["progress"]))
        file_states.update(d["state"] for d in data["details"])
        emulator.advance(1.0)
    assert {s for s, _ in seen} == {"Pending", "Importing", "Completed"}
    assert all(0 <= p <= 10 for s, p in seen if s == "Pending")
    assert 80 <= max(p for s, p in seen if s == "Importing") <= 90  # index building: 80 to 90 (section 6)
    assert ("Retry" in file_states) is profile(name).knobs.get("file_retry", False)


def test_two_phase_on_3_0(make_emulator: Callable[..., ImportEmulator]) -> None:
    emulator = started(make_emulator, "3.0", commit_duration=2.0)
    body = {"collectionName": "c", "files": [["a.parquet"]], "options": {"auto_commit": "false"}}
    job_id = post(emulator, "create", body).json()["data"]["jobId"]
    refused = post(emulator, "commit", {"jobId": job_id}).json()
    assert refused["code"] == 2100 and "expected Uncommitted" in refused["message"]
    emulator.advance(10.0)
    assert (emulator.job(job_id)["state"], emulator.job(job_id)["progress"]) == ("Uncommitted", 99)
    emulator.advance(1000.0)
    assert emulator.job(job_id)["state"] == "Uncommitted"  # waits for a commit, however long
    assert post(emulator, "commit", {"jobId": job_id}).json() == {"code": 0, "data": {}}
    assert emulator.job(job_id)["state"] == "Committing"
    assert post(emulator, "commit", {"jobId": job_id}).json()["code"] == 0  # Committing counts as success
    emulator.advance(2.0)
    assert (emulator.job(job_id)["state"], emulator.job(job_id)["progress"]) == ("Completed", 100)
    assert post(emulator, "commit", {"jobId": "abc"}).json()["code"] == 1100
    other = post(emulator, "create", body).json()["data"]["jobId"]
    assert post(emulator, "abort", {"jobId": other}).json() == {"code": 0, "data": {}}
    assert emulator.job(other)["state"] == "Failed"
    auto = post(emulator, "create", {"collectionName": "c", "files": [["a.parquet"]]}).json()["data"]["jobId"]
    emulator.advance(10.0)
    assert emulator.job(auto)["state"] == "Completed"  # auto_commit defaults to "true"


@pytest.mark.parametrize("name", [n for n, p in PROFILES.items() if p.mode == "cloud"])
def test_cloud_progress_routes(make_emulator: Callable[..., ImportEmulator], name: str) -> None:
    emulator = started(make_emulator, name, cluster_ids=None)
    job_id = emulator.create_job("c", [["s3://b/1.parquet"]], cluster_id="in01-x")
    body = {"clusterId": "in01-x", "jobId": job_id}
    statuses = {route: post(emulator, route, body).status_code for route in ("getProgress", "describe")}
    expected = {"cloud-getProgress": (200, 404), "cloud-describe": (404, 200), "cloud-both": (200, 200)}[name]
    assert (statuses["getProgress"], statuses["describe"]) == expected


@pytest.mark.parametrize("name", REST_PROFILES)
def test_idempotency_key_per_release(make_emulator: Callable[..., ImportEmulator], name: str) -> None:
    """2.6.24 and 3.0.2 answer a repeated key (same collection, within ~24 h) with the first job; others ignore it."""
    emulator = started(make_emulator, name)
    honoured = name in ("2.6.24", "3.0.2")

    def create(collection: str, key: str) -> str:
        body = {"collectionName": collection, "files": [["a.parquet"]]}
        return str(post(emulator, "create", body, headers={"Idempotency-Key": key}).json()["data"]["jobId"])

    first = create("c", "k1")
    assert (create("c", "k1") == first) is honoured
    assert create("c", "k2") != first and create("other", "k1") != first
    emulator.advance(IDEMPOTENCY_TTL + 1)
    assert create("c", "k1") != first
    assert emulator.server_version.startswith("v") and emulator.idempotency is honoured
