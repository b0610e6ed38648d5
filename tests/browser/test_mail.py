"""E-mail in a browser: Mail settings tried on a real SMTP server, then a new case mails its maintainer."""

import re
import time

import pytest
from playwright.sync_api import Locator, Page, Route, expect

from tests.browser.conftest import ADMIN_EMAIL, log_in
from tests.conftest import PASSWORD
from tests.smtp_server import ACCOUNT, HOST, SmtpServer
from webapp.services import projects as project_service
from webapp.services import users as user_service

pytestmark = pytest.mark.browser

PROJECT = "Refunds"
MEMBER = "Li Lei"
MEMBER_ADDRESS = "li.lei@herald-team.cn"


@pytest.fixture
def refunds(live_server):
    """A project whose member Li Lei still has a placeholder address that no mail can reach."""
    with live_server.app.app_context():
        admin = user_service.find_by_email(ADMIN_EMAIL)
        member = user_service.create_user(MEMBER, "lilei@example.com", PASSWORD)
        project = project_service.create_project(PROJECT, "Money back for cancelled orders", admin)
        project_service.add_member(project, member)


def flash(page: Page) -> Locator:
    return page.locator("main .flash")


def wait_for_mail(server: SmtpServer, seconds: float = 5) -> list:
    """What the server received, once something arrived or the time is up."""
    deadline = time.monotonic() + seconds
    while not server.received and time.monotonic() < deadline:
        time.sleep(0.05)
    return server.received


def test_mail_settings_then_a_new_case_mails_its_maintainer(
    page: Page, starttls_server, certificate, refunds
):
    log_in(page)
    main_nav = page.get_by_role("navigation", name="Main")
    system = page.get_by_role("complementary", name="System settings")
    main_nav.get_by_role("link", name="System settings").click()
    system.get_by_role("link", name="Mail settings").click()
    expect(page.get_by_role("heading", name="Mail settings", level=1)).to_be_visible()

    # The values of the company's server, with the account password instead of the authorization code.
    page.get_by_label("SMTP host").fill(HOST)
    page.get_by_label("Port", exact=True).fill(str(starttls_server.port))
    page.get_by_label("STARTTLS (usually port 587)").check()
    page.get_by_label("Account", exact=True).fill(ACCOUNT[0])
    page.get_by_label("Password or authorization code").fill("my-mailbox-password")
    page.get_by_label("Sender address").fill(ACCOUNT[0])
    page.get_by_label("Sender name").fill("Herald")
    page.get_by_label("Timeout (seconds)").fill("5")
    page.get_by_label("Language of the default templates").select_option(label="English")
    page.get_by_text("Certificates (for an intranet server with its own CA)").click()
    page.get_by_label("Trusted CA certificate (PEM, optional)").fill(certificate.pem)

    result = page.locator("#mail-result")
    page.get_by_role("button", name="Test connection").click()
    expect(result).to_contain_text("Test connection failed")
    expect(result).to_contain_text("The server refused the account or the password.")
    expect(result).to_contain_text("Use the authorization code, not the account password")
    raw = result.locator("pre")
    expect(raw).to_be_hidden()
    result.get_by_text("The server's reply").click()
    expect(raw).to_be_visible()
    expect(raw).to_contain_text("535 Login Fail. Please enter your authorization code to login.")
    assert starttls_server.received == []

    # With the authorization code it works; the spinner shows while the request is on its way.
    page.get_by_label("Password or authorization code").fill(ACCOUNT[1])
    spinner = page.locator("#mail-spinner")
    held: list[Route] = []
    page.route(re.compile(r"/system/mail$"), lambda route: held.append(route))
    page.get_by_role("button", name="Test connection").click()
    expect(spinner).to_have_class(re.compile(r"\bhtmx-request\b"))
    expect(spinner).to_have_css("opacity", "1")
    expect(page.get_by_role("button", name="Test connection")).to_be_disabled()
    held[0].continue_()
    page.unroute(re.compile(r"/system/mail$"))
    expect(result).to_contain_text(re.compile(r"Test connection succeeded\s+in \d+\.\d\d s"))
    expect(result).to_contain_text("Connected over an encrypted connection and logged in.")
    expect(spinner).not_to_have_class(re.compile(r"\bhtmx-request\b"))
    expect(spinner).to_have_css("opacity", "0")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(flash(page)).to_have_text("Mail settings are saved.")
    expect(page.get_by_label("Password or authorization code")).to_have_value("")
    expect(page.get_by_label("SMTP host")).to_have_value(HOST)

    # Li Lei gets his real address.
    system.get_by_role("link", name="Users").click()
    page.get_by_role("link", name=MEMBER, exact=True).click()
    page.get_by_label("E-mail").fill(MEMBER_ADDRESS)
    page.get_by_role("button", name="Save user").click()
    expect(flash(page)).to_contain_text(f"User {MEMBER} is saved.")
    expect(page.get_by_role("row").filter(has_text=MEMBER)).to_contain_text(MEMBER_ADDRESS)

    # The project mails the maintainer when a case is created.
    main_nav.get_by_role("link", name="Projects").click()
    page.get_by_role("link", name=PROJECT, exact=True).click()
    project = page.get_by_role("complementary", name="Project")
    project.get_by_role("link", name="Message settings").click()
    created = page.get_by_role("row").filter(has=page.get_by_role("rowheader", name="Case created"))
    created.get_by_label("Send e-mail").check()
    receivers = created.get_by_role("group", name="Receivers of “Case created”")
    receivers.get_by_label("Maintainer").check()
    receivers.get_by_label("Followers").uncheck()
    page.get_by_role("button", name="Save message settings").click()
    expect(flash(page)).to_have_text("Message settings are saved.")
    expect(created.get_by_label("Send e-mail")).to_be_checked()
    expect(receivers.get_by_role("checkbox", checked=True)).to_have_count(1)
    expect(receivers.get_by_label("Maintainer")).to_be_checked()

    # A new case with Li Lei as its maintainer.
    title = "Refund a cancelled order to the original card"
    project.get_by_role("link", name="Functional cases").click()
    page.get_by_role("link", name="New case").first.click()
    page.get_by_label("Title").fill(title)
    page.get_by_label("Maintainer").select_option(label=MEMBER)
    page.get_by_role("button", name="Create case").click()
    expect(page.get_by_role("heading", name=title, level=1)).to_be_visible()

    received = wait_for_mail(starttls_server)
    assert len(received) == 1, [(m.rcpt_tos, m.message["Subject"]) for m in received]
    mail = received[0]
    assert mail.rcpt_tos == [MEMBER_ADDRESS]
    assert mail.mail_from == ACCOUNT[0]
    assert (mail.login, mail.encrypted) == (ACCOUNT[0], True)
    assert title in mail.message["Subject"]
    assert MEMBER_ADDRESS in mail.message["To"]
