"""The ``milvus`` connection form of the real Airflow 3.3 UI, driven in headless Chromium against a real Milvus.

Add Connection -> type "Milvus" -> the provider's fields (labels, descriptions, password inputs, relabelled
standard fields) -> fill and save -> reopen -> Test. Screenshots for the README go to ``docs/``.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, ViewportSize, expect

from airflow_provider_milvus.get_provider_info import CONN_FIELDS, UI_FIELD_BEHAVIOUR
from tests.airflow_env import AirflowEnv
from tests.airflow_env.harness import free_port
from tests.milvus_server.server import MilvusServer

DOCS = Path(__file__).resolve().parents[2] / "docs"

#: What a user must see for the provider's extra fields (label per ``extra`` key).
EXTRA_LABELS = {
    "token": "Token",
    "db_name": "Database",
    "protocol": "Protocol",
    "secure": "Use TLS for gRPC",
    "server_ca": "Server CA certificate path",
    "cloud_api_key": "Zilliz Cloud API key",
    "cloud_cluster_id": "Zilliz Cloud cluster id",
    "cloud_endpoint": "Zilliz Cloud API endpoint",
    "timeout": "Request timeout (seconds)",
}
#: The relabelled standard fields (input name -> label).
STANDARD_LABELS = {"host": "Milvus URI", "login": "User", "password": "Password", "port": "Port"}
SECRET_KEYS = ("token", "cloud_api_key")
TOASTS = "[data-scope=toast][data-part=root]"
SHORT_VIEWPORT: ViewportSize = {"width": 1280, "height": 480}

TOKEN = "root:Milvus"  # the server runs without authentication and ignores it; it shows the masking
CLOUD_API_KEY = "zilliz-key-not-used-over-grpc"  # ignored with protocol grpc; shows the masking too
TEST_SUCCESS = re.compile(r"Connected to http://127\.0\.0\.1:19530 over grpc: \d+ import job\(s\) visible")


# --------------------------------------------------------------------------------------- helpers


def field_row(dialog: Locator, control: str) -> Locator:
    """The form row (label, input, description) holding the control matched by the CSS selector."""
    return dialog.locator("div[data-scope=field][data-part=root]").filter(has=dialog.page.locator(control))


def labelled_row(dialog: Locator, label: str) -> Locator:
    """The form row whose label is exactly ``label``."""
    exact = re.compile(rf"^\s*{re.escape(label)}\s*$")
    return dialog.locator("div[data-scope=field][data-part=root]").filter(
        has=dialog.page.locator("label").filter(has_text=exact)
    )


def open_section(dialog: Locator, name: str) -> Locator:
    """Expand an accordion section of the form ("Standard Fields", "Extra Fields"); return its content."""
    trigger = dialog.get_by_role("button", name=name, exact=True)
    if trigger.get_attribute("aria-expanded") != "true":
        trigger.click()
    expect(trigger).to_have_attribute("aria-expanded", "true")
    content = dialog.locator(f"[id='{trigger.get_attribute('aria-controls')}']")
    expect(content).to_be_visible()
    return content


def choose(page: Page, combobox: Locator, option: str) -> None:
    """Pick ``option`` in a react-select dropdown."""
    combobox.click()
    combobox.fill(option)
    page.get_by_role("option", name=option, exact=True).click()


def calm(page: Page) -> None:
    """Move the mouse away so no tooltip covers a button or a screenshot."""
    page.mouse.move(1, 1)
    page.wait_for_timeout(300)


def open_add_form(page: Page, env: AirflowEnv) -> Locator:
    """Open the connections page, press Add Connection and choose the type "Milvus"; return the dialog."""
    page.goto(f"{env.base_url}/connections")
    page.get_by_role("button", name="Add Connection").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("heading", name="Add Connection")).to_be_visible()
    choose(page, dialog.get_by_role("combobox", name="Connection Type"), "Milvus")
    expect(dialog.get_by_role("button", name="Standard Fields", exact=True)).to_be_visible()
    return dialog


def fill_form(page: Page, dialog: Locator, conn_id: str, host: str, port: int, extras: dict[str, str]) -> None:
    """Fill the connection id and the standard fields, then the given extra fields (text, or a dropdown pick)."""
    dialog.locator("input[name=connection_id]").fill(conn_id)
    standard = open_section(dialog, "Standard Fields")
    standard.locator("input[name=host]").fill(host)
    standard.locator("input[name=port]").fill(str(port))  # an empty Port posts "port": 0 and gets a 400
    extra = open_section(dialog, "Extra Fields")
    for key, value in extras.items():
        if key == "protocol":
            choose(page, field_row(extra, "input[name=element_protocol]").get_by_role("combobox"), value)
        elif key == "timeout":
            labelled_row(extra, EXTRA_LABELS["timeout"]).get_by_role("spinbutton").fill(value)
        else:
            extra.locator(f"input[name=element_{key}]").fill(value)
    calm(page)


def save(page: Page, dialog: Locator, conn_id: str) -> None:
    """Press Save and wait until the dialog is gone and the connection is listed."""
    with page.expect_response(
        lambda r: "/api/v2/connections" in r.url and r.request.method in ("POST", "PATCH")
    ) as info:
        dialog.get_by_role("button", name="Save").click()
    response = info.value
    assert response.status in (200, 201), f"saving {conn_id}: {response.status} {response.text()}"
    expect(dialog).to_be_hidden()
    expect(connection_row(page, conn_id)).to_be_visible()


def connection_row(page: Page, conn_id: str) -> Locator:
    """The connections table's row of ``conn_id``."""
    return page.get_by_role("row").filter(has=page.get_by_role("cell", name=conn_id, exact=True))


def press_test(page: Page, conn_id: str) -> tuple[dict[str, Any], Locator, float]:
    """Press the row's Test button; return the server's answer, the toast that shows it, and the seconds taken."""
    calm(page)
    button = connection_row(page, conn_id).get_by_role("button", name="Test Connection")
    expect(button).to_be_enabled()  # disabled unless AIRFLOW__CORE__TEST_CONNECTION=Enabled
    began = time.monotonic()
    with page.expect_response(lambda r: r.url.endswith("/api/v2/connections/test"), timeout=90_000) as info:
        button.click()
    seconds = time.monotonic() - began
    response = info.value
    assert response.status == 200, f"test of {conn_id}: {response.status} {response.text()}"
    answer: dict[str, Any] = response.json()
    toast = page.locator(TOASTS).filter(has_text=answer["message"][:60]).first
    expect(toast).to_be_visible()
    calm(page)
    return answer, toast, seconds


def stored_extra(env: AirflowEnv, conn_id: str) -> dict[str, Any]:
    """The connection's real extras as Airflow stored them (the CLI shows them unmasked)."""
    listed = json.loads(env.airflow("connections", "get", conn_id, "-o", "json").stdout)
    extra: dict[str, Any] = listed[0]["extra_dejson"]
    return extra


# ------------------------------------------------------------------------------------------ tests


def test_form_saves_and_tests_a_milvus_connection(page: Page, airflow_ui: AirflowEnv, ui_milvus: MilvusServer) -> None:
    """Add a Milvus connection in the form, check the provider's fields, save, reopen, Test: success."""
    env, conn_id = airflow_ui, "milvus_ui"
    dialog = open_add_form(page, env)

    # Standard fields: relabelled, with the provider's placeholders; the Extra JSON stays reachable.
    standard = open_section(dialog, "Standard Fields")
    for name, label in STANDARD_LABELS.items():
        expect(field_row(standard, f"input[name={name}]").locator("label").first).to_have_text(label)
    expect(field_row(standard, "input[name=schema]").locator("label").first).to_have_text("Database (fallback)")
    placeholders = UI_FIELD_BEHAVIOUR["placeholders"]
    for name in ("host", "port", "login", "password", "schema"):
        expect(standard.locator(f"input[name={name}]")).to_have_attribute("placeholder", placeholders[name])
    expect(standard.locator("input[name=password]")).to_have_attribute("type", "password")

    # Extra fields: every conn-field with its label and description; secrets are password inputs.
    extra = open_section(dialog, "Extra Fields")
    assert set(EXTRA_LABELS) == set(CONN_FIELDS), "EXTRA_LABELS must list every conn-field"
    for key, label in EXTRA_LABELS.items():
        row = labelled_row(extra, label)
        expect(row, f"no form row labelled {label!r}").to_have_count(1)
        expect(row).to_contain_text(CONN_FIELDS[key]["description"])
    for key in SECRET_KEYS:
        expect(extra.locator(f"input[name=element_{key}]")).to_have_attribute("type", "password")
    for key in ("db_name", "server_ca", "cloud_cluster_id", "cloud_endpoint"):
        assert extra.locator(f"input[name=element_{key}]").get_attribute("type") in (None, "text"), key
    expect(labelled_row(extra, "Use TLS for gRPC").get_by_role("checkbox")).to_have_count(1)  # a switch
    expect(labelled_row(extra, "Request timeout (seconds)").get_by_role("spinbutton")).to_have_count(1)
    protocol = field_row(extra, "input[name=element_protocol]").get_by_role("combobox")
    protocol.click()
    expect(page.get_by_role("option")).to_have_text(["auto", "grpc", "rest", "cloud"])
    dialog.get_by_role("heading", name="Add Connection").click()  # close the menu (Escape closes the dialog)
    expect(page.get_by_role("option")).to_have_count(0)

    # Fill in: URI and port (standard), token, database, protocol, cloud key, timeout (extras).
    fill_form(
        page,
        dialog,
        conn_id,
        host=ui_milvus.uri,
        port=ui_milvus.port,
        extras={
            "token": TOKEN,
            "db_name": "default",
            "protocol": "grpc",
            "cloud_api_key": CLOUD_API_KEY,
            "timeout": "20",
        },
    )
    DOCS.mkdir(exist_ok=True)
    open_section(dialog, "Standard Fields")
    calm(page)
    dialog.screenshot(path=str(DOCS / "connection-form.png"))
    open_section(dialog, "Extra Fields")
    calm(page)
    dialog.screenshot(path=str(DOCS / "connection-form-extra-fields.png"))
    save(page, dialog, conn_id)

    # The REST API: type milvus, the extras as filled, secrets masked.
    response = env.api("GET", f"/api/v2/connections/{conn_id}")
    assert response.status_code == 200, response.text
    saved = response.json()
    assert saved["conn_type"] == "milvus"
    assert (saved["host"], saved["port"]) == (ui_milvus.uri, ui_milvus.port)
    extras = json.loads(saved["extra"])
    assert extras["db_name"] == "default"
    assert extras["protocol"] == "grpc"
    assert float(extras["timeout"]) == 20
    assert extras["token"] == "***"
    assert extras["cloud_api_key"] == "***"

    # Reopen: the values come back, the secret redacted; saving unchanged keeps the real secret.
    connection_row(page, conn_id).get_by_role("button", name="Edit Connection").click()
    dialog = page.get_by_role("dialog")
    standard = open_section(dialog, "Standard Fields")
    expect(standard.locator("input[name=host]")).to_have_value(ui_milvus.uri)
    expect(standard.locator("input[name=port]")).to_have_value(str(ui_milvus.port))
    extra = open_section(dialog, "Extra Fields")
    expect(extra.locator("input[name=element_db_name]")).to_have_value("default")
    expect(extra.locator("input[name=element_token]")).to_have_value("***")
    expect(field_row(extra, "input[name=element_protocol]")).to_contain_text("grpc")
    calm(page)
    save(page, dialog, conn_id)
    real = stored_extra(env, conn_id)
    assert (real["token"], real["cloud_api_key"]) == (TOKEN, CLOUD_API_KEY), "the edit form overwrote a secret"

    # Test: the hook reaches the real Milvus over gRPC and lists its import jobs.
    page.set_viewport_size(SHORT_VIEWPORT)  # the table and the toast, without an empty page between them
    expect(page.locator(TOASTS)).to_have_count(0, timeout=30_000)  # let "connection updated" go away
    answer, toast, seconds = press_test(page, conn_id)
    assert answer["status"] is True, answer
    assert TEST_SUCCESS.fullmatch(answer["message"]), answer
    expect(toast).to_contain_text("Test Connection Successful")
    expect(toast).to_contain_text(TEST_SUCCESS)
    page.screenshot(path=str(DOCS / "connection-test-success.png"))
    print(f"\nTest button answered in {seconds:.1f} s: {answer['message']}")


@pytest.mark.parametrize("protocol", ["auto", "grpc"])
def test_form_test_fails_clearly_when_nothing_listens(page: Page, airflow_ui: AirflowEnv, protocol: str) -> None:
    """A connection to a port where nothing listens: Test fails fast and says which server is unreachable."""
    conn_id, port = f"milvus_ui_unreachable_{protocol}", free_port()
    extras = {"timeout": "5"} if protocol == "auto" else {"protocol": protocol, "timeout": "5"}  # auto: left empty
    dialog = open_add_form(page, airflow_ui)
    fill_form(page, dialog, conn_id, host=f"http://127.0.0.1:{port}", port=port, extras=extras)
    save(page, dialog, conn_id)

    answer, toast, seconds = press_test(page, conn_id)
    assert answer["status"] is False, answer
    message = answer["message"]
    assert f"127.0.0.1:{port}" in message, message
    assert re.search(r"unreachable|refused", message, re.IGNORECASE), message
    expect(toast).to_contain_text("Test Connection Failed")
    expect(toast).to_contain_text(f"127.0.0.1:{port}")
    assert seconds < 30, f"the failing Test took {seconds:.1f} s"
    print(f"\nfailing Test ({protocol}) answered in {seconds:.1f} s: {message}")
