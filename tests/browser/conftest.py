"""Browser fixtures: the real app on a loopback port, and Debian's Chromium driven by Playwright (sync)."""

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from tests.browser.live import CHROMIUM, CHROMIUM_ARGS, LiveServer
from tests.conftest import PASSWORD
from webapp.services import users as user_service

ADMIN_NAME = "Ada Admin"
ADMIN_EMAIL = "ada@example.com"
# Screenshots of failed tests land here (gitignored).
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Remember a failure, so the page fixture can take a screenshot before it closes the browser."""
    report = yield
    if report.failed:
        item.stash[FAILED] = True
    return report


@pytest.fixture(scope="session")
def live_server(tmp_path_factory):
    """The app on its own migrated database, with CSRF on and one administrator."""
    server = LiveServer(tmp_path_factory.mktemp("live"))
    with server.app.app_context():
        user_service.create_user(ADMIN_NAME, ADMIN_EMAIL, PASSWORD, role="admin")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Debian's Chromium is not installed ({CHROMIUM}); `make test` installs it")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def new_page(browser, live_server, request):
    """Open a page in a fresh browser context (own cookies); options go to new_context, e.g. locale."""
    contexts = []
    problems: list[str] = []

    def open_page(**options) -> Page:
        options.setdefault("locale", "en-US")
        context = browser.new_context(base_url=live_server.url, **options)
        context.set_default_timeout(5_000)
        contexts.append(context)
        page = context.new_page()
        page.on("response", lambda r: r.status >= 500 and problems.append(f"{r.status} {r.url}"))
        page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
        # Anything the Content-Security-Policy refuses is reported on the console.
        page.on("console", lambda m: "Content Security Policy" in m.text and problems.append(m.text))
        return page

    yield open_page
    if request.node.stash.get(FAILED, False):
        _screenshot(request.node.name, contexts)
    for context in contexts:
        context.close()
    assert not problems, f"the server or a script failed during the test: {problems}"


@pytest.fixture
def page(new_page) -> Page:
    return new_page()


def _screenshot(test_name: str, contexts) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", test_name)
    for i, context in enumerate(contexts):
        for j, page in enumerate(context.pages):
            page.screenshot(path=ARTIFACTS / f"{stem}-{i}-{j}.png", full_page=True)


def log_in(page: Page, email: str = ADMIN_EMAIL, password: str = PASSWORD) -> None:
    """Log in through the login form and land on the projects page."""
    page.goto("/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Projects", level=1)).to_be_visible()
