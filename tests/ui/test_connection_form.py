"""The ``milvus`` connection form of the real Airflow UI, driven in headless Chromium against a real Milvus.

One flow for every UI generation, each with a small driver:

- Airflow 2.11: the Flask AppBuilder form (``/connection/add``) built from the hook's
  ``get_connection_form_widgets`` and ``get_ui_field_behaviour``; login on the FAB login page;
  Test is a button of the form.
- Airflow 3.0 and 3.1: the React form, fed by the API server, which turns the same wtforms widgets
  into JSON schema (it needs wtforms and flask-appbuilder installed: ``apache-airflow[fab]``).
- Airflow 3.2+: the React form from the declarative ``conn-fields`` of ``get_provider_info()``.

Add Connection -> type "Milvus" -> the provider's fields (labels, descriptions, password inputs, relabelled
standard fields, one database field: Schema hidden) -> fill and save -> reopen -> save unchanged (secrets
kept) -> Test: a clear yes from the REST emulator (Milvus 2.4+) and from the real Milvus 2.3.5 (gRPC, and
``auto`` finding gRPC), a clear no for a dead port. Screenshots named by release go to the session's
``screenshot_dir`` (tests/ui/conftest.py): outside the checkout unless ``scripts/refresh_screenshots.sh``
points it at ``docs/``.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any, Protocol

import pytest
from playwright.sync_api import Locator, Page, ViewportSize, expect

from airflow_provider_milvus.get_provider_info import CONN_FIELDS, UI_FIELD_BEHAVIOUR
from airflow_provider_milvus.version_compat import AIRFLOW_V_3_0_PLUS, AIRFLOW_V_3_1_PLUS, AIRFLOW_V_3_2_PLUS
from tests.airflow_env import AIRFLOW_VERSION, AirflowEnv
from tests.airflow_env.harness import ADMIN_USER, free_port
from tests.emulator.server import ImportEmulator
from tests.milvus_server.server import MilvusServer

#: The release in screenshot names: ``2.11``, ``3.0``, ``3.3``.
RELEASE = ".".join(AIRFLOW_VERSION.split(".")[:2])

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
STANDARD_LABELS = {
    "host": "Milvus URI",
    "login": "User",
    "password": "Password",
    "port": "Port",
}
#: Standard fields the form must not show: the database is asked once, as the extra ``db_name``.
HIDDEN_STANDARD = ("schema",)
SECRET_KEYS = ("token", "cloud_api_key")
TEXT_KEYS = ("db_name", "server_ca", "cloud_cluster_id", "cloud_endpoint")
PROTOCOLS = ["auto", "grpc", "rest", "cloud"]
#: What Airflow 2.11's form shows for a stored secret (``airflow.www.views.SENSITIVE_FIELD_PLACEHOLDER``).
SENSITIVE_FIELD_PLACEHOLDER = "RATHER_LONG_SENSITIVE_FIELD_PLACEHOLDER"
SHORT_VIEWPORT: ViewportSize = {"width": 1280, "height": 480}

TOKEN = "root:Milvus"  # the emulator runs without authentication and ignores it; it shows the masking
CLOUD_API_KEY = "zilliz-key-not-used-over-rest"  # ignored with protocol rest; shows the masking too
EDITED = "edited in the form"
FILLED = {"token": TOKEN, "db_name": "default", "protocol": "rest", "cloud_api_key": CLOUD_API_KEY, "timeout": "20"}


def calm(page: Page) -> None:
    """Move the mouse away so no tooltip covers a button or a screenshot."""
    page.mouse.move(1, 1)
    page.wait_for_timeout(300)


def click_test(page: Page, button: Locator, conn_id: str) -> tuple[dict[str, Any], float]:
    """Click a Test button; return the answer of ``POST /api/v*/connections/test`` and the seconds it took."""
    expect(button).to_be_enabled()  # disabled unless AIRFLOW__CORE__TEST_CONNECTION=Enabled
    began = time.monotonic()
    with page.expect_response(lambda r: r.url.endswith("/connections/test"), timeout=90_000) as info:
        button.click()
    seconds = time.monotonic() - began
    response = info.value
    assert response.status == 200, f"test of {conn_id}: {response.status} {response.text()}"
    answer: dict[str, Any] = response.json()
    return answer, seconds


class FormDriver(Protocol):
    """What the flow needs from one UI generation's connection form."""

    #: False for Airflow 3.0, whose UI has no Test button (3.1 brought it back).
    can_test: bool

    def open_add_form(self) -> None:
        """Open an empty form with the type "Milvus" chosen."""

    def check_fields(self) -> None:
        """Assert every custom field (label, description, kind) and the relabelled standard fields."""

    def fill(self, conn_id: str, host: str, port: int, extras: dict[str, str]) -> None:
        """Fill the id, host, port and the given extra fields."""

    def screenshot_form(self, name: str) -> list[Path]:
        """Screenshots of the filled form into the screenshot directory (named by ``name`` and the release)."""

    def save(self, conn_id: str) -> None:
        """Save the open form; the connection is then listed."""

    def reopen(self, conn_id: str) -> None:
        """Open the edit form, assert the saved values came back (secrets not shown), set the description."""

    def press_test(self, conn_id: str) -> tuple[dict[str, Any], Locator, float]:
        """Press Test for the saved connection: the server's answer, the element showing it, the seconds."""

    def expect_verdict(self, shown: Locator, ok: bool, message: str) -> None:
        """Assert the UI shows the verdict (success or failure) and the message."""

    def expect_no_test_button(self, conn_id: str) -> None:
        """Assert the UI offers no Test for the connection (Airflow 3.0)."""


class FabForm:
    """Airflow 2.11: the Flask AppBuilder form at ``/connection/add``; Test is a button of the form."""

    can_test = True

    def __init__(self, page: Page, env: AirflowEnv, shots: Path) -> None:
        self.page, self.env, self.shots = page, env, shots

    def login(self) -> None:
        """Sign in on the FAB login page as the admin user the harness created."""
        page = self.page
        page.goto(f"{self.env.base_url}/login/")
        if page.locator("input#username").count() == 0:  # already signed in (one browser per module)
            return
        page.locator("input#username").fill(ADMIN_USER[0])
        page.locator("input#password").fill(ADMIN_USER[1])
        page.locator("input[type=submit]").click()
        expect(page.get_by_role("link", name="DAGs", exact=True)).to_be_visible()

    def row(self, name: str) -> Locator:
        """The form's table row holding the input ``name``."""
        return self.page.locator("form#model_form tr").filter(has=self.page.locator(f"[name='{name}']"))

    def open_add_form(self) -> None:
        self.login()
        self.page.goto(f"{self.env.base_url}/connection/add")
        self.page.locator("select#conn_type").select_option("milvus")
        expect(self.page.locator("label[for=host]")).to_have_text(STANDARD_LABELS["host"])

    def check_fields(self) -> None:
        page, placeholders = self.page, UI_FIELD_BEHAVIOUR["placeholders"]
        for name, label in STANDARD_LABELS.items():
            expect(page.locator(f"label[for={name}]")).to_have_text(label)
            expect(page.locator(f"input#{name}")).to_have_attribute("placeholder", placeholders[name])
        expect(page.locator("input#password")).to_have_attribute("type", "password")
        for name in HIDDEN_STANDARD:
            expect(self.row(name)).to_be_hidden()
        expect(self.row("extra")).to_be_visible()  # hidden, it would break the Test button's JavaScript
        for key, label in EXTRA_LABELS.items():
            field = f"extra__milvus__{key}"
            expect(page.locator(f"label[for={field}]"), f"no label for {key}").to_have_text(label)
            expect(self.row(field)).to_be_visible()
            expect(self.row(field)).to_contain_text(CONN_FIELDS[key]["description"])
        for key in SECRET_KEYS:
            expect(page.locator(f"input#extra__milvus__{key}")).to_have_attribute("type", "password")
        for key in (*TEXT_KEYS, "protocol", "timeout"):
            expect(page.locator(f"input#extra__milvus__{key}")).to_have_attribute("type", "text")
        expect(page.locator("input#extra__milvus__secure")).to_have_attribute("type", "checkbox")

    def fill(self, conn_id: str, host: str, port: int, extras: dict[str, str]) -> None:
        page = self.page
        page.locator("input#conn_id").fill(conn_id)
        page.locator("input#host").fill(host)
        page.locator("input#port").fill(str(port))
        for key, value in extras.items():
            page.locator(f"input#extra__milvus__{key}").fill(value)
        calm(page)

    def screenshot_form(self, name: str) -> list[Path]:
        path = self.shots / f"{name}-airflow-{RELEASE}.png"
        self.page.locator("form#model_form").screenshot(path=str(path))
        return [path]

    def save(self, conn_id: str) -> None:
        page = self.page
        with page.expect_response(lambda r: r.request.method == "POST" and "/connection/" in r.url) as info:
            page.locator("form#model_form button[type=submit]").click()
        # Saved: FAB redirects (302); a rejected form comes back (200) with its errors. (Its "Added Row" flash
        # cannot be relied on: the form page's script reuses the first alert box for its own warning.)
        errors = page.locator("form#model_form .help-block.error, form#model_form .alert-danger")
        assert info.value.status == 302, f"saving {conn_id}: {info.value.status}, {errors.all_inner_texts()}"
        page.goto(f"{self.env.base_url}/connection/list/")
        expect(self.list_row(conn_id)).to_be_visible()

    def list_row(self, conn_id: str) -> Locator:
        """The connection list's row of ``conn_id``."""
        return self.page.locator("table tr").filter(has=self.page.get_by_role("cell", name=conn_id, exact=True))

    def open_edit(self, conn_id: str) -> None:
        """Open the edit form of ``conn_id`` from the connection list."""
        if not self.page.url.endswith("/connection/list/"):
            self.page.goto(f"{self.env.base_url}/connection/list/")
        self.list_row(conn_id).locator("a[href*='/connection/edit/']").click()
        expect(self.page.locator("input#conn_id")).to_have_value(conn_id)

    def reopen(self, conn_id: str) -> None:
        self.open_edit(conn_id)
        page = self.page
        expect(page.locator("input#extra__milvus__db_name")).to_have_value("default")
        expect(page.locator("input#extra__milvus__protocol")).to_have_value("rest")
        for key in SECRET_KEYS:  # Airflow 2's placeholder, which an unchanged save swaps back for the secret
            expect(page.locator(f"input#extra__milvus__{key}")).to_have_value(SENSITIVE_FIELD_PLACEHOLDER)
        assert TOKEN not in page.content(), "the edit form's HTML holds the token"
        page.locator("textarea#description").fill(EDITED)

    def press_test(self, conn_id: str) -> tuple[dict[str, Any], Locator, float]:
        self.open_edit(conn_id)
        page = self.page
        calm(page)
        answer, seconds = click_test(page, page.locator("button#test-connection"), conn_id)
        shown = page.locator(".alert").filter(has_text=answer["message"][:60]).first
        expect(shown).to_be_visible()
        page.evaluate("window.scrollTo(0, 0)")  # the alert sits above the form
        calm(page)
        return answer, shown, seconds

    def expect_no_test_button(self, conn_id: str) -> None:
        raise AssertionError("Airflow 2.11's form has a Test button")

    def expect_verdict(self, shown: Locator, ok: bool, message: str) -> None:
        # Airflow 2's form shows every answer of /connections/test in a green alert: the message is the verdict.
        expect(shown).to_contain_text(message)


class ReactForm:
    """Airflow 3: the React form in a dialog of ``/connections``; Test is a button of the connection's row."""

    TOASTS = "[data-scope=toast][data-part=root]"
    can_test = AIRFLOW_V_3_1_PLUS

    def __init__(self, page: Page, env: AirflowEnv, shots: Path) -> None:
        self.page, self.env, self.shots = page, env, shots
        self.dialog = page.get_by_role("dialog")

    def field_row(self, scope: Locator, control: str) -> Locator:
        """The form row (label, input, description) holding the control matched by the CSS selector."""
        return scope.locator("div[data-scope=field][data-part=root]").filter(has=self.page.locator(control))

    def labelled_row(self, scope: Locator, label: str) -> Locator:
        """The form row whose label is exactly ``label``."""
        exact = re.compile(rf"^\s*{re.escape(label)}\s*$")
        return scope.locator("div[data-scope=field][data-part=root]").filter(
            has=self.page.locator("label").filter(has_text=exact)
        )

    def open_section(self, name: str) -> Locator:
        """Expand an accordion section of the form ("Standard Fields", "Extra Fields"); return its content."""
        trigger = self.dialog.get_by_role("button", name=name, exact=True)
        if trigger.get_attribute("aria-expanded") != "true":
            trigger.click()
        expect(trigger).to_have_attribute("aria-expanded", "true")
        content = self.dialog.locator(f"[id='{trigger.get_attribute('aria-controls')}']")
        expect(content).to_be_visible()
        return content

    def choose(self, combobox: Locator, option: str) -> None:
        """Pick ``option`` in a dropdown: a react-select (type to filter) or a Chakra select (3.0's enum fields)."""
        combobox.click()
        if combobox.evaluate("element => element.tagName") == "INPUT":
            combobox.fill(option)
        self.page.get_by_role("option", name=option, exact=True).click()

    def protocol_row(self, extra: Locator) -> Locator:
        """The Protocol row: a react-select on ``element_protocol`` (3.1+) or a Chakra select (3.0)."""
        return self.field_row(extra, "input[name=element_protocol], [id='select:element_protocol']")

    def open_add_form(self) -> None:
        page = self.page
        page.goto(f"{self.env.base_url}/connections")
        page.wait_for_load_state("networkidle")
        if not page.url.endswith("/connections"):  # 3.1's first visit logs in and lands on the home page
            page.goto(f"{self.env.base_url}/connections")
        page.get_by_role("button", name="Add Connection").click()
        expect(self.dialog.get_by_role("heading", name="Add Connection")).to_be_visible()
        self.choose(self.dialog.get_by_role("combobox", name="Connection Type"), "Milvus")
        expect(self.dialog.get_by_role("button", name="Standard Fields", exact=True)).to_be_visible()

    def check_fields(self) -> None:
        page, dialog = self.page, self.dialog
        standard = self.open_section("Standard Fields")
        placeholders = UI_FIELD_BEHAVIOUR["placeholders"]
        for name, label in STANDARD_LABELS.items():
            expect(self.field_row(standard, f"input[name={name}]").locator("label").first).to_have_text(label)
            expect(standard.locator(f"input[name={name}]")).to_have_attribute("placeholder", placeholders[name])
        expect(standard.locator("input[name=password]")).to_have_attribute("type", "password")
        for name in HIDDEN_STANDARD:
            expect(standard.locator(f"input[name={name}]")).to_have_count(0)

        extra = self.open_section("Extra Fields")
        for key, label in EXTRA_LABELS.items():
            row = self.labelled_row(extra, label)
            expect(row, f"no form row labelled {label!r}").to_have_count(1)
            expect(row).to_contain_text(CONN_FIELDS[key]["description"])
        # The React forms of 3.0 and 3.1 mask only the standard Password field: their extra fields are plain
        # inputs whatever the schema says (their hook_meta answer does say "format": "password"); 3.2+ masks them.
        for key in SECRET_KEYS:
            secret = extra.locator(f"input[name=element_{key}]")
            if AIRFLOW_V_3_2_PLUS:
                expect(secret).to_have_attribute("type", "password")
            else:
                assert secret.get_attribute("type") in (None, "text"), key
        for key in TEXT_KEYS:
            assert extra.locator(f"input[name=element_{key}]").get_attribute("type") in (None, "text"), key
        expect(self.labelled_row(extra, EXTRA_LABELS["secure"]).get_by_role("checkbox")).to_have_count(1)  # a switch
        if AIRFLOW_V_3_2_PLUS:  # conn-fields declare a number; the wtforms widgets of 3.0/3.1 a string
            expect(self.labelled_row(extra, EXTRA_LABELS["timeout"]).get_by_role("spinbutton")).to_have_count(1)
        protocol = self.protocol_row(extra).get_by_role("combobox")
        protocol.click()
        expect(page.get_by_role("option")).to_have_text(PROTOCOLS)
        dialog.get_by_role("heading", name="Add Connection").click()  # close the menu (Escape closes the dialog)
        expect(page.get_by_role("option")).to_have_count(0)

    def fill(self, conn_id: str, host: str, port: int, extras: dict[str, str]) -> None:
        self.dialog.locator("input[name=connection_id]").fill(conn_id)
        standard = self.open_section("Standard Fields")
        standard.locator("input[name=host]").fill(host)
        standard.locator("input[name=port]").fill(str(port))  # an empty Port posts "port": 0 and gets a 400
        extra = self.open_section("Extra Fields")
        for key, value in extras.items():
            if key == "protocol":
                self.choose(self.protocol_row(extra).get_by_role("combobox"), value)
            elif key == "timeout" and AIRFLOW_V_3_2_PLUS:
                self.labelled_row(extra, EXTRA_LABELS["timeout"]).get_by_role("spinbutton").fill(value)
            else:
                extra.locator(f"input[name=element_{key}]").fill(value)
        calm(self.page)

    def screenshot_form(self, name: str) -> list[Path]:
        shots = [
            self.shots / f"{name}-airflow-{RELEASE}.png",
            self.shots / f"{name}-extra-fields-airflow-{RELEASE}.png",
        ]
        for section, path in zip(("Standard Fields", "Extra Fields"), shots, strict=True):
            self.open_section(section)
            calm(self.page)
            self.dialog.screenshot(path=str(path))
        return shots

    def list_row(self, conn_id: str) -> Locator:
        """The connections table's row of ``conn_id``."""
        return self.page.get_by_role("row").filter(has=self.page.get_by_role("cell", name=conn_id, exact=True))

    def save(self, conn_id: str) -> None:
        page = self.page
        with page.expect_response(
            lambda r: "/api/v2/connections" in r.url and r.request.method in ("POST", "PATCH")
        ) as info:
            self.dialog.get_by_role("button", name="Save").click()
        response = info.value
        assert response.status in (200, 201), f"saving {conn_id}: {response.status} {response.text()}"
        expect(self.dialog).to_be_hidden()
        expect(self.list_row(conn_id)).to_be_visible()

    def reopen(self, conn_id: str) -> None:
        self.list_row(conn_id).get_by_role("button", name="Edit Connection").click()
        standard = self.open_section("Standard Fields")
        expect(standard.locator("input[name=host]")).to_have_value(re.compile(r"^http://127\.0\.0\.1:\d+$"))
        extra = self.open_section("Extra Fields")
        expect(extra.locator("input[name=element_db_name]")).to_have_value("default")
        expect(extra.locator("input[name=element_token]")).to_have_value("***")
        expect(self.protocol_row(extra)).to_contain_text("rest")
        self.open_section("Standard Fields").locator("textarea[name=description]").fill(EDITED)
        calm(self.page)

    def press_test(self, conn_id: str) -> tuple[dict[str, Any], Locator, float]:
        page = self.page
        page.set_viewport_size(SHORT_VIEWPORT)  # the table and the toast, without an empty page between them
        expect(page.locator(self.TOASTS)).to_have_count(0, timeout=30_000)  # let "connection saved" go away
        calm(page)
        button = self.list_row(conn_id).get_by_role("button", name="Test Connection")
        answer, seconds = click_test(page, button, conn_id)
        toast = page.locator(self.TOASTS).filter(has_text=answer["message"][:60]).first
        expect(toast).to_be_visible()
        calm(page)
        return answer, toast, seconds

    def expect_verdict(self, shown: Locator, ok: bool, message: str) -> None:
        expect(shown).to_contain_text("Test Connection Successful" if ok else "Test Connection Failed")
        expect(shown).to_contain_text(message)

    def expect_no_test_button(self, conn_id: str) -> None:
        row = self.list_row(conn_id)
        expect(row.get_by_role("button", name="Edit Connection")).to_be_visible()
        expect(row.get_by_role("button", name="Test Connection")).to_have_count(0)


@pytest.fixture
def form(page: Page, airflow_ui: AirflowEnv, screenshot_dir: Path) -> FormDriver:
    """The connection form driver of the running Airflow's UI generation."""
    driver = ReactForm if AIRFLOW_V_3_0_PLUS else FabForm
    return driver(page, airflow_ui, screenshot_dir)


def stored_connection(env: AirflowEnv, conn_id: str) -> dict[str, Any]:
    """The connection as Airflow stored it, secrets in clear (the CLI shows them unmasked)."""
    stdout = env.airflow("connections", "get", conn_id, "-o", "json").stdout
    # Airflow 3.0 logs its alembic plugins to stdout first: the JSON starts at the first line opening a list.
    start = next(m.start() for m in re.finditer(r"^\[\s*(\{|$)", stdout, re.MULTILINE))
    listed: dict[str, Any] = json.loads(stdout[start:])[0]
    return listed


def run_test(form: FormDriver, env: AirflowEnv, conn_id: str) -> tuple[dict[str, Any], Locator | None, float]:
    """Press the form's Test; where the UI has none (Airflow 3.0), check that and ask the API it would call."""
    if form.can_test:
        return form.press_test(conn_id)
    form.expect_no_test_button(conn_id)
    conn = stored_connection(env, conn_id)
    body = {
        "connection_id": conn_id,
        "conn_type": conn["conn_type"],
        "host": conn["host"],
        "port": conn["port"],
        "extra": json.dumps(conn["extra_dejson"]),
    }
    began = time.monotonic()
    answer: dict[str, Any] = env.api_json("POST", "connections/test", json=body, timeout=90)
    return answer, None, time.monotonic() - began


def add_and_test(
    form: FormDriver, env: AirflowEnv, conn_id: str, host: str, port: int, protocol: str
) -> tuple[dict[str, Any], Locator | None, float]:
    """Add a connection in the form (``auto``: the Protocol field left empty), save it, press Test."""
    extras = {"timeout": "20"} if protocol == "auto" else {"protocol": protocol, "timeout": "20"}
    form.open_add_form()
    form.fill(conn_id, host=host, port=port, extras=extras)
    form.save(conn_id)
    return run_test(form, env, conn_id)


# ------------------------------------------------------------------------------------------ tests


def test_form_saves_and_tests_a_milvus_connection(
    form: FormDriver, page: Page, airflow_ui: AirflowEnv, rest_emulator: ImportEmulator, screenshot_dir: Path
) -> None:
    """Add a Milvus connection in the form, check the provider's fields, save, reopen, Test: success.

    The server is the live Milvus 2.4+ REST emulator; the real Milvus 2.3.5 (gRPC only) answers the Test below.
    """
    env, conn_id, server = airflow_ui, "milvus_ui", rest_emulator
    assert set(EXTRA_LABELS) == set(CONN_FIELDS), "EXTRA_LABELS must list every conn-field"
    form.open_add_form()
    form.check_fields()
    form.fill(conn_id, host=server.base_url, port=server.port, extras=FILLED)
    shots = form.screenshot_form("connection-form")
    form.save(conn_id)

    # The REST API: type milvus, the extras as filled, secrets masked.
    response = env.api("GET", f"connections/{conn_id}")
    assert response.status_code == 200, response.text
    saved = response.json()
    assert saved["conn_type"] == "milvus"
    assert (saved["host"], saved["port"]) == (server.base_url, server.port)
    extras = json.loads(saved["extra"])
    assert (extras["db_name"], extras["protocol"], float(extras["timeout"])) == ("default", "rest", 20)
    assert (extras["token"], extras["cloud_api_key"]) == ("***", "***")

    # Reopen: the values come back, the secrets not shown; saving an edit of another field keeps the real secrets.
    form.reopen(conn_id)
    form.save(conn_id)
    real = stored_connection(env, conn_id)
    assert (real["conn_type"], real["description"]) == ("milvus", EDITED)
    assert (real["extra_dejson"]["token"], real["extra_dejson"]["cloud_api_key"]) == (TOKEN, CLOUD_API_KEY), (
        "the edit form overwrote a secret"
    )

    # Test: the hook reaches the server over REST and lists its import jobs.
    answer, shown, seconds = run_test(form, env, conn_id)
    assert answer["status"] is True, answer
    expected = rf"Connected to {re.escape(server.base_url)} over rest: \d+ import job\(s\) visible"
    assert re.fullmatch(expected, answer["message"]), answer
    if shown is not None:
        form.expect_verdict(shown, True, answer["message"])
        shots.append(screenshot_dir / f"connection-test-success-airflow-{RELEASE}.png")
        page.screenshot(path=str(shots[-1]))
    print(f"\nAirflow {AIRFLOW_VERSION}: Test answered in {seconds:.1f} s: {answer['message']}")
    print(f"screenshots: {[str(p) for p in shots]}")


@pytest.mark.parametrize("protocol", ["auto", "grpc"])
def test_form_test_says_yes_for_the_real_milvus(
    form: FormDriver, airflow_ui: AirflowEnv, running_milvus_server: MilvusServer, protocol: str
) -> None:
    """The real Milvus 2.3.5 (gRPC only): Test over gRPC, and with ``auto`` left empty, which must find gRPC."""
    server = running_milvus_server
    answer, shown, seconds = add_and_test(
        form, airflow_ui, f"milvus_ui_real_{protocol}", server.uri, server.port, protocol
    )
    assert answer["status"] is True, answer
    expected = rf"Connected to {re.escape(server.uri)} over grpc: \d+ import job\(s\) visible"
    assert re.fullmatch(expected, answer["message"]), answer
    if shown is not None:
        form.expect_verdict(shown, True, answer["message"])
    print(f"\nreal Milvus Test ({protocol}) answered in {seconds:.1f} s: {answer['message']}")


@pytest.mark.parametrize("protocol", ["auto", "grpc"])
def test_form_test_fails_clearly_when_nothing_listens(
    form: FormDriver, page: Page, airflow_ui: AirflowEnv, protocol: str, screenshot_dir: Path
) -> None:
    """A connection to a port where nothing listens: Test fails and says which server is unreachable."""
    port = free_port()
    conn_id, host = f"milvus_ui_unreachable_{protocol}", f"http://127.0.0.1:{port}"
    answer, shown, seconds = add_and_test(form, airflow_ui, conn_id, host, port, protocol)
    assert answer["status"] is False, answer
    message = answer["message"]
    assert f"127.0.0.1:{port}" in message, message
    assert re.search(r"unreachable|refused", message, re.IGNORECASE), message
    if shown is not None:
        form.expect_verdict(shown, False, message)
    if shown is not None and protocol == "grpc":
        page.screenshot(path=str(screenshot_dir / f"connection-test-failure-airflow-{RELEASE}.png"))
    print(f"\nfailing Test ({protocol}) answered in {seconds:.1f} s: {message}")
