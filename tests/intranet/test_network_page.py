"""System settings → Network in a browser: an administrator tries a real proxy with Test, then saves it."""

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import log_in
from tests.intranet.conftest import PROXY_LOGIN

pytestmark = pytest.mark.browser


def open_network(page: Page) -> None:
    log_in(page)
    page.get_by_role("link", name="System settings").click()
    page.get_by_role("link", name="Network").click()
    expect(page.get_by_role("heading", name="Network", level=1)).to_be_visible()


def test_an_administrator_tests_the_proxy_then_saves_it(page: Page, live_server, tinyproxy_with_login):
    open_network(page)
    page.get_by_label("Proxy address").fill(tinyproxy_with_login.url)
    page.get_by_label("Address to reach").fill(f"{live_server.url}/login")
    page.get_by_role("button", name="Test").click()
    result = page.locator("#network-result")
    expect(result).to_contain_text("The proxy asks for a user name and password (HTTP 407)")
    expect(page.locator("h1")).to_have_count(1)  # the result box was swapped in, not a whole page

    page.get_by_label("User name").fill(PROXY_LOGIN[0])
    page.get_by_label("Password", exact=True).fill(PROXY_LOGIN[1])
    page.get_by_role("button", name="Test").click()
    expect(result).to_contain_text("answered with HTTP 200: the way there works")
    expect(result).to_contain_text(f"through the proxy http://{PROXY_LOGIN[0]}@127.0.0.1:")

    page.get_by_role("button", name="Save").click()
    expect(page.locator("main .flash")).to_contain_text("Network settings are saved.")
    expect(page.get_by_label("Proxy address")).to_have_value(tinyproxy_with_login.url)
    expect(page.get_by_label("Password", exact=True)).to_have_attribute(
        "placeholder", "A password is set: leave empty to keep it"
    )
    assert PROXY_LOGIN[1] not in page.content()
    # Put back: the live server is shared with other browser tests.
    with live_server.app.app_context():
        from webapp.services import network as network_service

        network_service.save_network_settings({"proxy_url": "", "proxy_username": ""}, clear_password=True)
