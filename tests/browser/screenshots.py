"""Screenshots of Herald's main pages, for the docs and for reviewing the look (run by hand, not by pytest).

    .venv/bin/python -m tests.browser.screenshots docs/screenshots

Starts the app on a loopback port with a fresh database, fills it with a small demo project, and writes one
PNG per page into the folder given.
"""

import sys
import tempfile
from pathlib import Path

from flask import url_for
from playwright.sync_api import Page, sync_playwright
from werkzeug.routing import BuildError

from tests.browser.live import CHROMIUM, CHROMIUM_ARGS, LiveServer
from tests.smtp_server import dead_port
from webapp.extensions import db
from webapp.models import Robot
from webapp.notifications.delivery import send_test_message
from webapp.services import cases as case_service
from webapp.services import projects as project_service
from webapp.services import users as user_service
from webapp.services.cases import CaseInput

PASSWORD = "demo password 1"
ADMIN_EMAIL = "ada@example.com"

DEMO_CASES = [
    ("Log in with a correct password", "Account/Login", "P0", ["smoke", "login"]),
    ("Log in with a wrong password shows a neutral message", "Account/Login", "P1", ["login", "security"]),
    ("Reset a forgotten password by e-mail", "Account/Password", "P2", ["email"]),
    ("Pay by card with 3-D Secure", "Checkout/Payment", "P0", ["smoke", "payment"]),
    ("Apply a coupon code to the basket", "Checkout/Basket", "P2", ["promotion"]),
    ("Change the delivery address before paying", "Checkout/Address", "P3", []),
]


def fill_demo_data(server: LiveServer) -> dict[str, int]:
    """Users, two projects and a few cases with history; returns the ids the pages need."""
    with server.app.app_context():
        admin = user_service.create_user("Ada Admin", ADMIN_EMAIL, PASSWORD, role="admin")
        mei = user_service.create_user("Mei Member", "mei@example.com", PASSWORD, mobile="13800138000")
        lei = user_service.create_user("Li Lei", "lilei@example.com", PASSWORD)
        user_service.create_user("Otto Outsider", "otto@example.com", PASSWORD)
        project = project_service.create_project("Checkout", "The web shop's checkout and accounts", admin)
        project_service.add_member(project, mei)
        project_service.add_member(project, lei)
        project_service.create_project("Payments", "Card, wallet and bank transfer integrations", admin)
        created = []
        for title, module, priority, tags in DEMO_CASES:
            data = CaseInput(title=title, module=module, priority=priority, tags=tags, maintainer_id=mei.id)
            data.steps = "1. Open the shop\n2. Follow the path in the title\n3. Check the result"
            data.expected = "The shop behaves as the title says."
            created.append(case_service.create_case(project, admin, data))
        changed = created[2]
        edit = CaseInput.of(changed, priority="P1", tags=["email", "smoke"], follower_ids=[lei.id])
        case_service.update_case(changed, mei, edit)
        case_service.delete_case(created[-1], admin)
        robot = _demo_robots(project)
        failed = send_test_message(robot, "Herald test message", "Is anyone there?")
        return {
            "project_id": project.id,
            "case_id": created[0].id,
            "user_id": mei.id,
            "robot_id": robot.id,
            "delivery_id": failed.id,
        }


def _demo_robots(project) -> Robot:
    """Two robots; the DingTalk one points at a port where nothing listens, so its test message fails."""
    wecom = Robot(
        project_id=project.id,
        kind="wecom",
        name="QA group",
        webhook_url="https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa",
        events=["case.updated"],
    )
    dingtalk = Robot(
        project_id=project.id,
        kind="dingtalk",
        name="Release group",
        webhook_url=f"http://127.0.0.1:{dead_port()}/robot/send?access_token=5b1c2d3e4f5a6b7c8d9e",
        keywords=["用例通知"],
        secret="SEC0123456789abcdef",
        events=["case.deleted"],
    )
    db.session.add_all([wecom, dingtalk])
    db.session.commit()
    return dingtalk


def pages(ids: dict[str, int]) -> list[tuple[str, str, dict]]:
    """(file name, endpoint, arguments) of each page to capture, in reading order."""
    p, c, u = ids["project_id"], ids["case_id"], ids["user_id"]
    return [
        ("03-projects", "projects.index", {}),
        ("04-project-new", "projects.create", {}),
        ("05-cases", "cases.index", {"project_id": p}),
        ("06-case", "cases.view", {"project_id": p, "case_id": c}),
        ("07-case-new", "cases.create", {"project_id": p}),
        ("08-case-edit", "cases.edit", {"project_id": p, "case_id": c}),
        ("09-case-delete", "cases.delete", {"project_id": p, "case_id": c}),
        ("10-activity", "projects.activity", {"project_id": p}),
        ("11-members", "projects.members", {"project_id": p}),
        ("12-message-settings", "messages.settings", {"project_id": p}),
        ("13-message-template", "messages.template", {"project_id": p, "event": "case.updated"}),
        ("14-project-settings", "projects.edit", {"project_id": p}),
        ("15-users", "system.users", {}),
        ("16-user-new", "system.create_user", {}),
        ("17-user-edit", "system.edit_user", {"user_id": u}),
        ("18-profile", "auth.profile", {}),
        ("21-robots", "robots.index", {"project_id": p}),
        ("22-robot-edit", "robots.edit", {"project_id": p, "robot_id": ids["robot_id"]}),
        ("23-robot-nginx", "robots.nginx", {"project_id": p, "robot_id": ids["robot_id"]}),
        ("24-delivery-log", "deliveries.project_log", {"project_id": p}),
        ("25-delivery", "deliveries.project_detail", {"project_id": p, "delivery_id": ids["delivery_id"]}),
        ("26-mail-settings", "system.mail", {}),
        ("27-network", "system.network", {}),
    ]


def build_url(server: LiveServer, endpoint: str, values: dict) -> str | None:
    """The path of an endpoint, or None while that page does not exist yet."""
    with server.app.test_request_context():
        try:
            return url_for(endpoint, **values)
        except BuildError:
            return None


def log_in(page: Page, password: str = PASSWORD) -> None:
    """By field ids, not labels: this also runs in Chinese."""
    page.goto("/login")
    page.locator("#email").fill(ADMIN_EMAIL)
    page.locator("#password").fill(password)
    page.locator("form button[type=submit]").click()
    page.wait_for_load_state()


def shoot(page: Page, folder: Path, name: str) -> None:
    page.screenshot(path=folder / f"{name}.png", full_page=True)
    print(f"{name}.png  {page.url}")


def capture(server: LiveServer, folder: Path, ids: dict[str, int]) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 800})
        page = context.new_page()
        page.goto("/login")
        shoot(page, folder, "01-login")
        log_in(page, password="wrong")
        shoot(page, folder, "02-login-error")
        log_in(page)
        for name, endpoint, values in pages(ids):
            path = build_url(server, endpoint, values)
            if path is None:
                print(f"{name}: skipped, {endpoint} does not exist yet")
                continue
            page.goto(path)
            shoot(page, folder, name)
        path = build_url(server, "cases.create", {"project_id": ids["project_id"]})
        if path:
            page.goto(path)
            page.locator("main form button[type=submit]").click()
            shoot(page, folder, "19-case-new-errors")
        chinese = browser.new_context(
            base_url=server.url, viewport={"width": 1280, "height": 800}, locale="zh-CN"
        )
        page = chinese.new_page()
        log_in(page)
        path = build_url(server, "cases.index", {"project_id": ids["project_id"]})
        page.goto(path or "/projects/")
        shoot(page, folder, "20-cases-zh")
        browser.close()


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__)
        return 2
    folder = Path(argv[1])
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        server = LiveServer(Path(scratch))
        ids = fill_demo_data(server)
        server.start()
        try:
            capture(server, folder, ids)
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
