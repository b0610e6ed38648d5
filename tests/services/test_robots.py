"""Robots service: every field checked, nothing half-saved, secrets kept, a test message sent for real."""

import pytest
from sqlalchemy import func, select, text

from webapp.extensions import db
from webapp.models import Delivery, Robot
from webapp.services import projects as project_service
from webapp.services import robots as robot_service
from webapp.services.robots import RobotInput, RobotInvalid

pytest_plugins = ["tests.emulators.fixtures"]

FEISHU_URL = "https://open.feishu.cn/open-apis/bot/v2/hook/8a0c7d1e-55b1-4f0a-9a57-1d2e3f4a5b6c"
WECOM_URL = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"
DINGTALK_URL = "https://oapi.dingtalk.com/robot/send?access_token=" + "ab12" * 16


def robot_count() -> int:
    return db.session.scalar(select(func.count(Robot.id)))


def feishu(**changes) -> RobotInput:
    values = dict(
        kind="feishu",
        name="QA group",
        webhook_url=FEISHU_URL,
        keywords="测试用例\nHerald",
        secret="feishu-signing-secret",
        style="markdown",
        at_all=True,
    )
    values.update(changes)
    return RobotInput(**values)


def test_a_feishu_robot_is_stored_with_its_keywords_and_secret(project):
    saved = robot_service.create_robot(project, feishu())
    robot = db.session.get(Robot, saved.robot.id)
    assert (robot.kind, robot.name, robot.webhook_url) == ("feishu", "QA group", FEISHU_URL)
    assert robot.keywords == ["测试用例", "Herald"] and robot.secret == "feishu-signing-secret"
    assert (robot.style, robot.at_all, robot.enabled, robot.events) == ("markdown", True, True, [])
    assert saved.warnings == []


def test_the_secret_and_the_address_are_encrypted_in_the_database(project):
    robot_service.create_robot(project, feishu())
    secret, url = db.session.execute(text("SELECT secret, webhook_url FROM robots")).one()
    assert "feishu-signing-secret" not in secret and "8a0c7d1e" not in url


BAD_INPUT = [
    ("kind", {"kind": ""}, "kind of robot"),
    ("kind", {"kind": "msteams"}, "kind of robot"),
    ("name", {"name": "   "}, "name"),
    ("name", {"name": "x" * 101}, "100"),
    ("name", {"name": "QA\x00group"}, "control"),
    ("webhook_url", {"webhook_url": ""}, "webhook address"),
    ("webhook_url", {"webhook_url": "open.feishu.cn/open-apis/bot/v2/hook/x y"}, "spaces"),
    ("webhook_url", {"webhook_url": "ftp://open.feishu.cn/hook"}, "http://"),
    ("webhook_url", {"webhook_url": "https://"}, "http://"),
    ("webhook_url", {"webhook_url": "http://gateway.intra:99999/feishu"}, "port"),
    ("webhook_url", {"webhook_url": "http://[::1/feishu"}, "cannot be read"),
    ("webhook_url", {"webhook_url": "https://x.cn/" + "a" * 2000}, "2000"),
    ("keywords", {"keywords": ",".join(f"k{i}" for i in range(11))}, "At most 10"),
    ("keywords", {"keywords": "k" * 65}, "64"),
    ("secret", {"secret": "two words"}, "spaces"),
    ("secret", {"secret": "s" * 257}, "256"),
]


@pytest.mark.parametrize(("field", "changes", "words"), BAD_INPUT)
def test_bad_input_is_refused_on_its_field_and_nothing_is_saved(project, field, changes, words):
    with pytest.raises(RobotInvalid) as refused:
        robot_service.create_robot(project, feishu(**changes))
    assert words.lower() in refused.value.errors[field].lower()
    assert robot_count() == 0


def test_every_wrong_field_is_reported_at_once(project):
    with pytest.raises(RobotInvalid) as refused:
        robot_service.create_robot(project, feishu(name="", webhook_url="", secret="a b"))
    assert set(refused.value.errors) == {"name", "webhook_url", "secret"}


def test_a_wecom_key_pasted_as_the_address_is_refused_with_a_hint(project):
    with pytest.raises(RobotInvalid) as refused:
        robot_service.create_robot(
            project, RobotInput(kind="wecom", name="Ops", webhook_url="693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa")
        )
    message = refused.value.errors["webhook_url"]
    assert "whole webhook address" in message and "qyapi.weixin.qq.com/cgi-bin/webhook/send?key=" in message
    assert robot_count() == 0


def test_an_address_of_another_kind_is_saved_with_a_warning(project):
    saved = robot_service.create_robot(project, RobotInput(kind="wecom", name="Ops", webhook_url=FEISHU_URL))
    assert saved.robot.webhook_url == FEISHU_URL
    [warning] = saved.warnings
    assert "Feishu" in warning and "WeCom" in warning


def test_an_intranet_gateway_address_is_saved_with_advice(project):
    url = "http://gateway.intra:8080/feishu/open-apis/bot/v2/hook/8a0c7d1e"
    saved = robot_service.create_robot(project, feishu(webhook_url=url))
    assert saved.robot.webhook_url == url and saved.warnings == []


def test_kinds_without_keywords_or_secret_ignore_them(project):
    saved = robot_service.create_robot(
        project,
        RobotInput(kind="wecom", name="Ops", webhook_url=WECOM_URL, keywords="Herald", secret="s3cret"),
    )
    assert saved.robot.keywords == [] and saved.robot.secret == ""


def test_a_style_the_kind_lacks_falls_back_to_text(project):
    saved = robot_service.create_robot(
        project,
        RobotInput(kind="webhook", name="CI", webhook_url="https://ci.example.com/hook", style="markdown"),
    )
    assert saved.robot.style == "text"


def test_keywords_are_split_on_lines_and_commas_without_repeats(project):
    saved = robot_service.create_robot(project, feishu(keywords=" 测试 ,用例，测试\n\nHerald、QA "))
    assert saved.robot.keywords == ["测试", "用例", "Herald", "QA"]


def test_ten_keywords_are_accepted(project):
    saved = robot_service.create_robot(project, feishu(keywords="\n".join(f"k{i}" for i in range(10))))
    assert len(saved.robot.keywords) == 10


def test_names_are_unique_in_a_project_whatever_the_case(project, admin):
    robot_service.create_robot(project, feishu())
    with pytest.raises(RobotInvalid) as refused:
        robot_service.create_robot(project, feishu(name="qa GROUP"))
    assert "name" in refused.value.errors
    other = project_service.create_project("Payments", creator=admin)
    robot_service.create_robot(other, feishu())  # another project may use the name


def test_an_edit_with_blank_address_and_secret_keeps_them(project):
    robot = robot_service.create_robot(project, feishu()).robot
    robot_service.update_robot(robot, feishu(name="QA group 2", webhook_url="", secret=""))
    db.session.expire_all()
    robot = db.session.get(Robot, robot.id)
    assert robot.name == "QA group 2"
    assert robot.webhook_url == FEISHU_URL and robot.secret == "feishu-signing-secret"


def test_an_edit_replaces_or_removes_the_secret(project):
    robot = robot_service.create_robot(project, feishu()).robot
    robot_service.update_robot(robot, feishu(webhook_url="", secret="new-secret"))
    assert db.session.get(Robot, robot.id).secret == "new-secret"
    robot_service.update_robot(robot, feishu(webhook_url="", secret="", clear_secret=True))
    assert db.session.get(Robot, robot.id).secret == ""


def test_a_refused_edit_changes_nothing(project):
    robot = robot_service.create_robot(project, feishu()).robot
    with pytest.raises(RobotInvalid):
        robot_service.update_robot(robot, feishu(name="Renamed", webhook_url="not an address"))
    db.session.expire_all()
    robot = db.session.get(Robot, robot.id)
    assert robot.name == "QA group" and robot.webhook_url == FEISHU_URL


def test_changing_the_kind_rechecks_the_kept_address(project):
    robot = robot_service.create_robot(project, feishu()).robot
    saved = robot_service.update_robot(robot, RobotInput(kind="dingtalk", name="QA group"))
    assert saved.robot.webhook_url == FEISHU_URL
    assert any("Feishu" in w for w in saved.warnings)
    assert saved.robot.secret == "feishu-signing-secret"  # DingTalk signs too: the kept secret stays


def test_a_dingtalk_secret_not_starting_with_sec_is_kept_with_a_warning(project):
    saved = robot_service.create_robot(
        project, RobotInput(kind="dingtalk", name="Dev", webhook_url=DINGTALK_URL, secret="0123456789abcdef")
    )
    assert saved.robot.secret == "0123456789abcdef"
    assert any("SEC" in w for w in saved.warnings)


def test_robots_are_found_only_in_their_project(project, admin):
    robot = robot_service.create_robot(project, feishu()).robot
    other = project_service.create_project("Payments", creator=admin)
    assert robot_service.get_robot(project, robot.id) is robot
    assert robot_service.get_robot(other, robot.id) is None
    assert robot_service.get_robot(project, 2**64) is None
    assert robot_service.list_robots(other) == []


def test_enable_disable_and_delete(project):
    robot = robot_service.create_robot(project, feishu()).robot
    robot_service.set_enabled(robot, False)
    assert db.session.get(Robot, robot.id).enabled is False
    robot_service.set_enabled(robot, True)
    assert db.session.get(Robot, robot.id).enabled is True
    robot_service.delete_robot(robot)
    assert robot_count() == 0


def test_the_shown_address_masks_the_token(project):
    robot = robot_service.create_robot(project, feishu()).robot
    shown = robot_service.shown_url(robot)
    assert shown.startswith("https://open.feishu.cn/open-apis/bot/v2/hook/") and "8a0c7d1e-55b1" not in shown


def test_feishu_says_it_cannot_mention_by_mobile(project):
    robot = robot_service.create_robot(project, feishu()).robot
    assert "open_id" in robot_service.mention_notice(robot)
    dingtalk = robot_service.create_robot(
        project, RobotInput(kind="dingtalk", name="Dev", webhook_url=DINGTALK_URL)
    ).robot
    assert robot_service.mention_notice(dingtalk) is None


def test_a_test_message_reaches_the_group_with_the_first_keyword(project, admin, feishu_emulator):
    feishu_emulator.robot.keywords = ["Herald"]
    feishu_emulator.robot.secret = "feishu-signing-secret"
    robot = robot_service.create_robot(
        project, feishu(webhook_url=feishu_emulator.url, keywords="Herald")
    ).robot
    result = robot_service.send_test(robot, project, admin.name)
    assert result.ok, result.cause
    [message] = feishu_emulator.messages
    assert "Herald" in message.text and "QA group" in message.text and admin.name in message.text
    delivery = db.session.scalar(select(Delivery))
    assert (delivery.channel, delivery.target, delivery.status) == ("feishu", str(robot.id), "sent")


def test_a_test_message_to_nothing_says_so_without_the_token(project, admin):
    url = "http://127.0.0.1:9/open-apis/bot/v2/hook/8a0c7d1e-55b1-4f0a-9a57-1d2e3f4a5b6c"
    robot = robot_service.create_robot(project, feishu(webhook_url=url)).robot
    result = robot_service.send_test(robot, project, admin.name)
    assert not result.ok and result.code == "connection"
    assert "refused" in result.cause and result.fix
    for shown in (result.cause, result.fix, result.reply, result.request):
        assert "8a0c7d1e-55b1" not in shown and "feishu-signing-secret" not in shown


def test_the_nginx_forward_of_a_robot_behind_a_gateway_already(project):
    url = "http://gw.intra:8080/feishu/open-apis/bot/v2/hook/8a0c7d1e"
    robot = robot_service.create_robot(project, feishu(webhook_url=url)).robot
    forward = robot_service.nginx_forward(robot, "http://gw2.intra")
    assert forward.upstream == "https://open.feishu.cn/open-apis/bot/v2/hook/"
    assert forward.herald_url == "http://gw2.intra/feishu/open-apis/bot/v2/hook/8a0c7d1e"


def test_use_gateway_keeps_the_token(project):
    robot = robot_service.create_robot(
        project, RobotInput(kind="dingtalk", name="Dev", webhook_url=DINGTALK_URL)
    )
    robot_service.use_gateway(robot.robot, "http://gw.intra:8080/")
    stored = db.session.get(Robot, robot.robot.id).webhook_url
    assert stored == "http://gw.intra:8080/dingtalk/robot/send?access_token=" + "ab12" * 16


def test_no_forward_for_an_address_that_names_no_provider(project):
    robot = robot_service.create_robot(
        project, feishu(webhook_url="http://gw.intra:8080/some/other/path")
    ).robot
    with pytest.raises(robot_service.GatewayProblem) as refused:
        robot_service.nginx_forward(robot, "http://gw.intra")
    assert refused.value.field == "official_url"
