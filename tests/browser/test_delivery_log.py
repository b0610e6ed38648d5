"""The Delivery log in a browser: a failing robot shows "Retrying", then "Sent" once it is back, by itself."""

import re
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import ADMIN_EMAIL, log_in
from webapp.extensions import db
from webapp.models import Delivery, Project, Robot, User
from webapp.models._types import utcnow
from webapp.services import cases as case_service
from webapp.services import projects as project_service
from webapp.services import users as user_service
from webapp.services.cases import CaseInput

pytestmark = pytest.mark.browser

PROJECT = "Gift cards"
TITLE = "Redeem a gift card at checkout"


@pytest.fixture
def gift_cards(live_server, wecom_emulator, monkeypatch):
    """A project whose WeCom robot posts case.created; retries come five seconds apart."""
    monkeypatch.setitem(live_server.app.config, "NOTIFICATIONS_BACKOFF", (5, 5))
    with live_server.app.app_context():
        admin = user_service.find_by_email(ADMIN_EMAIL)
        project = project_service.create_project(PROJECT, "Selling and redeeming gift cards", admin)
        robot = Robot(
            project_id=project.id,
            kind="wecom",
            name="Payments group",
            webhook_url=wecom_emulator.url,
            events=["case.created"],
        )
        db.session.add(robot)
        db.session.commit()
        return project.id, admin.id


def _save_case(live_server, project_id: int, admin_id: int) -> None:
    """Someone saves a case; its message is tried at once (the live server delivers inline)."""
    with live_server.app.app_context():
        project, admin = db.session.get(Project, project_id), db.session.get(User, admin_id)
        case_service.create_case(project, admin, CaseInput(title=TITLE))


def _retry_comes_due_and_the_sweeper_ticks(live_server, project_id: int) -> None:
    with live_server.app.app_context():
        for delivery in db.session.scalars(db.select(Delivery).where(Delivery.project_id == project_id)):
            delivery.next_attempt_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
        live_server.app.extensions["herald.dispatcher"].sweep()


def test_a_failing_robot_shows_retrying_then_sent_without_a_reload(
    page: Page, live_server, wecom_emulator, gift_cards
):
    project_id, admin_id = gift_cards
    wecom_emulator.take_down()  # the gateway in front of WeCom answers 502
    _save_case(live_server, project_id, admin_id)

    log_in(page)
    page.get_by_role("link", name=PROJECT, exact=True).click()
    page.get_by_role("complementary", name="Project").get_by_role("link", name="Delivery log").click()
    expect(page.get_by_role("heading", name="Delivery log", level=1)).to_be_visible()
    row = page.get_by_role("row").filter(has_text=TITLE)
    expect(row.locator(".badge")).to_have_text("Retrying")
    expect(row).to_contain_text("could not reach")  # the cause, in words
    page.evaluate("window.stillTheSamePage = true")

    wecom_emulator.bring_up()
    _retry_comes_due_and_the_sweeper_ticks(live_server, project_id)

    expect(row.locator(".badge")).to_have_text("Sent", timeout=10_000)  # the row asks every 2 seconds
    expect(row.get_by_role("cell").nth(5)).to_have_text("2")
    assert page.evaluate("window.stillTheSamePage") is True
    assert len(wecom_emulator.messages) == 1 and TITLE in wecom_emulator.messages[0].text

    row.get_by_role("link", name=re.compile(TITLE)).click()
    expect(page.locator("#delivery-status .badge").first).to_have_text("Sent")
    expect(page.locator("article.attempt")).to_have_count(2)
