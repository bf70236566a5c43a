"""TLS end to end: the emulator over https with a self-signed certificate, through the hook and the trigger.

Without the CA the connection is refused with a clear, non-retried error naming ``server_ca``; with
``server_ca`` it works. (The clients alone are covered in tests/test_client.py.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from airflow_provider_milvus import exceptions as exc
from airflow_provider_milvus.hooks.milvus_import import MilvusImportHook
from airflow_provider_milvus.protocol.base import HttpRequest, HttpResponse
from airflow_provider_milvus.transport.http_async import AsyncHttpTransport
from airflow_provider_milvus.triggers.milvus_import import MilvusImportTrigger
from tests.emulator.server import DEFAULT_API_KEY, DEFAULT_CLUSTER_ID, ImportEmulator, make_self_signed_cert
from tests.reliability.support import POLL, describe_served, events_of, running_job, set_conn, until
from tests.reliability.tally import TALLY


@pytest.fixture
def tls_emulator(make_emulator: Callable[..., ImportEmulator], emulator_tls_cert: tuple[str, str]) -> ImportEmulator:
    cert, key = emulator_tls_cert
    emulator = make_emulator(mode="rest", speed=0, job_duration=100, certfile=cert, keyfile=key)
    assert emulator.base_url.startswith("https://")
    return emulator


def https_conn(monkeypatch: pytest.MonkeyPatch, emulator: ImportEmulator, **extra: object) -> str:
    return set_conn(monkeypatch, "rel_tls", host=emulator.base_url, extra={"protocol": "rest", "timeout": 2, **extra})


def count_sends(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """The job id (None for a list) of every request the async HTTP transport tries to send; the send still runs."""
    sends: list[str | None] = []
    send = AsyncHttpTransport.send

    async def counted(self: AsyncHttpTransport, request: HttpRequest) -> HttpResponse:
        sends.append(request.job_id)
        return await send(self, request)

    monkeypatch.setattr(AsyncHttpTransport, "send", counted)
    return sends


@pytest.mark.parametrize("ca", ["none", "another-ca"])
async def test_refused_without_the_right_ca_through_hook_and_trigger(
    ca: str, tls_emulator: ImportEmulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    extra = {} if ca == "none" else {"server_ca": make_self_signed_cert(tmp_path)[0]}
    conn = https_conn(monkeypatch, tls_emulator, **extra)
    job = running_job(tls_emulator)
    with pytest.raises(exc.MilvusImportConfigError, match="server_ca") as caught:
        MilvusImportHook(conn).get_import_state(job)
    assert not caught.value.retryable and "CERTIFICATE_VERIFY_FAILED" in str(caught.value)
    ok, message = MilvusImportHook(conn).test_connection()
    assert not ok and "server_ca" in message
    sends = count_sends(monkeypatch)
    trigger = MilvusImportTrigger(job_id=job, milvus_conn_id=conn, poll_interval=POLL, max_attempts=50)
    (event,) = await events_of(trigger, timeout=20)
    TALLY.fault(
        f"TLS: self-signed server, CA {ca}", injected=1, outcome=event["status"], survived=event["status"] == "error"
    )
    assert event["status"] == "error" and "server_ca" in event["message"], event
    assert len(sends) == 1, f"a TLS refusal must not be retried (the trigger sent {len(sends)} requests)"
    assert tls_emulator.request_count() == 0  # no request got through the handshake


async def test_accepted_with_server_ca_through_hook_and_trigger(
    tls_emulator: ImportEmulator, emulator_tls_cert: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = https_conn(monkeypatch, tls_emulator, server_ca=emulator_tls_cert[0])
    hook = MilvusImportHook(conn)
    job = hook.start_import("articles", [["/data/1.parquet"]])
    assert hook.get_import_state(job).state_name == "Pending"
    ok, message = hook.test_connection()
    assert ok, message
    tls_emulator.advance(50)
    trigger = MilvusImportTrigger(job_id=job, milvus_conn_id=conn, poll_interval=POLL)
    task = asyncio.create_task(events_of(trigger))
    assert await until(lambda: describe_served(tls_emulator, job))
    fault = tls_emulator.inject_reset(partial="body", count=2)
    await until(lambda: fault.applied >= 2 or task.done())
    tls_emulator.finish_job(job)
    (event,) = await task
    TALLY.fault(
        "TLS: server_ca given, resets over TLS",
        injected=fault.applied,
        outcome=event["status"],
        survived=event["status"] == "success",
    )
    assert event["status"] == "success" and event["state"]["state_name"] == "Completed"


async def test_cloud_over_tls_with_server_ca(
    make_emulator: Callable[..., ImportEmulator], emulator_tls_cert: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = emulator_tls_cert
    emulator = make_emulator(mode="cloud", token=DEFAULT_API_KEY, speed=0, certfile=cert, keyfile=key, rate_limit=None)
    cloud = {
        "protocol": "cloud",
        "cloud_endpoint": emulator.base_url,
        "cloud_api_key": DEFAULT_API_KEY,
        "cloud_cluster_id": DEFAULT_CLUSTER_ID,
    }
    job = emulator.create_job("articles", [["s3://b/1.parquet"]])
    emulator.finish_job(job)
    set_conn(monkeypatch, "rel_tls_cloud_noca", extra=cloud)
    (refused,) = await events_of(MilvusImportTrigger(job_id=job, milvus_conn_id="rel_tls_cloud_noca"))
    assert refused["status"] == "error" and "server_ca" in refused["message"]
    set_conn(monkeypatch, "rel_tls_cloud", extra={**cloud, "server_ca": cert})
    (event,) = await events_of(MilvusImportTrigger(job_id=job, milvus_conn_id="rel_tls_cloud", poll_interval=POLL))
    assert event["status"] == "success"
    TALLY.fault(
        "TLS: cloud endpoint, without then with server_ca",
        injected=1,
        outcome=event["status"],
        survived=refused["status"] == "error" and event["status"] == "success",
    )


async def test_plain_http_to_a_tls_server_is_an_error_not_a_hang(
    tls_emulator: ImportEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An http:// host for an https server looks like a broken connection: retried, then one error event."""
    conn = set_conn(
        monkeypatch,
        "rel_tls_plain",
        host=tls_emulator.base_url.replace("https://", "http://"),
        extra={"protocol": "rest", "timeout": 1},
    )
    job = running_job(tls_emulator)
    (event,) = await events_of(MilvusImportTrigger(job_id=job, milvus_conn_id=conn, poll_interval=POLL, max_attempts=3))
    TALLY.fault(
        "TLS: plain http to an https server", injected=1, outcome=event["status"], survived=event["status"] == "error"
    )
    assert event["status"] == "error"


def test_ca_file_that_is_not_a_certificate_sync(
    tls_emulator: ImportEmulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    bogus = tmp_path / "ca.pem"
    bogus.write_text("this is not a certificate\n")
    conn = https_conn(monkeypatch, tls_emulator, server_ca=str(bogus))
    with pytest.raises(exc.MilvusImportConfigError) as caught:
        MilvusImportHook(conn).list_import_states()
    assert not caught.value.retryable and "server_ca" in str(caught.value)


async def test_ca_file_that_is_not_a_certificate_async(
    tls_emulator: ImportEmulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The async hook must raise a MilvusImportConfigError too, and the trigger must end with one error event."""
    bogus = tmp_path / "ca.pem"
    bogus.write_text("this is not a certificate\n")
    conn = https_conn(monkeypatch, tls_emulator, server_ca=str(bogus))
    hook = MilvusImportHook(conn)
    try:
        await hook.alist_import_states()
    except Exception as error:
        raised: BaseException = error
    finally:
        await hook.aclose()
    assert isinstance(raised, exc.MilvusImportConfigError), f"{type(raised).__name__}: {raised}"
    (event,) = await events_of(MilvusImportTrigger(job_id="1", milvus_conn_id=conn, poll_interval=POLL), timeout=5)
    assert event["status"] == "error"
