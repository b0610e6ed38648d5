"""Herald in a real browser: log in, set up a project, change a case, read what happened."""

import re

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import ADMIN_EMAIL, log_in

pytestmark = pytest.mark.browser

NEUTRAL_LOGIN_ERROR = "Wrong e-mail or password, or the account is disabled."


def test_wrong_password_shows_the_neutral_message(page: Page):
    for email in (ADMIN_EMAIL, "nobody@example.com"):
        page.goto("/login")
        page.get_by_label("E-mail").fill(email)
        page.get_by_label("Password", exact=True).fill("not the password")
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("alert")).to_have_text(NEUTRAL_LOGIN_ERROR)
        expect(page.get_by_role("heading", name="Log in to Herald")).to_be_visible()
    page.goto("/projects/")
    expect(page).to_have_url("/login?next=%2Fprojects%2F")


def test_language_follows_the_browser(new_page):
    chinese = new_page(locale="zh-CN")
    chinese.goto("/login")
    expect(chinese.locator("html")).to_have_attribute("lang", "zh-CN")
    english = new_page(locale="en-GB")
    english.goto("/login")
    expect(english.locator("html")).to_have_attribute("lang", "en")
    log_in(english)
    expect(english.locator("html")).to_have_attribute("lang", "en")


def flash(page: Page) -> Locator:
    """The message the last action left at the top of the page."""
    return page.locator("main .flash")


def create_case(page: Page, title: str, module: str, priority: str, tags: str, maintainer: str) -> int:
    """Fill the new-case form from the case list; returns the new case's number."""
    page.get_by_role("link", name="New case").first.click()
    page.get_by_label("Title").fill(title)
    page.get_by_label("Module").fill(module)
    page.get_by_label("Priority").select_option(priority)
    page.get_by_label("Tags").fill(tags)
    page.get_by_label("Maintainer").select_option(label=maintainer)
    page.get_by_role("button", name="Create case").click()
    expect(page.get_by_role("heading", name=title, level=1)).to_be_visible()
    expect(flash(page)).to_have_text(re.compile(r"^Case #\d+ is created\.$"))
    return int(re.search(r"#(\d+)", flash(page).inner_text()).group(1))


def test_administrator_walks_through_a_case_from_creation_to_deletion(page: Page):
    log_in(page)

    # A project; its creator lands on its (empty) case list.
    page.get_by_role("link", name="New project").first.click()
    page.get_by_label("Name", exact=True).fill("Checkout")
    page.get_by_label("Description").fill("The web shop's checkout")
    page.get_by_role("button", name="Create project").click()
    expect(flash(page)).to_have_text("Project Checkout is created.")
    expect(page.get_by_role("heading", name="Functional cases")).to_be_visible()

    # A new colleague, through System settings → Users.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="System settings").click()
    page.get_by_role("link", name="New user").click()
    page.get_by_label("Name", exact=True).fill("Mei Member")
    page.get_by_label("E-mail").fill("mei@example.com")
    page.get_by_label("Mobile phone").fill("13800138000")
    page.get_by_label("Role").select_option(label="Member")
    page.get_by_label("Initial password").fill("mei's own password")
    page.get_by_label("Repeat the password").fill("mei's own password")
    page.get_by_role("button", name="Create user").click()
    expect(flash(page)).to_contain_text("User Mei Member is created.")
    expect(page.get_by_role("cell", name="mei@example.com")).to_be_visible()

    # ... who joins the project.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Projects").click()
    page.get_by_role("link", name="Checkout", exact=True).click()
    project = page.get_by_role("complementary", name="Project")
    project.get_by_role("link", name="Members").click()
    page.get_by_label("User", exact=True).select_option(label="Mei Member <mei@example.com>")
    page.get_by_role("button", name="Add member").click()
    expect(flash(page)).to_have_text("Mei Member is now a member.")
    expect(page.get_by_role("cell", name="Mei Member")).to_be_visible()

    # Two cases: the one we follow, and one the search must leave out.
    project.get_by_role("link", name="Functional cases").click()
    title = "Pay by card with 3-D Secure"
    number = create_case(page, title, "Checkout / Payment", "P2", "smoke, payment", "Mei Member")
    details = page.locator("dl.details").first
    expect(details).to_contain_text("Checkout/Payment")
    expect(details.locator(".tag")).to_have_text(["smoke", "payment"])
    expect(details).to_contain_text("Mei Member")
    project.get_by_role("link", name="Functional cases").click()
    create_case(page, "Apply a coupon code", "Checkout/Basket", "P3", "promotion", "Nobody")

    # Searching filters the table as one types, without loading a new page.
    project.get_by_role("link", name="Functional cases").click()
    page.wait_for_load_state()  # htmx starts with the page; a robot types faster than people
    table = page.locator("#cases-table")
    expect(table.get_by_role("link")).to_have_count(2)
    page.evaluate("window.stillTheSamePage = true")
    page.get_by_role("searchbox", name="Search").press_sequentially("3-D sec")
    expect(table.get_by_role("link", name="Apply a coupon code")).to_have_count(0)
    expect(table.get_by_role("link")).to_have_text([title])
    expect(page).to_have_url(re.compile(r"[?&]q=3-D(%20|\+)sec"))
    assert page.evaluate("window.stillTheSamePage") is True

    # Edit: priority P2 → P0.
    table.get_by_role("link", name=title).click()
    page.get_by_role("link", name="Edit", exact=True).click()
    expect(page.get_by_label("Priority")).to_have_value("P2")
    page.get_by_label("Priority").select_option("P0")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(flash(page)).to_have_text(f"Case #{number} is saved.")
    expect(page.locator("dl.details .badge").first).to_have_text("P0")

    # Delete, after the confirmation dialog.
    questions = []
    page.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.accept()))
    page.get_by_role("button", name="Delete", exact=True).click()
    expect(flash(page)).to_have_text(f"Case #{number} “{title}” is deleted.")
    assert title in questions[0]
    expect(page.get_by_role("heading", name="Functional cases")).to_be_visible()
    expect(page.locator("#cases-table").get_by_role("link", name=title)).to_have_count(0)

    # The Activity page tells the story, newest first.
    project.get_by_role("link", name="Activity").click()
    story = page.locator("ol.events > li").filter(has_text=f"case #{number}")
    expect(story).to_have_count(3)
    expect(story.nth(0)).to_contain_text(f"Ada Admin deleted case #{number} {title}")
    expect(story.nth(1)).to_contain_text(f"Ada Admin updated case #{number} {title}")
    expect(story.nth(1).locator("ul.change > li")).to_have_count(1)
    expect(story.nth(1).locator("ul.change > li")).to_contain_text("Priority")
    expect(story.nth(1).get_by_role("deletion")).to_have_text("P2")
    expect(story.nth(1).get_by_role("insertion")).to_have_text("P0")
    expect(story.nth(2)).to_contain_text(f"Ada Admin created case #{number} {title}")
