"""The Content-Security-Policy in a real browser: Herald's pages run under it, an injected script does not."""

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import log_in

pytestmark = pytest.mark.browser


def test_an_inline_script_injected_into_a_page_is_refused(browser, live_server):
    context = browser.new_context(base_url=live_server.url)
    try:
        page = context.new_page()
        violations = []
        page.on("console", lambda m: "Content Security Policy" in m.text and violations.append(m.text))
        log_in(page)
        page.evaluate(
            """() => {
                const script = document.createElement("script");
                script.textContent = "window.injectedRan = true;";
                document.body.appendChild(script);
                const img = document.createElement("img");
                img.setAttribute("onerror", "window.handlerRan = true;");
                img.src = "/no-such-image.png";
                document.body.appendChild(img);
            }"""
        )
        page.wait_for_timeout(300)
        assert page.evaluate("window.injectedRan") is None
        assert page.evaluate("window.handlerRan") is None
        assert any("script-src" in text for text in violations), violations
    finally:
        context.close()


def test_herald_pages_break_no_rule_of_the_policy(new_page, live_server):
    page = new_page()
    violations = []
    page.on("console", lambda m: "Content Security Policy" in m.text and violations.append(m.text))
    log_in(page)
    for path in ("/projects/", "/system/users", "/system/mail", "/system/audit", "/profile", "/projects/new"):
        page.goto(path)
        expect(page.locator("main h1")).to_be_visible()
    # htmx works under the policy: the user search swaps the table in place.
    page.goto("/system/users")
    page.get_by_label("Search by name or e-mail").fill("ada")
    expect(page.locator("#users-table")).to_contain_text("ada@example.com")
    # Herald's own script works under it: a well-known port proposes its security mode.
    page.goto("/system/mail")
    port = page.get_by_role("spinbutton", name="Port")
    port.fill("587")
    port.dispatch_event("change")
    expect(page.get_by_label("STARTTLS (usually port 587)")).to_be_checked()
    assert violations == []
