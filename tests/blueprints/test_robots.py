"""Project settings → Robots as a user sees them: list, add, edit, delete, test message, nginx forward."""

import html
import re

import pytest
from sqlalchemy import func, select

from tests.conftest import HTMX
from webapp.extensions import db
from webapp.models import Delivery, Robot
from webapp.services import projects as project_service
from webapp.services import robots as robot_service
from webapp.services.robots import RobotInput

pytest_plugins = ["tests.emulators.fixtures"]

TOKEN = "8a0c7d1e-55b1-4f0a-9a57-1d2e3f4a5b6c"
SECRET = "feishu-signing-secret"
FEISHU_URL = f"https://open.feishu.cn/open-apis/bot/v2/hook/{TOKEN}"
WECOM_KEY = "693a91f6-7aaa-4bc4-97a0-0ec2sifa5aaa"


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def field_error(response, field: str) -> str | None:
    """The error shown right after the field, if any."""
    found = re.search(rf'<p class="error" id="{field}-error">([^<]*)</p>', response.get_data(as_text=True))
    return html.unescape(found.group(1)) if found else None


def robot_count() -> int:
    return db.session.scalar(select(func.count(Robot.id)))


def add_robot(project, **changes) -> Robot:
    values = dict(kind="feishu", name="QA group", webhook_url=FEISHU_URL, keywords="测试用例", secret=SECRET)
    values.update(changes)
    return robot_service.create_robot(project, RobotInput(**values)).robot


def form(**changes) -> dict:
    data = {
        "kind": "feishu",
        "name": "QA group",
        "webhook_url": FEISHU_URL,
        "keywords": "测试用例\nHerald",
        "secret": SECRET,
        "style": "text",
        "enabled": "y",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


@pytest.fixture
def url(project):
    return f"/projects/{project.id}/robots"


@pytest.fixture
def robot(project):
    return add_robot(project)


def assert_no_secrets(page: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in page


# --- the list ---------------------------------------------------------------------------------------------


def test_the_list_shows_each_robot_masked(admin_client, url, robot):
    robot.events = ["case.deleted"]
    db.session.commit()
    page = text(admin_client.get(f"{url}/"))
    assert "QA group" in page and "Feishu" in page and "测试用例" in page
    assert "https://open.feishu.cn/open-apis/bot/v2/hook/8a0c****" in page
    assert "On (secret set)" in page and "Case deleted" in page and "Enabled" in page
    assert "open_id" in page  # Feishu cannot mention by mobile: the page says so
    assert_no_secrets(page, TOKEN, SECRET)


def test_the_sidebar_links_to_robots(admin_client, project):
    page = text(admin_client.get(f"/projects/{project.id}/messages"))
    assert f'href="/projects/{project.id}/robots/"' in page


def test_an_empty_list_invites_to_add_one(admin_client, url):
    page = text(admin_client.get(f"{url}/"))
    assert "no robot yet" in page and f'href="{url}/new"' in page


def test_htmx_gets_the_list_alone(admin_client, url, robot):
    response = admin_client.get(f"{url}/", headers=HTMX)
    assert response.status_code == 200 and "<html" not in text(response) and 'id="robots"' in text(response)


# --- authorization ----------------------------------------------------------------------------------------


def test_members_see_the_robots_but_no_controls(member_client, url, robot):
    response = member_client.get(f"{url}/")
    page = text(response)
    assert response.status_code == 200 and "QA group" in page
    assert "Send test message" not in page and "Add robot" not in page and "/edit" not in page
    assert_no_secrets(page, TOKEN, SECRET)
    assert member_client.get(f"{url}/{robot.id}/nginx").status_code == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/new"),
        ("post", "/{id}/edit"),
        ("post", "/{id}/delete"),
        ("post", "/{id}/enable"),
        ("post", "/{id}/disable"),
        ("post", "/{id}/test"),
        ("post", "/{id}/nginx"),
    ],
)
def test_members_cannot_change_robots(member_client, url, robot, method, path):
    response = getattr(member_client, method)(url + path.format(id=robot.id), data=form(name="Hijacked"))
    assert response.status_code == 403
    assert db.session.get(Robot, robot.id).name == "QA group" and robot_count() == 1


@pytest.mark.parametrize("path", ["/new", "/{id}/edit", "/{id}/delete"])
def test_members_following_a_form_link_are_told_they_cannot_change(member_client, url, robot, path):
    response = member_client.get(url + path.format(id=robot.id), follow_redirects=True)
    assert response.status_code == 200 and "Only administrators can change robots." in text(response)
    assert response.request.path == f"{url}/" and robot_count() == 1


@pytest.mark.parametrize("path", ["/", "/new", "/{id}/edit", "/{id}/nginx", "/{id}/delete"])
def test_outsiders_get_404(outsider_client, url, robot, path):
    assert outsider_client.get(url + path.format(id=robot.id)).status_code == 404
    assert outsider_client.post(f"{url}/{robot.id}/test").status_code == 404


def test_anonymous_visitors_are_sent_to_log_in(client, url, robot):
    response = client.get(f"{url}/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    response = client.post(f"{url}/{robot.id}/test")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_another_projects_robot_is_not_found(admin_client, admin, project, robot):
    other = project_service.create_project("Payments", creator=admin)
    for path in ("edit", "nginx", "delete"):
        assert admin_client.get(f"/projects/{other.id}/robots/{robot.id}/{path}").status_code == 404
    assert admin_client.post(f"/projects/{other.id}/robots/{robot.id}/test").status_code == 404
    assert admin_client.get(f"/projects/{project.id}/robots/{2**70}/edit").status_code == 404


# --- adding and editing -----------------------------------------------------------------------------------


def test_the_form_explains_each_kind(admin_client, url):
    page = text(admin_client.get(f"{url}/new"))
    assert "Smart group assistant" in page and "Group robots" in page  # where the webhook is, per kind
    assert "open_id" in page  # Feishu's mention notice
    for name in ("kind", "name", "webhook_url", "keywords", "secret"):  # check boxes sit inside their label
        assert f'for="{name}"' in page


def test_adding_a_robot(admin_client, url, project):
    response = admin_client.post(f"{url}/new", data=form())
    assert response.status_code == 303 and response.headers["Location"].endswith(f"{url}/")
    robot = db.session.scalar(select(Robot))
    assert (robot.project_id, robot.kind, robot.webhook_url, robot.secret) == (
        project.id,
        "feishu",
        FEISHU_URL,
        SECRET,
    )
    assert robot.keywords == ["测试用例", "Herald"]
    page = text(admin_client.get(f"{url}/"))
    assert "Robot “QA group” is added." in page
    assert_no_secrets(page, TOKEN, SECRET)


BAD_FORMS = [
    ("kind", {"kind": "msteams"}),
    ("name", {"name": ""}),
    ("name", {"name": "n" * 101}),
    ("webhook_url", {"webhook_url": ""}),
    ("webhook_url", {"webhook_url": "not a url"}),
    ("webhook_url", {"webhook_url": "gopher://open.feishu.cn/x"}),
    ("webhook_url", {"webhook_url": "http://h:70000/x"}),
    ("webhook_url", {"webhook_url": "https://x.cn/" + "a" * 3000}),
    ("keywords", {"keywords": "\n".join(f"k{i}" for i in range(11))}),
    ("keywords", {"keywords": "k" * 100}),
    ("secret", {"secret": "has space"}),
    ("secret", {"secret": "s" * 300}),
]


@pytest.mark.parametrize(("field", "changes"), BAD_FORMS)
def test_bad_input_is_shown_next_to_its_field(admin_client, url, field, changes):
    response = admin_client.post(f"{url}/new", data=form(**changes))
    assert response.status_code == 200
    assert field_error(response, field), text(response)
    assert "The robot is not saved" in text(response)
    assert robot_count() == 0
    assert_no_secrets(text(response), SECRET, TOKEN)  # neither the typed secret nor the address come back
    if field != "webhook_url":
        assert "Paste the address again" in text(response)


def test_a_wecom_key_pasted_as_the_address_is_refused_with_a_hint(admin_client, url):
    response = admin_client.post(f"{url}/new", data=form(kind="wecom", webhook_url=WECOM_KEY))
    error = field_error(response, "webhook_url")
    assert "whole webhook address" in error and "cgi-bin/webhook/send?key=" in error
    assert WECOM_KEY not in text(response) and robot_count() == 0


def test_an_address_of_another_kind_is_saved_with_a_warning(admin_client, url):
    response = admin_client.post(f"{url}/new", data=form(kind="dingtalk"), follow_redirects=True)
    page = text(response)
    assert "flash-warning" in page and "looks like a Feishu address" in page
    assert db.session.scalar(select(Robot)).kind == "dingtalk"


def test_irrelevant_fields_are_ignored(admin_client, url):
    data = form(kind="wecom", webhook_url=f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={WECOM_KEY}")
    data.pop("style")
    assert admin_client.post(f"{url}/new", data=data).status_code == 303
    robot = db.session.scalar(select(Robot))
    assert (robot.keywords, robot.secret, robot.style) == ([], "", "text")


def test_the_edit_form_never_shows_the_token_or_secret(admin_client, url, robot):
    page = text(admin_client.get(f"{url}/{robot.id}/edit"))
    assert "QA group" in page and "测试用例" in page
    assert "A secret is set" in page and "hook/8a0c****" in page
    assert_no_secrets(page, TOKEN, SECRET)


def test_an_edit_with_blank_address_and_secret_keeps_them(admin_client, url, robot):
    response = admin_client.post(
        f"{url}/{robot.id}/edit", data=form(name="QA team", webhook_url="", secret="", keywords="Herald")
    )
    assert response.status_code == 303
    robot = db.session.get(Robot, robot.id)
    assert (robot.name, robot.webhook_url, robot.secret, robot.keywords) == (
        "QA team",
        FEISHU_URL,
        SECRET,
        ["Herald"],
    )


def test_an_edit_with_errors_keeps_what_was_stored(admin_client, url, robot):
    response = admin_client.post(f"{url}/{robot.id}/edit", data=form(name="", webhook_url="x"))
    assert field_error(response, "name") and field_error(response, "webhook_url")
    assert_no_secrets(text(response), TOKEN, SECRET)
    assert db.session.get(Robot, robot.id).name == "QA group"


def test_removing_the_secret(admin_client, url, robot):
    admin_client.post(f"{url}/{robot.id}/edit", data=form(webhook_url="", secret="", clear_secret="y"))
    assert db.session.get(Robot, robot.id).secret == ""


# --- enable, disable, delete ------------------------------------------------------------------------------


def test_disable_and_enable_without_javascript(admin_client, url, robot):
    response = admin_client.post(f"{url}/{robot.id}/disable")
    assert response.status_code == 303 and db.session.get(Robot, robot.id).enabled is False
    assert "is disabled" in text(admin_client.get(f"{url}/"))
    admin_client.post(f"{url}/{robot.id}/enable")
    assert db.session.get(Robot, robot.id).enabled is True


def test_disable_with_htmx_answers_the_updated_list(admin_client, url, robot):
    response = admin_client.post(f"{url}/{robot.id}/disable", headers=HTMX)
    page = text(response)
    assert response.status_code == 200 and "<html" not in page
    assert "is disabled" in page and ">Enable</button>" in page


def test_delete_asks_first_without_javascript(admin_client, url, robot):
    page = text(admin_client.get(f"{url}/{robot.id}/delete"))
    assert "Delete robot “QA group”?" in page and robot_count() == 1
    response = admin_client.post(f"{url}/{robot.id}/delete")
    assert response.status_code == 303 and robot_count() == 0


def test_delete_with_htmx_confirms_then_answers_the_list(admin_client, url, robot):
    listing = text(admin_client.get(f"{url}/"))
    assert 'hx-confirm="Delete the robot “QA group”?' in listing
    response = admin_client.post(f"{url}/{robot.id}/delete", headers=HTMX)
    page = text(response)
    assert "is deleted" in page and "no robot yet" in page and robot_count() == 0


# --- send test message ------------------------------------------------------------------------------------


def send_test(client, url, robot, htmx=True):
    response = client.post(f"{url}/{robot.id}/test", headers=HTMX if htmx else {})
    assert response.status_code == 200
    return text(response)


def emulated(project, kind, emulator, **changes) -> Robot:
    return add_robot(
        project, **{"kind": kind, "webhook_url": emulator.url, "keywords": "", "secret": "", **changes}
    )


@pytest.mark.parametrize("kind", ["wecom", "feishu", "lark", "dingtalk", "webhook"])
def test_a_test_message_is_delivered(admin_client, url, project, request, kind):
    emulator = request.getfixturevalue("webhook_receiver" if kind == "webhook" else f"{kind}_emulator")
    robot = emulated(project, kind, emulator)
    page = send_test(admin_client, url, robot)
    assert "Delivered" in page and "<html" not in page
    [message] = emulator.messages
    assert "Herald test message" in message.text
    assert_no_secrets(page, emulator.robot.token)


def test_a_signed_test_message_with_keyword_is_delivered(admin_client, url, project, dingtalk_emulator):
    dingtalk_emulator.robot.keywords = ["Herald通知"]
    dingtalk_emulator.robot.secret = "SEC0123456789abcdef"
    robot = emulated(
        project, "dingtalk", dingtalk_emulator, keywords="Herald通知", secret="SEC0123456789abcdef"
    )
    page = send_test(admin_client, url, robot)
    assert "Delivered" in page
    assert dingtalk_emulator.messages[0].text.count("Herald通知") >= 1
    assert_no_secrets(page, "SEC0123456789abcdef", dingtalk_emulator.robot.token)


@pytest.mark.parametrize("kind", ["feishu", "dingtalk"])
def test_keyword_missing_names_the_keyword(admin_client, url, project, request, kind):
    emulator = request.getfixturevalue(f"{kind}_emulator")
    emulator.robot.keywords = ["发布通知"]
    robot = emulated(project, kind, emulator, keywords="测试用例")
    page = send_test(admin_client, url, robot)
    assert "Not delivered" in page and ("19024" if kind == "feishu" else "310000") in page
    assert "Keyword missing" in page and "测试用例" in page
    assert emulator.messages == []


@pytest.mark.parametrize("kind", ["feishu", "dingtalk"])
def test_a_wrong_secret_gets_the_signature_hint(admin_client, url, project, request, kind):
    emulator = request.getfixturevalue(f"{kind}_emulator")
    emulator.robot.secret = "SECthe-real-one-0123456789"
    robot = emulated(project, kind, emulator, secret="SECa-wrong-one-0123456789")
    page = send_test(admin_client, url, robot)
    assert "Signature refused" in page and "server time:" in page
    assert ("19021" if kind == "feishu" else "310000") in page
    assert_no_secrets(page, "SECa-wrong-one-0123456789", emulator.robot.token)


@pytest.mark.parametrize(("kind", "code"), [("wecom", "93000"), ("feishu", "19001"), ("dingtalk", "300001")])
def test_a_removed_robot_is_explained(admin_client, url, project, request, kind, code):
    emulator = request.getfixturevalue(f"{kind}_emulator")
    robot = emulated(project, kind, emulator)
    del emulator.robots[emulator.robot.token]  # removed from the group
    page = send_test(admin_client, url, robot)
    assert code in page and "removed from the group" in page
    assert_no_secrets(page, emulator.robot.token)


def test_a_provider_down_behind_a_gateway_is_explained(admin_client, url, project, feishu_emulator):
    feishu_emulator.take_down()
    robot = emulated(project, "feishu", feishu_emulator)
    page = send_test(admin_client, url, robot)
    assert "Not delivered" in page and '<span class="badge">HTTP 502</span>' in page
    assert "gateway" in page.split("<details>")[0]  # the hint names the gateway that answered
    assert "502 Bad Gateway" in page.split("<details>")[1]  # the raw reply, one click away


def test_nothing_listening_is_explained_without_the_token(admin_client, url, project):
    robot = add_robot(project, webhook_url=f"http://127.0.0.1:9/open-apis/bot/v2/hook/{TOKEN}")
    page = send_test(admin_client, url, robot)
    hint, details = page.split("<details>")
    assert "Not delivered" in hint and "refused" in hint and "What to do:" in hint
    assert "Connection refused" in details
    assert_no_secrets(page, TOKEN, SECRET)
    assert db.session.scalar(select(Delivery)).status == "failed"


def test_the_masked_request_is_one_click_away(admin_client, url, project, feishu_emulator):
    feishu_emulator.robot.secret = SECRET
    robot = emulated(project, "feishu", feishu_emulator, secret=SECRET)
    page = send_test(admin_client, url, robot)
    details = page[page.index("<details>") :]
    assert f"POST {feishu_emulator.base_url}/open-apis/bot/v2/hook/" in details and '"sign"' in details
    assert_no_secrets(page, SECRET, feishu_emulator.robot.token)


def test_without_javascript_the_result_is_a_page(admin_client, url, project, wecom_emulator):
    robot = emulated(project, "wecom", wecom_emulator)
    page = send_test(admin_client, url, robot, htmx=False)
    assert "<html" in page and "Test message to “QA group”" in page and "Delivered" in page


def test_the_list_has_a_spinner_for_the_test(admin_client, url, robot):
    page = text(admin_client.get(f"{url}/"))
    assert f'hx-indicator="#robot-{robot.id}-sending"' in page
    assert f'id="robot-{robot.id}-sending" class="htmx-indicator spinner"' in page


# --- nginx configuration ----------------------------------------------------------------------------------


def test_the_nginx_page_shows_the_location_block(member_client, url, robot):
    page = text(member_client.get(f"{url}/{robot.id}/nginx"))
    assert "location /feishu/open-apis/bot/v2/hook/ {" in page
    assert "proxy_pass https://open.feishu.cn/open-apis/bot/v2/hook/;" in page
    assert "proxy_ssl_server_name on;" in page and "proxy_set_header Host open.feishu.cn;" in page
    assert "Use this address" not in page  # members only look
    assert_no_secrets(page, TOKEN, SECRET)


def test_the_nginx_page_gives_the_masked_gateway_address(admin_client, url, robot):
    response = admin_client.get(f"{url}/{robot.id}/nginx?gateway_url=http://gw.intra:8080", headers=HTMX)
    page = text(response)
    assert "<html" not in page and 'id="nginx-config"' in page
    assert "http://gw.intra:8080/feishu/open-apis/bot/v2/hook/8a0c****" in page
    assert "Use this address for the robot" in page
    assert_no_secrets(page, TOKEN, SECRET)


def test_a_bad_gateway_address_is_explained(admin_client, url, robot):
    response = admin_client.get(f"{url}/{robot.id}/nginx?gateway_url=gw.intra;rm")
    assert response.status_code == 200 and "http:// or https://" in text(response)


def test_use_this_address_switches_the_robot_to_the_gateway(admin_client, url, robot):
    response = admin_client.post(f"{url}/{robot.id}/nginx", data={"gateway_url": "http://gw.intra:8080"})
    assert response.status_code == 303
    stored = db.session.get(Robot, robot.id).webhook_url
    assert stored == f"http://gw.intra:8080/feishu/open-apis/bot/v2/hook/{TOKEN}"
    page = text(admin_client.get(f"{url}/"))
    assert "now posts through the gateway" in page
    assert_no_secrets(page, TOKEN)


def test_use_this_address_refuses_a_bad_gateway(admin_client, url, robot):
    response = admin_client.post(
        f"{url}/{robot.id}/nginx", data={"gateway_url": "ftp://gw"}, follow_redirects=True
    )
    assert response.status_code == 200 and "http:// or https://" in text(response)
    assert db.session.get(Robot, robot.id).webhook_url == FEISHU_URL


def test_the_nginx_page_of_an_unknown_address_says_what_to_do(admin_client, url, project):
    robot = add_robot(project, webhook_url="http://gw.intra/some/path")
    page = text(admin_client.get(f"{url}/{robot.id}/nginx"))
    assert "official webhook address" in page and "location" not in page.split('id="nginx-config"')[1]


@pytest.mark.parametrize("kind", ["wecom", "feishu", "dingtalk"])
def test_an_ip_allowlist_that_misses_herald_is_explained(admin_client, url, project, request, kind):
    emulator = request.getfixturevalue(f"{kind}_emulator")
    emulator.robot.allowed_ips = ["203.0.113.7"]  # Herald's address is not on the robot's list
    page = send_test(admin_client, url, emulated(project, kind, emulator))
    if kind == "wecom":  # WeCom has no IP allowlist: the emulator ignores it, as the provider does
        assert "Delivered" in page
        return
    assert "Not delivered" in page and "allowlist" in page
    assert emulator.messages == []
    assert_no_secrets(page, emulator.robot.token)


@pytest.mark.parametrize(("kind", "code"), [("wecom", "45009"), ("feishu", "11232"), ("dingtalk", "130101")])
def test_a_rate_limit_is_explained_as_temporary(admin_client, url, project, request, kind, code):
    emulator = request.getfixturevalue(f"{kind}_emulator")
    emulator.robot.per_minute = 0  # the group's robot is over its limit already
    page = send_test(admin_client, url, emulated(project, kind, emulator))
    assert "Not delivered" in page and code in page
    assert "Rate limited" in page or "too many" in page.lower()
    assert emulator.messages == []


@pytest.mark.parametrize("kind", ["feishu", "dingtalk"])
def test_a_clock_far_off_is_explained(admin_client, url, project, request, kind):
    emulator = request.getfixturevalue(f"{kind}_emulator")
    emulator.robot.secret = "SECshared-0123456789abcdef"
    real_clock = emulator.clock
    emulator.clock = lambda: real_clock() + 2 * 3600  # the provider is two hours ahead of this server
    page = send_test(
        admin_client, url, emulated(project, kind, emulator, secret="SECshared-0123456789abcdef")
    )
    assert "Not delivered" in page and "server time:" in page
    assert emulator.messages == []
