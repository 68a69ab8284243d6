"""End-to-end tests: Debian's Chromium, driven by Playwright, against the live server.

- The live server is pytest-django's, over TLS (``servers.py``): the service at
  ``https://localhost:<port>`` (``BASE_URL``), the development IdP at ``https://127.0.0.1:<port>``
  (another site, like a real IdP). Debug stays off: the pages, cookies and checks are
  production's. The development IdP is switched on by a setting that is not read from the
  environment (``DEV_IDP_ENABLED``; tests/connections/test_demo.py proves production never
  serves it).
- The browser runs in a thread of its own (``browser.py``, which says why).
- Every test fails on a console error, a script error or a CSP violation on any of its pages
  (``checks.py``), and saves a screenshot of each page it had open when it fails, into
  ``var/e2e-screenshots/`` (or ``$E2E_SCREENSHOTS``).
- Without Chromium (``chromium`` on PATH) the tests are skipped, saying so; with
  ``E2E_REQUIRED=1`` (CI) they fail instead.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.test import override_settings

from tests.commands import run_command
from tests.e2e.browser import BrowserThread, Remote
from tests.e2e.checks import watch
from tests.e2e.servers import HttpsLiveServer, start_https_live_server

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = Path(os.environ.get("E2E_SCREENSHOTS") or PROJECT_ROOT / "var" / "e2e-screenshots")

# Headless, as root in a sandbox (no user namespaces: --no-sandbox), and quiet on a closed
# network: no background, component, sync or QUIC traffic. Each launch gets a fresh temporary
# profile (Playwright's user-data dir), each test fresh browser contexts.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
DESKTOP = {"width": 1280, "height": 900}

_reports = pytest.StashKey[dict]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    item.stash.setdefault(_reports, {})[report.when] = report
    return report


@pytest.fixture(scope="session")
def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        reason = (
            "Chromium is not installed: the end-to-end tests need Debian's package chromium "
            "(sudo apt-get install chromium)"
        )
        if os.environ.get("E2E_REQUIRED") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


@pytest.fixture(scope="session")
def live_https(django_db_setup, tmp_path_factory) -> HttpsLiveServer:
    server = start_https_live_server(tmp_path_factory.mktemp("e2e-tls"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser_thread(chromium, live_https):
    thread = BrowserThread()
    browser = thread.call(
        thread.playwright.chromium.launch,
        executable_path=chromium,
        headless=True,
        args=[*CHROMIUM_ARGS, f"--ignore-certificate-errors-spki-list={live_https.spki_hash()}"],
    )
    yield thread, browser
    thread.call(browser.close)
    thread.stop()


@dataclass
class Site:
    server: HttpsLiveServer

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def idp_url(self) -> str:
        return f"{self.server.idp_origin}/dev-idp/sso/"


@pytest.fixture
def site(settings, chromium, live_https, tmp_path) -> Site:
    settings.BASE_URL = live_https.url
    settings.ALLOWED_HOSTS = ["localhost", "127.0.0.1"]
    settings.DEV_IDP_ENABLED = True
    settings.DEV_IDP_ORIGIN = live_https.idp_origin
    settings.BASE_DIR = tmp_path  # the development IdP's key: var/dev-idp/ of this test
    # Production's cookies: the live server speaks https.
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = True
    return Site(server=live_https)


@dataclass
class Demo:
    output: str
    admin_url: str
    email: str
    password: str


@pytest.fixture
def demo(site) -> Demo:
    """What `make run` seeds: `manage.py demo`, which runs only in debug (as make run does)."""
    with override_settings(DEBUG=True):
        output = run_command("demo")

    def line(label: str) -> str:
        return re.search(rf"^  {label}: +(\S+)", output, re.M).group(1)

    return Demo(output, admin_url=line("Admin"), email=line("Email"), password=line("Password"))


@pytest.fixture
def browser(browser_thread, site, request):
    """``browser()`` opens a page in a new browser context (a person with their own cookies)."""
    thread, chromium = browser_thread
    opened = []

    def open_page() -> Remote:
        def new_page():
            context = chromium.new_context(
                base_url=site.url, viewport=DESKTOP, accept_downloads=False
            )
            context.set_default_timeout(15_000)
            problems = watch(context)
            opened.append((context, problems))
            return context.new_page()

        return thread.remote(thread.call(new_page))

    yield open_page

    reports = request.node.stash.get(_reports, {})
    failed = any(report.failed for report in reports.values())
    problems = []
    for number, (context, watched) in enumerate(opened):
        if failed:
            thread.call(_screenshots, context, request.node.name, number)
        problems += watched.report()
        thread.call(context.close)
    if problems:
        message = "The browser saw problems:\n" + "\n".join(problems)
        if failed:
            print(message)  # shown with the failure; the test failed already
        else:
            pytest.fail(message, pytrace=False)


def _screenshots(context, test_name: str, number: int) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", test_name)
    for index, page in enumerate(context.pages):
        path = SCREENSHOTS / f"{stem}-{number}-{index}.png"
        page.screenshot(path=str(path), full_page=True)
