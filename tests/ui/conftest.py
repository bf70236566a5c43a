"""Fixtures of the browser tests: the release's web service and headless Chromium (Playwright)."""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, Playwright, ViewportSize, sync_playwright

from tests.airflow_env import WEB_SERVICE, AirflowEnv

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


#: Set to a directory (``scripts/refresh_screenshots.sh`` sets ``docs/``) to write the screenshots there.
SCREENSHOTS_ENV = "MILVUS_UI_SCREENSHOTS"


@pytest.fixture(scope="session")
def screenshot_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the form's screenshots go: under the pytest basetemp (never the checkout) unless asked for."""
    chosen = os.environ.get(SCREENSHOTS_ENV)
    path = Path(chosen).resolve() if chosen else tmp_path_factory.getbasetemp() / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots of the connection form go to {path}")
    return path


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
