"""No secret in any log line, message, repr, serialized trigger, XCom value or event payload.

Every test runs with the root logger, the ``airflow*`` loggers, the HTTP/gRPC libraries and Airflow's
structlog loggers at DEBUG; log records (caplog) and everything written to the process's stdout and
stderr (capfd, which also sees gRPC's C core) are scanned for the connection's password, token and cloud
API key, ``user:password`` and their base64 forms. Objects the tests produce (reprs, strs, payloads) are
scanned too. Lines scanned and secrets found are counted in the tally.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import structlog

from airflow_provider_milvus import exceptions as exc
from airflow_provider_milvus.client import AsyncMilvusImportClient, MilvusImportClient
from airflow_provider_milvus.hooks.milvus_import import MilvusImportHook
from airflow_provider_milvus.operators.milvus_import import MilvusImportOperator
from airflow_provider_milvus.protocol.cloud import CloudProtocol
from airflow_provider_milvus.protocol.grpc import GrpcProtocol
from airflow_provider_milvus.protocol.rest import RestProtocol
from airflow_provider_milvus.sensors.milvus_import import MilvusImportSensor
from airflow_provider_milvus.settings import parse_settings
from airflow_provider_milvus.triggers.milvus_import import MilvusImportTrigger
from tests.airflow_context import make_context
from tests.emulator.server import DEFAULT_CLUSTER_ID, ImportEmulator
from tests.reliability.fake_grpc import FakeMilvusGrpc
from tests.reliability.support import POLL, events_of, running_job, set_conn, until
from tests.reliability.tally import TALLY

LOGIN = "milvususer"
PASSWORD = "pw-Q7zX1-sekret-PASS"
TOKEN = "tok-9Fh2kLw-sekret-TOKEN"
API_KEY = "ak-3Jd8sPq-sekret-APIKEY"
USER_PASSWORD = f"{LOGIN}:{PASSWORD}"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


#: Bucket keys of a storage connection (``storage_conn_id``): the secret key and the session token.
BUCKET_SECRET, BUCKET_SESSION = "bk-5Vt7rQ-sekret-BUCKET", "st-8Lm2wE-sekret-SESSION"
NEEDLES = (
    PASSWORD,
    TOKEN,
    API_KEY,
    b64(USER_PASSWORD),
    b64(TOKEN),
    b64(API_KEY),
    b64(PASSWORD),
    BUCKET_SECRET,
    BUCKET_SESSION,
)
LOGGERS = (
    "airflow",
    "airflow.task",
    "airflow.triggers",
    "airflow_provider_milvus",
    "httpx",
    "httpcore",
    "urllib3",
    "requests",
    "grpc",
    "asyncio",
    "tests",
)


class Scanner:
    """Collects what a test produced and, at the end, looks for every secret in it."""

    def __init__(self, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> None:
        self.caplog = caplog
        self.capfd = capfd
        self.artifacts: list[tuple[str, str]] = []
        self.captured: list[str] = []

    def add(self, label: str, value: Any) -> None:
        """Scan ``value`` (its repr and str, or its JSON if it is data)."""
        if isinstance(value, dict | list | tuple):
            self.artifacts.append((label, json.dumps(value, default=repr)))
        self.artifacts.append((label, repr(value)))
        self.artifacts.append((label, str(value)))

    def drain(self) -> None:
        """Take what stdout/stderr received so far (tests may call it between phases)."""
        out, err = self.capfd.readouterr()
        self.captured += [out, err]

    def finish(self) -> tuple[int, list[str]]:
        """Scan everything; returns (log lines scanned, findings)."""
        self.drain()
        formatter = logging.Formatter()
        lines: list[str] = []
        records = [r for when in ("setup", "call") for r in self.caplog.get_records(when)]  # type: ignore[arg-type]
        for record in records + list(self.caplog.records):
            text = record.getMessage()
            if record.exc_info:
                text += "\n" + formatter.formatException(record.exc_info)
            lines += text.splitlines() or [""]
        for chunk in self.captured:
            lines += chunk.splitlines()
        findings = [f"log: {line[:200]}" for line in lines if any(n in line for n in NEEDLES)]
        for label, text in self.artifacts:
            if any(n in text for n in NEEDLES):
                findings.append(f"{label}: {text[:200]}")
        return len(lines), findings


@pytest.fixture
def scan(caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> Iterator[Scanner]:
    """Everything at DEBUG for the test; afterwards count the lines and assert no secret showed."""
    saved = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    caplog.set_level(logging.DEBUG)
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    scanner = Scanner(caplog, capfd)
    try:
        yield scanner
    finally:
        structlog.configure(**saved)
    lines, findings = scanner.finish()
    TALLY.secret_checks += 1
    TALLY.log_lines_scanned += lines
    TALLY.secrets_found += len(findings)
    assert lines > 0, "nothing was logged: the capture is not working"
    assert not findings, "secrets found:\n" + "\n".join(findings)


def password_conn(monkeypatch: pytest.MonkeyPatch, emulator: ImportEmulator, conn_id: str = "rel_sec_pw") -> str:
    return set_conn(
        monkeypatch,
        conn_id,
        host=emulator.base_url,
        login=LOGIN,
        password=PASSWORD,
        extra={"protocol": "rest", "timeout": 0.5},
    )


def token_conn(monkeypatch: pytest.MonkeyPatch, emulator: ImportEmulator, token: str = TOKEN) -> str:
    return set_conn(
        monkeypatch,
        "rel_sec_tok",
        host=emulator.base_url,
        password=PASSWORD,
        extra={"protocol": "rest", "token": token, "timeout": 0.5},
    )


def cloud_conn(monkeypatch: pytest.MonkeyPatch, emulator: ImportEmulator, key: str = API_KEY) -> str:
    return set_conn(
        monkeypatch,
        "rel_sec_cloud",
        password=PASSWORD,
        extra={
            "protocol": "cloud",
            "cloud_endpoint": emulator.base_url,
            "cloud_api_key": key,
            "cloud_cluster_id": DEFAULT_CLUSTER_ID,
            "token": TOKEN,
            "timeout": 0.5,
        },
    )


# --------------------------------------------------------------------------- the scanner itself


def test_the_scanner_finds_a_planted_secret(
    caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    """Control: a secret written to a log, to stdout or into an object is found."""
    caplog.set_level(logging.DEBUG)
    scanner = Scanner(caplog, capfd)
    logging.getLogger("tests.reliability.planted").debug("connecting with %s", b64(USER_PASSWORD))
    structlog.get_logger("tests.reliability.planted").warning("token %s", TOKEN)
    scanner.add("object", {"key": API_KEY})
    lines, findings = scanner.finish()
    assert lines >= 2 and len(findings) >= 3, findings


# --------------------------------------------------------------------------- clients


@pytest.mark.parametrize("credential", ["password", "token"])
def test_sync_client_rest(
    credential: str, scan: Scanner, make_emulator: Callable[..., ImportEmulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = USER_PASSWORD if credential == "password" else TOKEN
    emulator = make_emulator(mode="rest", speed=0, token=secret)
    conn = password_conn(monkeypatch, emulator) if credential == "password" else token_conn(monkeypatch, emulator)
    hook = MilvusImportHook(conn)
    client = hook.get_conn()
    job = hook.start_import("articles", [["/data/1.parquet"]], options={"sep": ","})
    state = hook.get_import_state(job)
    states = hook.list_import_states("articles")
    assert emulator.requests[-1].header("Authorization") == f"Bearer {secret}"  # it was sent, just never shown
    protocol = client.protocol
    request = protocol.get_import_state(job)
    scan.add("settings", client.settings)
    scan.add("client", client)
    scan.add("protocol", protocol)
    scan.add("request", next(request))
    scan.add("headers-free repr of a create request", protocol.request("create", {"collectionName": "c"}))
    scan.add("state", state.to_dict())
    scan.add("list", [s.to_dict() for s in states])
    for inject in (
        lambda: emulator.inject_status(503),
        lambda: emulator.inject_reset(),
        lambda: emulator.inject_slow(1),
    ):
        inject()
        with pytest.raises(exc.MilvusImportRetryableError) as caught:
            hook.get_import_state(job)
        scan.add("error", caught.value)
    hook.close()
    bad = set_conn(
        monkeypatch,
        "rel_sec_bad",
        host=emulator.base_url,
        login=LOGIN,
        password=PASSWORD + "x",
        extra={"protocol": "rest"},
    )
    with pytest.raises(exc.MilvusImportAuthError) as caught:
        MilvusImportHook(bad).get_import_state(job)
    scan.add("auth error", caught.value)
    scan.add("auth error args", caught.value.args)


@pytest.mark.parametrize("credential", ["password", "token"])
async def test_async_client_rest(
    credential: str, scan: Scanner, make_emulator: Callable[..., ImportEmulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = USER_PASSWORD if credential == "password" else TOKEN
    emulator = make_emulator(mode="rest", speed=0, token=secret)
    conn = password_conn(monkeypatch, emulator) if credential == "password" else token_conn(monkeypatch, emulator)
    hook = MilvusImportHook(conn)
    client = await hook.aget_conn()
    job = await hook.astart_import("articles", [["/data/1.parquet"]])
    scan.add("state", (await hook.aget_import_state(job)).to_dict())
    scan.add("list", [s.to_dict() for s in await hook.alist_import_states()])
    scan.add("async client", client)
    scan.add("protocol", await client.protocol())
    emulator.inject_garbage("html_200")
    with pytest.raises(exc.MilvusImportInvalidResponseError) as caught:
        await hook.aget_import_state(job)
    scan.add("error", caught.value)
    await hook.aclose()
    wrong = AsyncMilvusImportClient(
        parse_settings(host=emulator.base_url, extra={"protocol": "rest", "token": TOKEN + "x"})
    )
    with pytest.raises(exc.MilvusImportAuthError) as caught:
        await wrong.get_import_state(job)
    await wrong.aclose()
    scan.add("auth error", caught.value)


@pytest.mark.parametrize("flavour", ["sync", "async"])
async def test_cloud_with_an_api_key(
    flavour: str, scan: Scanner, make_emulator: Callable[..., ImportEmulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator = make_emulator(mode="cloud", speed=0, token=API_KEY, rate_limit=None)
    conn = cloud_conn(monkeypatch, emulator)
    hook = MilvusImportHook(conn)
    if flavour == "sync":
        job = hook.start_import(
            "articles", [["s3://bucket/1.parquet"]], options={"access_key": "AK", "secret_key": "SK"}
        )
        scan.add("state", hook.get_import_state(job).to_dict())
        scan.add("client", hook.get_conn())
        scan.add("protocol", hook.get_conn().protocol)
        hook.close()
    else:
        job = await hook.astart_import("articles", [["s3://bucket/1.parquet"]])
        scan.add("state", (await hook.aget_import_state(job)).to_dict())
        scan.add("client", await hook.aget_conn())
        await hook.aclose()
    assert emulator.requests[-1].header("Authorization") == f"Bearer {API_KEY}"
    set_conn(
        monkeypatch,
        "rel_sec_cloud_bad",
        extra={
            "protocol": "cloud",
            "cloud_endpoint": emulator.base_url,
            "cloud_api_key": API_KEY + "x",
            "cloud_cluster_id": DEFAULT_CLUSTER_ID,
        },
    )
    bad = MilvusImportHook("rel_sec_cloud_bad")
    with pytest.raises(exc.MilvusImportAuthError) as caught:
        if flavour == "sync":
            bad.get_import_state(job)
        else:
            await bad.aget_import_state(job)
    scan.add("auth error", caught.value)
    scan.add("cloud protocol", CloudProtocol(emulator.base_url, api_key=API_KEY, cluster_id="c"))


@pytest.mark.parametrize("credential", ["password", "token"])
async def test_grpc_where_nothing_listens(credential: str, scan: Scanner, monkeypatch: pytest.MonkeyPatch) -> None:
    extra: dict[str, Any] = {"protocol": "grpc", "timeout": 1}
    fields: dict[str, Any] = {"login": LOGIN, "password": PASSWORD}
    if credential == "token":
        extra["token"] = TOKEN
    conn = set_conn(monkeypatch, "rel_sec_grpc", host="http://127.0.0.1:9", extra=extra, **fields)
    hook = MilvusImportHook(conn)
    with pytest.raises(exc.MilvusImportRetryableError) as caught:
        hook.get_import_state("448761313698322011")
    scan.add("sync error", caught.value)
    scan.add("sync client", hook.get_conn())
    scan.add("grpc request", next(hook.get_conn().protocol.get_import_state("1")))
    hook.close()
    with pytest.raises(exc.MilvusImportRetryableError) as caught:
        await hook.aget_import_state("448761313698322011")
    scan.add("async error", caught.value)
    await hook.aclose()
    trigger = MilvusImportTrigger(job_id="448761313698322011", milvus_conn_id=conn, poll_interval=POLL, max_attempts=3)
    (event,) = await events_of(trigger)
    assert event["status"] == "error"
    scan.add("event", event)
    scan.add("grpc protocol", GrpcProtocol("127.0.0.1:9", token=TOKEN))


async def test_grpc_metadata_carries_the_credential_but_nothing_shows_it(
    scan: Scanner, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = FakeMilvusGrpc(list_supported=False).start()
    try:
        conn = set_conn(
            monkeypatch,
            "rel_sec_grpc_ok",
            host=f"http://{server.target}",
            login=LOGIN,
            password=PASSWORD,
            extra={"protocol": "grpc"},
        )
        hook = MilvusImportHook(conn)
        state = hook.get_import_state(str(server.job_id))
        hook.close()
        trigger = MilvusImportTrigger(
            job_id=str(server.job_id), milvus_conn_id=conn, poll_interval=POLL, end_time=time.time() + 0.3
        )
        (event,) = await events_of(trigger)
    finally:
        server.stop()
    assert server.calls[0][2]["authorization"] == b64(USER_PASSWORD)  # sent, as Milvus expects
    scan.add("state", state.to_dict())
    scan.add("event", event)


# --------------------------------------------------------------------------- trigger, hook, operator, sensor


async def test_trigger_with_retries_and_errors(
    scan: Scanner, make_emulator: Callable[..., ImportEmulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator = make_emulator(mode="rest", speed=0, job_duration=100, token=USER_PASSWORD)
    conn = password_conn(monkeypatch, emulator)
    job = running_job(emulator)
    trigger = MilvusImportTrigger(job_id=job, milvus_conn_id=conn, poll_interval=POLL, max_attempts=6)
    scan.add("serialize", trigger.serialize())
    scan.add("trigger", trigger)
    task = asyncio.create_task(events_of(trigger))
    faults = [
        emulator.inject_status(503, count=2),
        emulator.inject_reset(partial="body"),
        emulator.inject_slow(1.0),
        emulator.inject_garbage("truncated_json"),
    ]
    await until(lambda: all(f.applied >= f.count for f in faults))
    emulator.finish_job(job)
    (success,) = await task
    scan.add("success event", success)
    for code in (401, 403, 404):
        emulator.inject_status(code, count=10**6)
        (event,) = await events_of(MilvusImportTrigger(job_id=job, milvus_conn_id=conn, poll_interval=POLL))
        emulator.clear_faults()
        assert event["status"] == "error"
        scan.add(f"{code} event", event)
    emulator.inject_status(503, count=10**6)
    (event,) = await events_of(MilvusImportTrigger(job_id=job, milvus_conn_id=conn, poll_interval=POLL, max_attempts=2))
    emulator.clear_faults()
    scan.add("exhausted event", event)
    emulator.fail_job(job, "failed to parse parquet: bad magic")
    (failed,) = await events_of(MilvusImportTrigger(job_id=job, milvus_conn_id=conn, poll_interval=POLL))
    assert failed["status"] == "failed"
    scan.add("failed event", failed)


@pytest.mark.parametrize("outcome", ["ok", "refused", "unreachable"])
def test_hook_test_connection(
    outcome: str, scan: Scanner, make_emulator: Callable[..., ImportEmulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator = make_emulator(mode="rest", speed=0, token=TOKEN if outcome != "refused" else "something-else")
    conn = token_conn(monkeypatch, emulator)
    if outcome == "unreachable":
        emulator.stop()
    ok, message = MilvusImportHook(conn).test_connection()
    assert ok is (outcome == "ok"), message
    scan.add("test_connection", message)
    set_conn(monkeypatch, "rel_sec_auto", host=emulator.base_url, login=LOGIN, password=PASSWORD)
    scan.add("test_connection (auto)", MilvusImportHook("rel_sec_auto").test_connection())


def test_operator_and_sensor(
    scan: Scanner, make_emulator: Callable[..., ImportEmulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.providers.common.compat.sdk import AirflowException
    from airflow.sdk.exceptions import TaskDeferred

    emulator = make_emulator(mode="rest", speed=0, job_duration=100, token=USER_PASSWORD)
    conn = password_conn(monkeypatch, emulator)
    operator = MilvusImportOperator(
        task_id="load", collection_name="articles", files=["/a.parquet"], milvus_conn_id=conn, poll_interval=POLL
    )
    context = make_context()
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute(context)
    scan.add("deferred", deferred.value)
    scan.add("deferred trigger", deferred.value.trigger)
    scan.add("xcom", context["ti"].pushed)
    job = context["ti"].pushed["job_id"]
    sensor = MilvusImportSensor(task_id="gate", job_id=job, milvus_conn_id=conn, poke_interval=POLL)
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(make_context())
    scan.add("sensor deferred", deferred.value)
    emulator.finish_job(job)
    done = make_context()
    scan.add("sensor result", sensor.execute(done))
    scan.add("sensor xcom", done["ti"].pushed)
    emulator.inject_status(403)
    with pytest.raises(AirflowException) as failed:
        MilvusImportSensor(task_id="gate2", job_id=job, milvus_conn_id=conn).execute(make_context())
    scan.add("sensor failure", failed.value)
    scan.add("operator", operator)
    scan.add("sensor", sensor)


def test_reprs_of_every_object(scan: Scanner, monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings, clients, protocols, requests and every error type: repr and str never show a secret."""
    settings = parse_settings(
        host="http://milvus:19530",
        login=LOGIN,
        password=PASSWORD,
        extra={"cloud_api_key": API_KEY, "cloud_cluster_id": "c", "protocol": "rest"},
    )
    token_settings = parse_settings(host="http://milvus:19530", extra={"token": TOKEN, "protocol": "grpc"})
    assert settings.token == USER_PASSWORD and token_settings.token == TOKEN
    for label, value in [
        ("settings", settings),
        ("token settings", token_settings),
        ("sync client", MilvusImportClient(settings)),
        ("async client", AsyncMilvusImportClient(token_settings)),
        ("rest protocol", RestProtocol("http://m:19530", token=TOKEN)),
        ("rest request", RestProtocol("http://m:19530", token=TOKEN).request("describe", {"jobId": "1"})),
        ("grpc protocol", GrpcProtocol("m:19530", token=USER_PASSWORD)),
        ("grpc request", next(GrpcProtocol("m:19530", token=USER_PASSWORD).get_import_state("1"))),
        ("cloud protocol", CloudProtocol("https://api", api_key=API_KEY, cluster_id="c")),
        ("cloud request", CloudProtocol("https://api", api_key=API_KEY, cluster_id="c").request("list", {})),
    ]:
        scan.add(label, value)
    for error_type in (
        exc.MilvusImportError,
        exc.MilvusImportAuthError,
        exc.MilvusImportConnectionError,
        exc.MilvusImportServerBusyError,
        exc.MilvusImportInvalidResponseError,
        exc.MilvusImportJobNotFoundError,
        exc.MilvusImportConfigError,
    ):
        scan.add(
            error_type.__name__,
            error_type(
                "reading failed",
                job_id="1",
                server=settings.server,
                code=401,
                server_message="user hasn't authenticated",
            ),
        )
    conn = set_conn(
        monkeypatch,
        "rel_sec_repr",
        host="http://milvus:19530",
        login=LOGIN,
        password=PASSWORD,
        extra={"token": TOKEN, "cloud_api_key": API_KEY},
    )
    hook = MilvusImportHook(conn)
    scan.add("hook settings", hook.get_settings())
    scan.add("hook", hook)
    logging.getLogger("tests.reliability").debug("settings %r client %r", settings, MilvusImportClient(settings))


def test_a_server_that_echoes_the_credential(
    make_emulator: Callable[..., ImportEmulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Some gateways echo request headers in error pages; the quoted server text must not carry the token."""
    emulator = make_emulator(mode="rest", speed=0, token=TOKEN)
    conn = token_conn(monkeypatch, emulator)
    job = running_job(emulator)
    emulator.inject_status(400, body=f"<html>400 Bad Request<br>Authorization: Bearer {TOKEN}</html>")
    with pytest.raises(exc.MilvusImportError) as caught:
        MilvusImportHook(conn).get_import_state(job)
    found = TOKEN in str(caught.value)
    TALLY.secrets_echoed += int(found)
    assert not found, str(caught.value)


def test_bucket_keys_of_a_storage_connection(
    scan: Scanner, make_emulator: Callable[..., ImportEmulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``storage_conn_id``: the keys reach the cloud's create body and nothing else: logs, rendered fields,
    XCom, trigger kwargs, lineage, and the error of a server that echoes them."""
    from airflow.sdk.exceptions import TaskDeferred

    emulator = make_emulator(mode="cloud", speed=0, token=API_KEY)
    conn = cloud_conn(monkeypatch, emulator)
    bucket = {"conn_type": "aws", "login": "AKIAEXAMPLE", "password": BUCKET_SECRET}
    monkeypatch.setenv(
        "AIRFLOW_CONN_REL_SEC_BUCKET", json.dumps(bucket | {"extra": {"aws_session_token": BUCKET_SESSION}})
    )
    operator = MilvusImportOperator(
        task_id="load",
        collection_name="articles",
        files=["s3://b/a.parquet"],
        milvus_conn_id=conn,
        storage_conn_id="rel_sec_bucket",
        poll_interval=POLL,
    )
    context = make_context()
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute(context)
    sent = emulator.requests[-1].json
    assert (sent["secretKey"], sent["token"]) == (BUCKET_SECRET, BUCKET_SESSION)  # sent, never shown
    scan.add("deferred trigger", deferred.value.trigger)
    scan.add("trigger kwargs", deferred.value.trigger.serialize())
    scan.add("xcom", context["ti"].pushed)
    scan.add("rendered fields", {f: getattr(operator, f) for f in operator.template_fields})
    scan.add("operator", operator)
    scan.add("lineage", operator.get_openlineage_facets_on_start())
    body = f'{{"code": 1100, "message": "bad credentials secretKey={BUCKET_SECRET} token={BUCKET_SESSION}"}}'
    emulator.inject_status(200, body=body, content_type="application/json", route="/v2/vectordb/jobs/import/create")
    with pytest.raises(exc.MilvusImportError) as failed:
        operator.execute(make_context())
    scan.add("error", failed.value)
    found = BUCKET_SECRET in str(failed.value)
    TALLY.secrets_echoed += int(found)
    assert not found, str(failed.value)
