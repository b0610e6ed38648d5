"""Robots in a browser: a Feishu robot with a keyword and signing, tried with Send test message."""

import re

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import ADMIN_EMAIL, log_in
from webapp.services import projects as project_service
from webapp.services import users as user_service

pytestmark = pytest.mark.browser

PROJECT = "Loyalty points"
ROBOT = "QA group"
KEYWORD = "用例通知"  # as set in the group's robot security settings; the probe text never contains it
SECRET = "feishu-group-signing-secret"


@pytest.fixture
def loyalty(live_server):
    with live_server.app.app_context():
        admin = user_service.find_by_email(ADMIN_EMAIL)
        project_service.create_project(PROJECT, "Points earned and spent at checkout", admin)


def robot_card(page: Page) -> Locator:
    return page.get_by_role("article", name=re.compile(f"^{ROBOT}"))


def send_test_message(page: Page) -> Locator:
    """Click Send test message on the robot's card; returns where the outcome shows."""
    card = robot_card(page)
    card.get_by_role("button", name="Send test message").click()
    expect(card.locator(".spinner")).not_to_have_class(re.compile(r"\bhtmx-request\b"))
    return card.locator(".result")


def test_feishu_robot_delivers_then_explains_a_keyword_mismatch(page: Page, feishu_emulator, loyalty):
    group = feishu_emulator.robot
    group.keywords, group.secret = [KEYWORD], SECRET
    log_in(page)
    page.get_by_role("link", name=PROJECT, exact=True).click()
    project = page.get_by_role("complementary", name="Project")
    project.get_by_role("link", name="Robots").click()
    expect(page.get_by_role("heading", name="Robots", level=1)).to_be_visible()

    # The robot as the Feishu group's settings show it: its address, keyword and secret.
    page.get_by_role("link", name="Add robot").first.click()
    page.get_by_label("Kind").select_option(label="Feishu")
    page.get_by_label("Name").fill(ROBOT)
    page.get_by_label("Webhook address").fill(feishu_emulator.url)
    page.get_by_label("Custom keywords").fill(KEYWORD)
    page.get_by_label("Signing secret").fill(SECRET)
    page.get_by_role("button", name="Add robot").click()
    expect(page.locator("main .flash").first).to_have_text(f"Robot “{ROBOT}” is added.")
    card = robot_card(page)
    expect(card).to_contain_text("On (secret set)")
    expect(card.locator(".tag")).to_have_text([KEYWORD])

    result = send_test_message(page)
    expect(result).to_contain_text("Delivered: the group received the test message.")
    assert len(group.messages) == 1
    assert KEYWORD in group.messages[0].text
    assert group.messages[0].payload["sign"]

    # Someone changes the keyword here but not in the group: Feishu refuses with 19024, and Herald says why.
    card.get_by_role("link", name="Edit").click()
    expect(page.get_by_label("Signing secret")).to_have_value("")
    page.get_by_label("Custom keywords").fill("发布通知")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator("main .flash").first).to_have_text(f"Robot “{ROBOT}” is saved.")

    result = send_test_message(page)
    expect(result).to_contain_text("Not delivered.")
    expect(result.locator(".badge")).to_have_text("Code 19024")
    expect(result).to_contain_text("Keyword missing")
    expect(result).to_contain_text("The robot's keywords in Herald are: 发布通知")
    expect(result).to_contain_text("Herald adds the first keyword to every message")
    raw = result.locator("pre").first
    expect(raw).to_be_hidden()
    result.get_by_text("The reply and the request (secrets masked)").click()
    expect(raw).to_contain_text("Key Words Not Found")
    assert len(group.messages) == 1
    assert SECRET not in page.content()
