"""Hypothesis: random answers to the three parsers and random connection fields to ``parse_settings``.

Properties, for every input:

- nothing escapes but a :class:`MilvusImportError` (the documented failure);
- no answer parses to a succeeded state unless the raw answer said Completed. The parsers' exact rule:
  REST v2 / Zilliz Cloud: ``data.state == "Completed"``, or, in the older cloud shape (no ``state``; a
  ``readyPercentage`` or ``errorMessage`` key), ``readyPercentage == 1`` with no ``errorMessage``/``reason``;
  gRPC: the raw ``ImportState`` is 6, with an OK call and a zero status;
- a parsed state is a valid BulkInsertState whose XCom form round-trips;
- settings never show a secret in ``repr``.

The bugs these properties found (B1-B4, B6, B10 in RELIABILITY.md, fixed in 29f28c5) keep their minimal
regression tests at the end of this file.
"""

from __future__ import annotations

import contextlib
import json
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from airflow_provider_milvus import BulkInsertState
from airflow_provider_milvus.exceptions import MilvusImportConfigError, MilvusImportError
from airflow_provider_milvus.proto import milvus_import_pb2 as pb
from airflow_provider_milvus.protocol.base import GrpcResponse, HttpResponse
from airflow_provider_milvus.protocol.cloud import CloudProtocol
from airflow_provider_milvus.protocol.grpc import GrpcProtocol
from airflow_provider_milvus.protocol.rest import RestProtocol
from airflow_provider_milvus.settings import EXTRA_KEYS, parse_settings
from airflow_provider_milvus.transport.driver import run_sync
from tests.reliability.tally import TALLY

JOB = "448761313698322011"
CLOUD_JOB = "job-01fa0e5d42cjxudhpuehyp"
FAST = settings(max_examples=250, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
MEDIUM = settings(max_examples=120, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


def outcome(parser: str, run: Any) -> BulkInsertState | list[BulkInsertState] | None:
    """Run ``run()``; a MilvusImportError gives None, anything else fails the test."""
    TALLY.property_examples[parser] += 1
    try:
        return run()  # type: ignore[no-any-return]
    except MilvusImportError:
        return None


def check_state(state: BulkInsertState) -> None:
    """A parsed state is valid and its XCom form round-trips."""
    assert isinstance(state.task_id, str)
    assert 0 <= state.progress <= 100
    data = state.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert BulkInsertState.from_dict(data) == state


# --------------------------------------------------------------------------- strategies

JSON_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
)
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
STATE_NAMES = st.sampled_from(
    ["Completed", "Failed", "Pending", "Importing", "Uncommitted", "Committing", "None", "completed", "Completed ", ""]
)
NUMBERISH = (
    st.integers(min_value=-5, max_value=200)
    | st.floats(min_value=-1, max_value=101)
    | st.sampled_from(
        [0, 1, 1.0, 0.999, 100, 100.0, "100", "1", "0.5", "nan", "inf", "1e999", "\u00b2", "\u0661\u0660\u0660"]
    )
)
PROGRESS_KEYS = {
    "jobId": st.sampled_from([JOB, CLOUD_JOB, "", " 7 "]) | st.integers() | st.floats() | JSON_LEAVES,
    "jobID": st.sampled_from([JOB, ""]) | JSON_LEAVES,
    "collectionName": st.text(max_size=10) | JSON_LEAVES,
    "state": STATE_NAMES | JSON_LEAVES,
    "progress": NUMBERISH | JSON_LEAVES,
    "readyPercentage": NUMBERISH | JSON_LEAVES,
    "errorMessage": st.none() | st.sampled_from(["", "bad file"]) | JSON_LEAVES,
    "reason": st.none() | st.sampled_from(["", "bad file"]) | JSON_LEAVES,
    "importedRows": NUMBERISH | st.integers(min_value=0, max_value=2**64) | JSON_LEAVES,
    "totalRows": NUMBERISH | JSON_LEAVES,
    "fileSize": NUMBERISH | JSON_LEAVES,
    "createTime": st.sampled_from(["2024-04-01T06:17:55Z", "1711952275", "1711952275000", "0001-01-01T00:00:00"])
    | st.text(alphabet="0123456789-:TZ+.²", max_size=25)
    | JSON_LEAVES,
    "completeTime": st.text(max_size=25) | JSON_LEAVES,
    "fileName": st.text(max_size=30) | JSON_LEAVES,
    "details": st.lists(
        st.dictionaries(
            st.sampled_from(
                [
                    "fileName",
                    "fileSize",
                    "state",
                    "progress",
                    "readyPercentage",
                    "importedRows",
                    "totalRows",
                    "reason",
                    "errorMessage",
                    "completeTime",
                ]
            ),
            NUMBERISH | JSON_LEAVES,
            max_size=6,
        )
        | JSON_LEAVES,
        max_size=3,
    )
    | JSON_LEAVES,
}


@st.composite
def progress_data(draw: st.DrawFn) -> dict[str, Any]:
    """A ``data`` object with a random subset of the real keys, each with a random-typed value."""
    keys = draw(st.lists(st.sampled_from(sorted(PROGRESS_KEYS)), unique=True, max_size=len(PROGRESS_KEYS)))
    data = {key: draw(PROGRESS_KEYS[key]) for key in keys}
    if draw(st.booleans()):
        data.update(draw(st.dictionaries(st.text(max_size=6), JSON_LEAVES, max_size=2)))
    return data


CODES = st.sampled_from([0, 200, "0", " 0 ", 1800, 2100, 1807, 4, 21119, 90011]) | JSON_LEAVES


@st.composite
def envelopes(draw: st.DrawFn) -> Any:
    """A JSON answer: usually the real envelope with a random ``data``, sometimes anything at all."""
    kind = draw(st.sampled_from(["envelope", "envelope", "envelope", "any"]))
    if kind == "any":
        return draw(JSON_VALUES)
    envelope: dict[str, Any] = {}
    if draw(st.integers(0, 9)):
        envelope["code"] = draw(CODES)
    if draw(st.booleans()):
        envelope["message"] = draw(st.text(max_size=20) | JSON_LEAVES)
    if draw(st.integers(0, 9)):
        envelope["data"] = draw(progress_data() | JSON_VALUES)
    return envelope


def encode(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True).encode()


STATUSES = st.sampled_from([200, 200, 200, 200, 404, 401, 403, 408, 429, 500, 502, 503, 504, 301, 400]) | st.integers(
    100, 599
)
HEADERS = st.dictionaries(
    st.sampled_from(["retry-after", "content-type", "x-other"]),
    st.sampled_from(["0", "7", "-1", "²", "Wed, 21 Oct 2015 07:28:00 GMT", "soon", ""]) | st.text(max_size=10),
    max_size=2,
)
BODIES = envelopes().map(encode) | st.binary(max_size=200) | st.sampled_from([b"", b"<html>502</html>", b"[" * 5000])


@st.composite
def http_answers(draw: st.DrawFn) -> HttpResponse:
    return HttpResponse(status=draw(STATUSES), body=draw(BODIES), headers=draw(HEADERS))


def drive_http(operation: Any, answers: list[HttpResponse]) -> Any:
    queue = list(answers)
    return run_sync(operation, lambda request: queue.pop(0) if len(queue) > 1 else queue[0])


# --------------------------------------------------------------------------- the raw-Completed rules


def rest_said_completed(answers: list[HttpResponse]) -> bool:
    """The REST/Cloud rule, applied to the answer the parser ended on (after a describe 404 fallback)."""
    for response in answers:
        if response.status != 200:
            continue  # a 404 on describe moves on to the next answer; any other status raises
        try:
            payload = json.loads(response.body)
        except (ValueError, RecursionError):
            return False
        if not isinstance(payload, dict) or not isinstance(payload.get("data"), dict):
            return False
        data = payload["data"]
        state = data.get("state")
        if isinstance(state, str) and state:
            return state == "Completed"
        legacy = "readyPercentage" in data or "errorMessage" in data
        ready = data.get("readyPercentage")
        if isinstance(ready, str):
            try:
                ready = float(ready)
            except ValueError:
                return False
        no_error = not data.get("errorMessage") and not data.get("reason")
        return legacy and no_error and isinstance(ready, int | float) and not isinstance(ready, bool) and ready == 1
    return False


def grpc_said_completed(response: GrpcResponse) -> bool:
    if response.code != "OK":
        return False
    message = pb.GetImportStateResponse()
    message.ParseFromString(response.body)
    return message.state == 6 and message.status.code == 0 and message.status.error_code == 0


# --------------------------------------------------------------------------- REST v2 and Zilliz Cloud


def rest_protocol() -> RestProtocol:
    return RestProtocol("http://milvus.test:19530", token="root:Milvus", db_name="analytics")


def cloud_protocol() -> CloudProtocol:
    return CloudProtocol("https://api.cloud.zilliz.test", api_key="sk-test", cluster_id="in03-abc")


def check_rest_like(parser: str, answers: list[HttpResponse], state: BulkInsertState | None) -> None:
    if state is None:
        return
    check_state(state)
    if state.succeeded:
        assert rest_said_completed(answers), f"{parser}: a false success from {answers}"
    if parser == "rest":
        assert answers[0].status in (200, 404)


@FAST
@given(answers=st.lists(http_answers(), min_size=1, max_size=2))
@example(
    answers=[HttpResponse(200, b'{"code": 0, "data": {"state": "Completed", "createTime": "449000000000000000000"}}')]
)
@example(answers=[HttpResponse(429, b"", {"retry-after": "\u00b2"})])
@example(answers=[HttpResponse(200, b"[" * 100_000)])
def test_rest_parser_never_crashes_nor_invents_success(answers: list[HttpResponse]) -> None:
    state = outcome(
        "REST describe (random HTTP answers)", lambda: drive_http(rest_protocol().get_import_state(JOB), answers)
    )
    check_rest_like("rest", answers, state)  # type: ignore[arg-type]


@FAST
@given(data=progress_data())
@example(data={"readyPercentage": 1, "errorMessage": None})
@example(data={"readyPercentage": 0.999, "errorMessage": None})
@example(data={"readyPercentage": 1, "errorMessage": "bad file"})
@example(data={"state": "Completed ", "progress": 100})
def test_rest_progress_data_follows_the_completed_rule(data: dict[str, Any]) -> None:
    answers = [HttpResponse(200, encode({"code": 0, "data": data}))]
    state = outcome(
        "REST describe (real keys, random types)", lambda: drive_http(rest_protocol().get_import_state(JOB), answers)
    )
    check_rest_like("rest", answers, state)  # type: ignore[arg-type]


@FAST
@given(answers=st.lists(http_answers(), min_size=1, max_size=1), data=progress_data())
def test_cloud_parser_never_crashes_nor_invents_success(answers: list[HttpResponse], data: dict[str, Any]) -> None:
    if answers[0].status == 200:  # a 200 answer carries the real keys with random-typed values
        answers = [HttpResponse(200, encode({"code": 0, "data": data}))]
    state = outcome(
        "Zilliz Cloud getProgress", lambda: drive_http(cloud_protocol().get_import_state(CLOUD_JOB), answers)
    )
    check_rest_like("cloud", answers, state)  # type: ignore[arg-type]


@MEDIUM
@given(records=st.lists(progress_data() | JSON_LEAVES, max_size=4), count=NUMBERISH | JSON_LEAVES)
def test_rest_list_never_crashes(records: list[Any], count: Any) -> None:
    answers = [HttpResponse(200, encode({"code": 0, "data": {"records": records, "count": count}}))]
    states = outcome("REST list (records)", lambda: drive_http(rest_protocol().list_import_states(), answers))
    for state in states or []:  # type: ignore[union-attr]
        check_state(state)


# --------------------------------------------------------------------------- gRPC

GRPC_CODES = st.sampled_from(
    ["OK", "OK", "OK", "OK", "UNAVAILABLE", "DEADLINE_EXCEEDED", "UNAUTHENTICATED", "NOT_FOUND", "INTERNAL", "UNKNOWN"]
)
INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
INFO_KEYS = st.sampled_from(["progress_percent", "failed_reason", "files", "collection", "partition", "persist_cost"])
INFO_VALUES = st.sampled_from(
    ["100", "0", "50", "-1", "101", "nan", "inf", "1e999", "12.5", "²", " 7 ", "", "a,b"]
) | st.text(max_size=12)


@st.composite
def grpc_states(draw: st.DrawFn) -> pb.GetImportStateResponse:
    status = pb.Status(
        error_code=draw(st.sampled_from([0, 0, 0, 1, 2, 49]) | st.integers(-(2**31), 2**31 - 1)),
        code=draw(st.sampled_from([0, 0, 0, 2, 4, 65535]) | st.integers(-(2**31), 2**31 - 1)),
        reason=draw(st.text(max_size=15)),
        retriable=draw(st.booleans()),
    )
    return pb.GetImportStateResponse(
        status=status,
        state=draw(st.sampled_from([0, 1, 2, 5, 6, 6, 6, 7, 8]) | st.integers(-(2**31), 2**31 - 1)),
        row_count=draw(INT64),
        id_list=draw(st.lists(INT64, max_size=4)),
        infos=[
            pb.KeyValuePair(key=k, value=v)
            for k, v in draw(st.dictionaries(INFO_KEYS, INFO_VALUES, max_size=4)).items()
        ],
        id=draw(INT64),
        create_ts=draw(st.sampled_from([0, 1711952275, -5]) | INT64),
    )


@st.composite
def grpc_answers(draw: st.DrawFn) -> GrpcResponse:
    code = draw(GRPC_CODES)
    if code != "OK":
        return GrpcResponse(code=code, details=draw(st.text(max_size=20)))
    body = draw(grpc_states().map(lambda m: m.SerializeToString()) | st.binary(max_size=60))
    return GrpcResponse(code="OK", body=body)


@FAST
@given(answer=grpc_answers())
@example(
    answer=GrpcResponse("OK", pb.GetImportStateResponse(state=6, create_ts=449000000000000000).SerializeToString())
)
@example(
    answer=GrpcResponse(
        "OK",
        pb.GetImportStateResponse(
            state=2, infos=[pb.KeyValuePair(key="progress_percent", value="inf")]
        ).SerializeToString(),
    )
)
def test_grpc_parser_never_crashes_nor_invents_success(answer: GrpcResponse) -> None:
    protocol = GrpcProtocol("milvus.test:19530", token="root:Milvus")
    state = outcome("gRPC GetImportState", lambda: run_sync(protocol.get_import_state(JOB), lambda request: answer))
    if state is None:
        return
    check_state(state)  # type: ignore[arg-type]
    if state.succeeded:  # type: ignore[union-attr]
        assert grpc_said_completed(answer), f"a false success from {answer}"
    try:
        said = grpc_said_completed(answer)
    except Exception:  # an unparsable body cannot have said anything
        said = False
    assert state.succeeded == said  # type: ignore[union-attr]


@MEDIUM
@given(tasks=st.lists(grpc_states(), max_size=4), status_code=st.sampled_from([0, 0, 0, 5]))
def test_grpc_list_entries_succeed_only_on_state_6(tasks: list[pb.GetImportStateResponse], status_code: int) -> None:
    """The shared poller takes gRPC list entries as full states: the same rule must hold for each entry."""
    message = pb.ListImportTasksResponse(status=pb.Status(code=status_code), tasks=tasks)
    answer = GrpcResponse("OK", message.SerializeToString())
    protocol = GrpcProtocol("milvus.test:19530")
    states = outcome("gRPC ListImportTasks", lambda: run_sync(protocol.list_import_states(), lambda request: answer))
    if states is None:
        return
    assert status_code == 0
    for task, state in zip(tasks, states, strict=True):  # type: ignore[arg-type]
        check_state(state)
        assert state.succeeded == (task.state == 6)


# --------------------------------------------------------------------------- connection fields

SECRETS = st.from_regex(r"\ASECRET[A-Za-z0-9]{6}\Z", fullmatch=True)
HOSTS = (
    st.sampled_from(
        [
            "http://milvus:19530",
            "https://in01-x.zillizcloud.com",
            "milvus",
            "milvus:19531",
            "[::1]:19530",
            "http://[::1",
            "grpcs://m:443",
            "ftp://m",
            "http://m/db",
            "",
            "  ",
            "http://:1",
            "http://m:99999",
            "tcp://10.0.0.5",
        ]
    )
    | st.text(max_size=25)
    | st.none()
    | st.integers()
)
PORTS = st.none() | st.integers(-5, 70000) | st.sampled_from(["19530", " 1 ", "abc", "", "1e3", True]) | st.floats()
EXTRA_VALUES = (
    st.none()
    | st.booleans()
    | st.integers(-(10**400), 10**400)
    | st.floats()
    | st.text(max_size=15)
    | st.sampled_from(["rest", "grpc", "cloud", "auto", "REST", "https://api.cloud.zilliz.com", "https://[::1", "yes"])
)


@st.composite
def connection_fields(draw: st.DrawFn) -> tuple[dict[str, Any], set[str]]:
    token, password, api_key = draw(SECRETS), draw(SECRETS), draw(SECRETS)
    keys = draw(st.lists(st.sampled_from(list(EXTRA_KEYS)), unique=True, max_size=6))
    extra: dict[str, Any] = {}
    for key in keys:
        name = key if draw(st.booleans()) else f"extra__milvus__{key}"
        extra[name] = draw(EXTRA_VALUES)
    if draw(st.booleans()):
        extra["token"] = token
    if draw(st.booleans()):
        extra["cloud_api_key"] = api_key
    extra.pop("server_ca", None)
    extra.pop("extra__milvus__server_ca", None)  # a random path would be an (allowed) file-system probe
    fields = {
        "host": draw(HOSTS),
        "port": draw(PORTS),
        "login": draw(st.none() | st.sampled_from(["root", "user"]) | st.integers()),
        "password": draw(st.none() | st.just(password)),
        "schema": draw(st.none() | st.text(max_size=8)),
        "extra": extra,
    }
    return fields, {token, password, api_key}


@settings(max_examples=400, deadline=None, database=None)
@given(case=connection_fields())
@example(case=({"host": "milvus", "port": float("inf"), "extra": {}}, set()))
@example(case=({"host": "milvus", "extra": {"timeout": 10**400}}, set()))
@example(
    case=(
        {
            "host": "",
            "extra": {
                "protocol": "cloud",
                "cloud_api_key": "k",
                "cloud_cluster_id": "c",
                "cloud_endpoint": "https://[::1",
            },
        },
        set(),
    )
)
def test_parse_settings_never_crashes_and_hides_secrets(case: tuple[dict[str, Any], set[str]]) -> None:
    fields, secrets = case
    TALLY.property_examples["parse_settings"] += 1
    try:
        result = parse_settings(**fields)
    except MilvusImportConfigError as error:
        assert not any(secret in str(error) for secret in secrets)
        return
    assert result.protocol in ("auto", "grpc", "rest", "cloud")
    assert 0 < result.port < 65536 and 0 < result.timeout <= 86400 and not math.isnan(result.timeout)
    assert not any(secret in repr(result) for secret in secrets)
    assert result.host and not any(c.isspace() for c in result.host)


# --------------------------------------------------------------------------- regression tests for the bugs found


def _rest_answer(data: dict[str, Any]) -> HttpResponse:
    return HttpResponse(200, encode({"code": 0, "data": data}))


def test_bug_b1_rest_huge_create_time_is_an_invalid_answer() -> None:
    answer = _rest_answer({"jobId": JOB, "state": "Importing", "progress": 5, "createTime": "449000000000000000000"})
    with contextlib.suppress(MilvusImportError):  # parse it (createTime unreadable: 0) or call the answer invalid
        drive_http(rest_protocol().get_import_state(JOB), [answer])


def test_bug_b1_grpc_hybrid_create_ts_is_not_a_crash() -> None:
    message = pb.GetImportStateResponse(state=2, create_ts=449_000_000_000_000_000)  # a TSO, not seconds
    answer = GrpcResponse("OK", message.SerializeToString())
    with contextlib.suppress(MilvusImportError):
        run_sync(GrpcProtocol("m:19530").get_import_state(JOB), lambda request: answer)


@pytest.mark.parametrize(
    "case",
    [
        "job-id",
        "importedRows",
        "code",
        "retry-after",
        "createTime",
    ],
)
def test_bug_b2_unicode_digits(case: str) -> None:
    try:
        if case == "job-id":
            run_sync(rest_protocol().get_import_state("\u00b2"), lambda request: HttpResponse(200, b"{}"))
        elif case == "importedRows":
            drive_http(
                rest_protocol().get_import_state(JOB), [_rest_answer({"state": "Importing", "importedRows": "\u00b2"})]
            )
        elif case == "code":
            drive_http(
                rest_protocol().get_import_state(JOB), [HttpResponse(200, encode({"code": "\u00b2", "data": {}}))]
            )
        elif case == "retry-after":
            drive_http(rest_protocol().get_import_state(JOB), [HttpResponse(429, b"", {"retry-after": "\u00b2"})])
        else:
            drive_http(
                rest_protocol().get_import_state(JOB),
                [_rest_answer({"state": "Pending", "createTime": "\u0661\u0662\u00b2"})],
            )
    except MilvusImportError:
        pass


@pytest.mark.parametrize("value", ["inf", "1e999", "-inf"])
def test_bug_b3_grpc_infinite_progress_is_an_invalid_answer(value: str) -> None:
    message = pb.GetImportStateResponse(state=2, infos=[pb.KeyValuePair(key="progress_percent", value=value)])
    with pytest.raises(MilvusImportError, match="progress_percent"):
        run_sync(
            GrpcProtocol("m:19530").get_import_state(JOB),
            lambda request: GrpcResponse("OK", message.SerializeToString()),
        )


def test_bug_b4_deeply_nested_json_is_an_invalid_answer() -> None:
    with pytest.raises(MilvusImportError, match="nested too deeply"):
        drive_http(rest_protocol().get_import_state(JOB), [HttpResponse(200, b"[" * 100_000)])


@pytest.mark.parametrize(
    "fields",
    [
        {"host": "milvus", "port": float("inf")},
        {"host": "milvus", "extra": {"timeout": 10**400}},
        {
            "host": "",
            "extra": {
                "protocol": "cloud",
                "cloud_api_key": "k",
                "cloud_cluster_id": "c",
                "cloud_endpoint": "https://[::1",
            },
        },
    ],
    ids=["port-inf", "timeout-huge-int", "cloud-endpoint-bad-ipv6"],
)
def test_bug_b6_settings_errors_are_config_errors(fields: dict[str, Any]) -> None:
    with pytest.raises(MilvusImportConfigError):
        parse_settings(**fields)


@pytest.mark.parametrize(
    "data",
    [{"errorMessage": None, "progress": 100}, {"readyPercentage": 0.5, "progress": 100}],
    ids=["no-readyPercentage", "readyPercentage-half"],
)
def test_bug_b10_legacy_shape_success_needs_ready_percentage_1(data: dict[str, Any]) -> None:
    """The older cloud shape says Completed only with readyPercentage 1; a stray 'progress' must not."""
    state = drive_http(cloud_protocol().get_import_state(CLOUD_JOB), [_rest_answer(data)])
    assert not state.succeeded
