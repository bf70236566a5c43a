"""Bad inputs end to end: each one gives one clear MilvusImportError (or config error) that says what was wrong.

The field-level checks live in tests/test_settings.py and tests/protocol; here every bad input goes the
whole way: an ``AIRFLOW_CONN_<ID>`` connection read by the hook and by the trigger (exactly one ``error``
event), job ids and import arguments through the hook, operator and trigger, answers from a server
(the emulator or a scripted gRPC server) through the trigger, and DAG-parse-time argument checks.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_milvus import exceptions as exc
from airflow_provider_milvus.hooks.milvus_import import MilvusImportHook
from airflow_provider_milvus.operators.milvus_import import MilvusImportOperator
from airflow_provider_milvus.proto import milvus_import_pb2 as pb
from airflow_provider_milvus.sensors.milvus_import import MilvusImportSensor
from airflow_provider_milvus.triggers.milvus_import import MilvusImportTrigger
from tests.airflow_context import make_context
from tests.emulator.server import ImportEmulator
from tests.reliability import fake_grpc
from tests.reliability.fake_grpc import FakeMilvusGrpc
from tests.reliability.support import POLL, cloud_conn, events_of, rest_conn, running_job, set_conn, until
from tests.reliability.tally import TALLY

FOREVER = 10**6


@pytest.fixture(autouse=True)
def _count_bad_input() -> None:
    """Every test here tries one bad input (the few that try several add the rest themselves)."""
    TALLY.bad_input_cases += 1


def clear(category: str, message: str, expected: str) -> None:
    """Count one bad input; assert the error says what was wrong."""
    TALLY.bad_inputs[category] += 1
    ok = expected.lower() in message.lower()
    TALLY.bad_inputs_clear += int(ok)
    assert ok, f"the error does not say {expected!r}: {message}"


async def one_error_event(trigger: MilvusImportTrigger, timeout: float = 20.0) -> dict[str, Any]:
    """The trigger's single event, which must be an error."""
    events = await events_of(trigger, timeout)
    assert len(events) == 1, events
    assert events[0]["status"] == "error", events[0]
    return events[0]


# --------------------------------------------------------------------------- bad connections


def _cloud(**extra: Any) -> dict[str, Any]:
    return {"host": "", "extra": {"protocol": "cloud", **extra}}


BAD_CONNECTIONS: dict[str, tuple[dict[str, Any], str]] = {
    "no-host": ({"extra": {"protocol": "rest"}}, "has no host"),
    "blank-host": ({"host": "   ", "extra": {"protocol": "grpc"}}, "has no host"),
    "scheme-ftp": ({"host": "ftp://milvus:19530"}, "scheme 'ftp'"),
    "scheme-unix": ({"host": "unix:///var/run/milvus.sock"}, "scheme 'unix'"),
    "host-with-path": ({"host": "http://milvus:19530/analytics"}, "must not carry a path"),
    "host-without-name": ({"host": "http://:19530"}, "no host name"),
    "host-with-space": ({"host": "http://mil vus:19530"}, "white space"),
    "port-out-of-range": ({"host": "milvus", "port": 70000}, "between 1 and 65535"),
    "uri-port-out-of-range": ({"host": "http://milvus:99999"}, "not a valid URI"),
    "unknown-protocol": ({"host": "http://milvus:19530", "extra": {"protocol": "soap"}}, "'protocol' is 'soap'"),
    "protocol-not-a-string": ({"host": "http://milvus:19530", "extra": {"protocol": 5}}, "'protocol' must be a string"),
    "cloud-without-cluster-id": (_cloud(cloud_api_key="k-123"), "cloud_cluster_id"),
    "cloud-without-api-key": (_cloud(cloud_cluster_id="in03-abc"), "cloud_api_key"),
    "cloud-without-either": (_cloud(), "cloud_api_key and cloud_cluster_id"),
    "cloud-endpoint-without-scheme": (
        _cloud(cloud_api_key="k", cloud_cluster_id="c", cloud_endpoint="api.cloud.zilliz.com"),
        "cloud_endpoint",
    ),
    "cluster-id-not-a-string": (_cloud(cloud_api_key="k", cloud_cluster_id=42), "'cloud_cluster_id' must be a string"),
    "token-not-a-string": ({"host": "http://milvus:19530", "extra": {"token": 12345}}, "'token' must be a string"),
    "db-name-not-a-string": ({"host": "http://milvus:19530", "extra": {"db_name": ["a"]}}, "'db_name' must be"),
    "secure-maybe": ({"host": "milvus", "extra": {"secure": "maybe"}}, "'secure' must be true or false"),
    "timeout-words": ({"host": "milvus", "extra": {"timeout": "soon"}}, "'timeout' must be a number"),
    "timeout-zero": ({"host": "milvus", "extra": {"timeout": 0}}, "'timeout' must be between"),
    "timeout-negative": ({"host": "milvus", "extra": {"timeout": -5}}, "'timeout' must be between"),
    "server-ca-missing": ({"host": "https://milvus", "extra": {"server_ca": "/nonexistent/ca.pem"}}, "server_ca"),
}


@pytest.mark.parametrize("name", list(BAD_CONNECTIONS))
async def test_bad_connection_is_one_clear_error(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    fields, expected = BAD_CONNECTIONS[name]
    conn = set_conn(monkeypatch, "rel_bad_conn", **fields)
    with pytest.raises(exc.MilvusImportConfigError) as caught:
        MilvusImportHook(conn).get_settings()
    assert "connection 'rel_bad_conn'" in str(caught.value)
    clear("connection (hook)", str(caught.value), expected)
    with pytest.raises(exc.MilvusImportConfigError):
        await MilvusImportHook(conn).aget_settings()
    event = await one_error_event(MilvusImportTrigger(job_id="1", milvus_conn_id=conn, poll_interval=POLL))
    assert event["state"] is None
    clear("connection (trigger)", event["message"], expected)


async def test_missing_connection_is_one_clear_error() -> None:
    event = await one_error_event(MilvusImportTrigger(job_id="1", milvus_conn_id="rel_not_defined"))
    clear("connection (trigger)", event["message"], "rel_not_defined")


@pytest.mark.parametrize("extra", [["token"], [["protocol", "soap"]]], ids=["list", "list-of-pairs"])
def test_extra_that_is_not_an_object_is_named(extra: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A JSON list as the extra must be refused as 'extra must be a JSON object', not crash or be read as pairs."""
    conn = set_conn(monkeypatch, "rel_bad_extra", host="http://milvus:19530", extra=extra)
    with pytest.raises(exc.MilvusImportConfigError) as caught:
        MilvusImportHook(conn).get_settings()
    clear("connection (hook)", str(caught.value), "extra must be a JSON object")


# --------------------------------------------------------------------------- bad job ids


BAD_REST_JOB_IDS: dict[str, tuple[Any, str, str]] = {
    # name: (job id, what the hook says, what the trigger says: it holds the id as a string)
    "empty": ("", "job id is empty", "job id is empty"),
    "whitespace": ("   ", "job id is empty", "job id is empty"),
    "cloud-id-on-rest": (
        "job-01fa0e5d42cjxudhpuehyp",
        "is not a Milvus job id",
        "need the connection protocol 'cloud'",
    ),
    "letters": ("12a", "is not a Milvus job id", "is not a Milvus job id"),
    "negative": ("-5", "is not a Milvus job id", "is not a Milvus job id"),
    "decimal": ("4.5e17", "is not a Milvus job id", "is not a Milvus job id"),
    "beyond-int64": ("99999999999999999999", "is not a Milvus job id", "is not a Milvus job id"),
    "none-rendered": (None, "job id must be a string, got NoneType", "'None' is not a Milvus job id"),
}


@pytest.mark.parametrize("name", list(BAD_REST_JOB_IDS))
async def test_bad_job_id_over_rest(
    name: str, make_emulator: Callable[..., ImportEmulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id, hook_says, trigger_says = BAD_REST_JOB_IDS[name]
    emulator = make_emulator(mode="rest", speed=0)
    conn = rest_conn(monkeypatch, emulator)
    with pytest.raises(exc.MilvusImportConfigError) as caught:
        MilvusImportHook(conn).get_import_state(job_id)
    clear("job id (hook)", str(caught.value), hook_says)
    event = await one_error_event(MilvusImportTrigger(job_id=job_id, milvus_conn_id=conn, poll_interval=POLL))
    clear("job id (trigger)", event["message"], trigger_says)
    assert emulator.request_count("describe") == 0, "a bad id must be refused before it is sent"


@pytest.mark.parametrize("job_id", ["job-01fa0e5d42cjxudhpuehyp", "", "0x1F", "1 2"])
async def test_bad_job_id_over_grpc(job_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    server = FakeMilvusGrpc().start()
    try:
        conn = set_conn(monkeypatch, "rel_bad_grpc", host=f"http://{server.target}", extra={"protocol": "grpc"})
        with pytest.raises(exc.MilvusImportConfigError) as caught:
            MilvusImportHook(conn).get_import_state(job_id)
        expected = "job id is empty" if not job_id else "Milvus gRPC ids are integers"
        clear("job id (hook)", str(caught.value), expected)
        event = await one_error_event(MilvusImportTrigger(job_id=job_id, milvus_conn_id=conn, poll_interval=POLL))
        clear("job id (trigger)", event["message"], "job id")
        assert server.count("GetImportState") == 0
    finally:
        server.stop()


@pytest.mark.parametrize("job_id", ["", "job with spaces", "job-\x00abc", "j" * 300])
async def test_bad_job_id_over_cloud(
    job_id: str, make_emulator: Callable[..., ImportEmulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator = make_emulator(mode="cloud", token="emulator-api-key", speed=0, rate_limit=None)
    conn = cloud_conn(monkeypatch, emulator)
    with pytest.raises(exc.MilvusImportConfigError) as caught:
        MilvusImportHook(conn).get_import_state(job_id)
    clear("job id (hook)", str(caught.value), "job id")
    event = await one_error_event(MilvusImportTrigger(job_id=job_id, milvus_conn_id=conn, poll_interval=POLL))
    clear("job id (trigger)", event["message"], "job id")
    assert emulator.request_count("getProgress") == 0


# --------------------------------------------------------------------------- bad import arguments


BAD_IMPORTS: dict[str, tuple[dict[str, Any], str]] = {
    "files-empty": ({"files": []}, "files must be a non-empty list"),
    "files-a-string": ({"files": "/data/a.parquet"}, "files must be a non-empty list"),
    "files-numbers": ({"files": [1, 2]}, "files must be a list of paths"),
    "files-mixed": ({"files": [["/a"], "/b"]}, "not a mix"),
    "files-empty-unit": ({"files": [[]]}, "non-empty list of non-empty path strings"),
    "files-blank-path": ({"files": ["  "]}, "non-empty path strings"),
    "files-none": ({"files": None}, "files must be a non-empty list"),
    "options-list": ({"options": ["bucket"]}, "options must be a dict of strings"),
    "options-int-value": ({"options": {"sep": 1}}, "'sep' has a int value"),
    "options-none-value": ({"options": {"backup": None}}, "'backup' has a NoneType value"),
    "options-int-key": ({"options": {1: "x"}}, "options must be a dict of strings"),
    "collection-blank": ({"collection_name": "  "}, "collection_name is required"),
    "collection-not-a-string": ({"collection_name": 7}, "collection_name must be a string"),
    "partition-not-a-string": ({"partition_name": 7}, "partition_name must be a string"),
    "db-not-a-string": ({"db_name": ["analytics"]}, "db_name must be a string"),
}


@pytest.mark.parametrize("name", list(BAD_IMPORTS))
def test_bad_import_arguments_through_the_hook_and_operator(
    name: str, make_emulator: Callable[..., ImportEmulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    changes, expected = BAD_IMPORTS[name]
    emulator = make_emulator(mode="rest", speed=0)
    conn = rest_conn(monkeypatch, emulator)
    args: dict[str, Any] = {"collection_name": "articles", "files": [["/data/1.parquet"]]} | changes
    with pytest.raises(exc.MilvusImportConfigError) as caught:
        MilvusImportHook(conn).start_import(**args)
    clear("import arguments (hook)", str(caught.value), expected)
    if name in ("collection-not-a-string", "partition-not-a-string"):
        return  # the operator's templated fields: Airflow renders 7 as "7" before the hook sees it
    operator = MilvusImportOperator(task_id="load", milvus_conn_id=conn, poll_interval=POLL, **args)
    with pytest.raises(exc.MilvusImportConfigError) as caught:
        operator.execute(make_context())
    clear("import arguments (operator)", str(caught.value), expected)
    assert emulator.request_count("create") == 0, "bad arguments must be refused before anything is sent"


def test_several_units_over_grpc_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    server = FakeMilvusGrpc().start()
    try:
        conn = set_conn(monkeypatch, "rel_grpc_units", host=f"http://{server.target}", extra={"protocol": "grpc"})
        with pytest.raises(exc.MilvusImportConfigError) as caught:
            MilvusImportHook(conn).start_import("articles", [["/a.json"], ["/b.json"]])
        clear("import arguments (hook)", str(caught.value), "gRPC Import takes one unit of files per job, got 2")
        assert server.count("Import") == 0
    finally:
        server.stop()


# --------------------------------------------------------------------------- bad answers, through the trigger


def body(payload: Any) -> bytes:
    return payload if isinstance(payload, bytes) else json.dumps(payload).encode()


def progress(**fields: Any) -> dict[str, Any]:
    """A describe answer; ``jobId`` is filled in by the test."""
    return {"code": 0, "data": {"collectionName": "articles", "state": "Importing", "progress": 50, **fields}}


BAD_ANSWERS: dict[str, tuple[Any, str]] = {
    "html": (b"<html><body><h1>Welcome to nginx!</h1></body></html>", "not JSON"),
    "empty": (b"", "the answer is empty"),
    "whitespace": (b"  \r\n ", "the answer is empty"),
    "truncated": (b'{"code": 0, "data": {"jobId": "4', "not JSON"),
    "invalid-json": (b"{code: 0, data: {}}", "not JSON"),
    "not-utf8": (b'{"code": 0, "data": "\xff\xfe"}', "not JSON"),
    "json-array": ([{"code": 0, "data": {}}], "a JSON list where an object was expected"),
    "json-string": ("ok", "a JSON str where an object was expected"),
    "json-null": (b"null", "a JSON NoneType where an object was expected"),
    "without-data": ({"code": 0}, "no 'data' object"),
    "data-a-list": ({"code": 0, "data": [1, 2]}, "'data' is a JSON list"),
    "without-code": ({"data": {"state": "Completed", "progress": 100}}, "no integer 'code'"),
    "code-true": ({"code": True, "data": {"state": "Completed"}}, "no integer 'code'"),
    "code-float": ({"code": 0.0, "data": {"state": "Completed"}}, "no integer 'code'"),
    "progress-words": (progress(progress="half"), "'progress' should be a number"),
    "progress-150": (progress(progress=150), "within 0..100"),
    "progress-negative": (progress(progress=-1), "within 0..100"),
    "progress-bool": (progress(progress=True), "'progress' should be a number"),
    "rows-negative": (progress(importedRows=-5), "'importedRows' should be a non-negative integer"),
    "rows-fraction": (progress(importedRows=1.5), "'importedRows' should be a non-negative integer"),
    "rows-words": (progress(totalRows="many"), "'totalRows' should be a non-negative integer"),
    "details-an-object": (progress(details={"fileName": "a"}), "'details' should be a list of objects"),
    "details-of-strings": (progress(details=["a.parquet"]), "'details' should be a list of objects"),
    "state-an-int": (progress(state=6), "'state' should be a string"),
    "state-a-list": (progress(state=["Completed"]), "'state' should be a string"),
    "reason-a-number": (progress(reason=5), "'reason' should be a string"),
    "job-id-float": (progress(jobId=4.5324086383975094e17), "a JSON float cannot hold an int64 id exactly"),
    "job-id-bool": (progress(jobId=True), "'jobId' should be a string or an integer"),
}


@pytest.mark.parametrize("name", list(BAD_ANSWERS))
async def test_bad_answer_is_a_clear_error_event(
    name: str, make_emulator: Callable[..., ImportEmulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    payload, expected = BAD_ANSWERS[name]
    emulator = make_emulator(mode="rest", speed=0, job_duration=100)
    conn = rest_conn(monkeypatch, emulator)
    job = running_job(emulator)
    emulator.inject_status(200, body=body(payload), content_type="application/json", count=FOREVER, route="describe")
    trigger = MilvusImportTrigger(job_id=job, milvus_conn_id=conn, poll_interval=POLL, max_attempts=3)
    event = await one_error_event(trigger)
    clear("server answer (trigger)", event["message"], expected)
    assert job in event["message"] and emulator.base_url in event["message"]
    with pytest.raises(exc.MilvusImportInvalidResponseError) as caught:
        MilvusImportHook(conn).get_import_state(job)
    assert caught.value.retryable
    clear("server answer (hook)", str(caught.value), expected)


def test_bad_answer_to_create_is_a_clear_error(
    make_emulator: Callable[..., ImportEmulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator = make_emulator(mode="rest", speed=0)
    conn = rest_conn(monkeypatch, emulator)
    hook = MilvusImportHook(conn)
    TALLY.bad_input_cases += 4  # five answers in this test
    for payload, expected in [
        ({"code": 0, "data": {}}, "no 'jobId' in the answer"),
        ({"code": 0, "data": {"jobId": 4.5e17}}, "a JSON float cannot hold an int64 id exactly"),
        ({"code": 0}, "no 'data' object"),
        (b"<html>502 Bad Gateway</html>", "not JSON"),
        ({"code": 1100, "message": "collection not found[collection=articles]"}, "collection not found"),
    ]:
        emulator.inject_status(200, body=body(payload), content_type="application/json", route="create")
        with pytest.raises(exc.MilvusImportError) as caught:
            hook.start_import("articles", ["/data/1.parquet"])
        clear("server answer to create (hook)", str(caught.value), expected)


async def test_oversized_answer_is_a_clear_error_event(
    make_emulator: Callable[..., ImportEmulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator = make_emulator(mode="rest", speed=0, job_duration=100)
    conn = rest_conn(monkeypatch, emulator)
    job = running_job(emulator)
    emulator.inject_oversized(17 * 1024 * 1024, count=FOREVER, route="describe")
    event = await one_error_event(
        MilvusImportTrigger(job_id=job, milvus_conn_id=conn, poll_interval=POLL, max_attempts=2)
    )
    clear("server answer (trigger)", event["message"], "larger than 16777216 bytes")


@pytest.mark.parametrize("state", ["Exploding", "completed", "COMPLETED", "Done", "", None, "Completed "])
async def test_unknown_state_names_are_unknown_and_the_wait_goes_on(
    state: Any, make_emulator: Callable[..., ImportEmulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Never a crash, never a success: the wait goes on (here until the deadline, whose event keeps the state)."""
    emulator = make_emulator(mode="rest", speed=0, job_duration=100)
    conn = rest_conn(monkeypatch, emulator)
    job = running_job(emulator)
    payload = {"code": 0, "data": {"jobId": job, "state": state, "progress": 100, "importedRows": 20000}}
    emulator.inject_status(200, body=body(payload), content_type="application/json", count=FOREVER, route="describe")
    state_read = MilvusImportHook(conn).get_import_state(job)
    assert (state_read.state, state_read.state_name, state_read.is_terminal) == (100, "Unknown", False)
    trigger = MilvusImportTrigger(
        job_id=job, milvus_conn_id=conn, poll_interval=POLL, end_time=time.time() + 0.5, coalesce=False
    )
    (event,) = await events_of(trigger)
    assert event["status"] == "timeout" and event["state"]["state_name"] == "Unknown", event
    clear("unknown state name (trigger)", event["message"], "Unknown")


@pytest.mark.parametrize("code", [3, 4, 9, 42, -1, 2**31 - 1])
async def test_unknown_grpc_state_codes_are_unknown_and_the_wait_goes_on(
    code: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = FakeMilvusGrpc(list_supported=False).start()
    try:
        conn = set_conn(monkeypatch, "rel_grpc_state", host=f"http://{server.target}", extra={"protocol": "grpc"})
        server.current = fake_grpc.state(code, progress=100, rows=10, task=server.job_id)
        read = MilvusImportHook(conn).get_import_state(str(server.job_id))
        assert (read.state, read.state_name, read.is_terminal) == (100, "Unknown", False)
        trigger = MilvusImportTrigger(job_id=str(server.job_id), milvus_conn_id=conn, poll_interval=POLL)
        task = asyncio.create_task(events_of(trigger))
        assert await until(lambda: server.count("GetImportState") >= 4 or task.done())
        assert not task.done(), "an unknown state must not end the wait"
        server.current = fake_grpc.state(6, progress=100, rows=10, task=server.job_id)
        (event,) = await task
        assert event["status"] == "success"
        server.current = fake_grpc.state(code, progress=100, rows=10, task=server.job_id)
        deadline = MilvusImportTrigger(
            job_id=str(server.job_id),
            milvus_conn_id=conn,
            poll_interval=POLL,
            end_time=time.time() + 0.5,
            coalesce=False,
        )
        (timed_out,) = await events_of(deadline)
    finally:
        server.stop()
    assert timed_out["status"] == "timeout" and timed_out["state"]["state_name"] == "Unknown", timed_out
    clear("unknown gRPC state code (trigger)", timed_out["message"], "Unknown")


@pytest.mark.parametrize(
    ("infos", "expected"),
    [
        ({"progress_percent": "abc"}, "is not a number"),
        ({"progress_percent": "150"}, "outside 0..100"),
        ({"progress_percent": "-3"}, "outside 0..100"),
        ({"progress_percent": "nan"}, "is not a number"),
    ],
)
async def test_bad_grpc_infos_are_a_clear_error_event(
    infos: dict[str, str], expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = FakeMilvusGrpc(list_supported=False).start()
    try:
        conn = set_conn(monkeypatch, "rel_grpc_infos", host=f"http://{server.target}", extra={"protocol": "grpc"})
        server.current = pb.GetImportStateResponse(
            status=pb.Status(), state=2, infos=[pb.KeyValuePair(key=k, value=v) for k, v in infos.items()]
        )
        trigger = MilvusImportTrigger(
            job_id=str(server.job_id), milvus_conn_id=conn, poll_interval=POLL, max_attempts=2
        )
        event = await one_error_event(trigger)
    finally:
        server.stop()
    clear("server answer (gRPC, trigger)", event["message"], expected)


# --------------------------------------------------------------------------- DAG-parse-time argument checks


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"poll_interval": 0}, "poll_interval"),
        ({"poll_interval": -10}, "poll_interval"),
        ({"poll_interval": float("nan")}, "poll_interval"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"stall_timeout": 0}, "stall_timeout"),
        ({"stall_timeout": -60}, "stall_timeout"),
        ({"on_stall": "explode"}, "on_stall"),
    ],
)
def test_operator_arguments_fail_at_parse_time(kwargs: dict[str, Any], expected: str) -> None:
    with pytest.raises(ValueError) as caught:
        MilvusImportOperator(task_id="load", collection_name="c", files=["/a.json"], **kwargs)
    clear("operator argument (parse time)", str(caught.value), expected)


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [({"on_stall": "explode"}, "on_stall"), ({"on_stall": ""}, "on_stall")],
)
def test_sensor_arguments_fail_at_parse_time(kwargs: dict[str, Any], expected: str) -> None:
    with pytest.raises(ValueError) as caught:
        MilvusImportSensor(task_id="gate", job_id="1", **kwargs)
    clear("sensor argument (parse time)", str(caught.value), expected)


@pytest.mark.parametrize(
    "kwargs", [{"max_attempts": 0}, {"stall_timeout": -60}], ids=["max_attempts-0", "stall_timeout-negative"]
)
def test_sensor_wait_settings_fail_at_parse_time(kwargs: dict[str, Any]) -> None:
    """The operator refuses these when the DAG is parsed; the sensor accepts them and fails only when it defers."""
    with pytest.raises(ValueError) as caught:
        MilvusImportSensor(task_id="gate", job_id="1", **kwargs)
    clear("sensor argument (parse time)", str(caught.value), next(iter(kwargs)))


def test_operator_string_poll_interval_is_named() -> None:
    with pytest.raises((TypeError, ValueError)) as caught:
        MilvusImportOperator(task_id="load", collection_name="c", files=["/a.json"], poll_interval="10")
    clear("operator argument (parse time)", str(caught.value), "poll_interval")


def test_trigger_arguments_fail_when_built() -> None:
    TALLY.bad_input_cases += 3  # four arguments in this test
    for kwargs, expected in [
        ({"poll_interval": 0}, "poll_interval"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"on_stall": "panic"}, "on_stall"),
        ({"stall_timeout": -1}, "stall_timeout"),
    ]:
        with pytest.raises(ValueError) as caught:
            MilvusImportTrigger(job_id="1", **kwargs)
        clear("trigger argument", str(caught.value), expected)
