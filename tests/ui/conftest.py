"""Fixtures of the browser tests: the real Milvus, the release's web service, and headless Chromium (Playwright)."""

from __future__ import annotations

import contextlib
import fcntl
import socket
import time
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, Playwright, ViewportSize, sync_playwright

from tests.airflow_env import WEB_SERVICE, AirflowEnv
from tests.milvus_server import fixtures as milvus_fixtures
from tests.milvus_server.fixtures import *  # noqa: F403
from tests.milvus_server.server import GRPC_PORT, HEALTH_PORT, HOST, LOCK_PATH, MilvusServer

#: Debian's chromium (apt); Playwright drives it, it never downloads a browser.
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # we run as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: Tall enough for the whole Milvus form with its "Extra Fields" section open, in one screenshot.
VIEWPORT: ViewportSize = {"width": 1280, "height": 1800}
#: How long to wait for another session's Milvus to free the ports (one server per machine).
MILVUS_PORTS_WAIT_SECONDS = 600.0


def _listening(port: int) -> bool:
    """True if something accepts TCP connections on 127.0.0.1:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((HOST, port)) == 0


def _milvus_busy() -> bool:
    """True while another MilvusServer holds the machine-wide lock or anything listens on the Milvus ports."""
    if any(_listening(port) for port in (GRPC_PORT, HEALTH_PORT)):
        return True
    if not LOCK_PATH.exists():
        return False
    with open(LOCK_PATH, "a", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        with contextlib.suppress(OSError):
            fcntl.flock(handle, fcntl.LOCK_UN)
    return False


@pytest.fixture(scope="session")
def ui_milvus(request: pytest.FixtureRequest) -> MilvusServer:
    """The session's real Milvus; if another test session's server holds the ports, wait for it to stop first."""
    if milvus_fixtures._Shared.server is None:
        deadline = time.monotonic() + MILVUS_PORTS_WAIT_SECONDS
        while _milvus_busy():
            if time.monotonic() > deadline:
                pytest.fail(
                    f"Milvus ports {GRPC_PORT}/{HEALTH_PORT} (lock {LOCK_PATH}) stayed busy for "
                    f"{MILVUS_PORTS_WAIT_SECONDS:.0f} s: another Milvus runs on this machine (only one can); "
                    "see `pgrep -af milvus`.",
                    pytrace=False,
                )
            time.sleep(2)
    server: MilvusServer = request.getfixturevalue("milvus_server")
    return server


@pytest.fixture(scope="module")
def airflow_ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowEnv]:
    """A fresh AIRFLOW_HOME with only the api-server (3.x) or webserver (2.11) running, Test button enabled."""
    env = AirflowEnv(tmp_path_factory.mktemp("airflow-ui"))
    env.migrate()
    env.start(WEB_SERVICE)
    try:
        yield env
    finally:
        env.stop()


@pytest.fixture(scope="module")
def playwright_driver() -> Iterator[Playwright]:
    """Playwright's sync driver; fails (never skips) when Debian's chromium is missing."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} not found: the browser tests need Debian's chromium. Run scripts/setup.sh "
            "(it runs `apt-get install -y --no-install-recommends chromium`).",
            pytrace=False,
        )
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser_context(
    playwright_driver: Playwright, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BrowserContext]:
    """Headless Chromium from /usr/bin/chromium with a fresh user-data-dir."""
    context = playwright_driver.chromium.launch_persistent_context(
        str(tmp_path_factory.mktemp("chromium-profile")),
        executable_path=str(CHROMIUM),
        headless=True,
        args=CHROMIUM_ARGS,
        viewport=VIEWPORT,
        locale="en-US",
        timezone_id="UTC",
    )
    context.set_default_timeout(30_000)
    try:
        yield context
    finally:
        context.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, object, object]:
    """Keep each phase's report on the item so fixtures can tell whether the test failed."""
    report = yield
    setattr(item, f"rep_{call.when}", report)
    return report


@pytest.fixture
def page(browser_context: BrowserContext, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Page]:
    """A new tab; on failure its screenshot is kept in the test's tmp_path."""
    tab = browser_context.new_page()
    try:
        yield tab
    finally:
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            shot = tmp_path / "failure.png"
            try:
                tab.screenshot(path=str(shot), full_page=True)
                print(f"\nscreenshot of the failure: {shot}")
            except Exception as error:  # the browser may be gone
                print(f"\nno failure screenshot: {error}")
        tab.close()
