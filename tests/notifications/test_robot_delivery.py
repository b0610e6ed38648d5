"""The seed's walks 2 to 4: a case changes, the group robot's emulator receives the message."""

import dataclasses

from webapp.extensions import db
from webapp.models import Delivery, Robot
from webapp.services import cases as case_service
from webapp.services.cases import CaseInput


def _robot(project, kind, url, **fields):
    robot = Robot(project_id=project.id, kind=kind, name=f"{kind} group", webhook_url=url, **fields)
    db.session.add(robot)
    db.session.commit()
    return robot


def _case(project, actor, **fields):
    return case_service.create_case(project, actor, CaseInput(title="Pay by card", priority="P2", **fields))


def test_wecom_on_case_updated_mentions_the_maintainer(app, project, member, wecom_emulator):
    _robot(project, "wecom", wecom_emulator.url, events=["case.updated"])
    case = _case(project, member, maintainer_id=member.id)
    assert wecom_emulator.messages == []  # the robot is on "case updated" only
    case_service.update_case(
        case, member, CaseInput(title="Pay by card", priority="P0", maintainer_id=member.id)
    )
    [message] = wecom_emulator.messages
    assert "Pay by card" in message.text and "P2 → P0" in message.text
    assert message.mentions == [member.mobile]
    delivery = Delivery.query.one()
    assert (delivery.status, delivery.attempts) == ("sent", 1)


def test_feishu_with_keyword_and_signature_on_case_deleted(app, project, admin, feishu_emulator):
    feishu_emulator.robot.keywords = ["测试用例"]
    feishu_emulator.robot.secret = "feishu-signing-secret"
    _robot(
        project,
        "feishu",
        feishu_emulator.url,
        keywords=["测试用例"],
        secret="feishu-signing-secret",
        events=["case.deleted"],
    )
    case_service.delete_case(_case(project, admin), admin)
    [message] = feishu_emulator.messages
    assert "测试用例" in message.text and "Pay by card" in message.text
    assert Delivery.query.one().status == "sent"


def test_dingtalk_keyword_missing_is_failed_with_a_hint(app, project, admin, dingtalk_emulator):
    dingtalk_emulator.robot.keywords = ["Herald通知"]
    _robot(project, "dingtalk", dingtalk_emulator.url, keywords=["wrong"], events=["case.created"])
    _case(project, admin)
    assert dingtalk_emulator.messages == []
    delivery = Delivery.query.one()
    assert delivery.status == "failed" and delivery.code == "310000"
    assert "wrong" in delivery.cause + delivery.fix  # names the keywords Herald was told about
    [attempt] = delivery.attempt_log
    assert dingtalk_emulator.robot.token not in attempt.request  # the access token is masked


def test_a_robot_that_is_down_is_retried_later(app, project, admin, wecom_emulator):
    wecom_emulator.take_down()
    _robot(project, "wecom", wecom_emulator.url, events=["case.created"])
    _case(project, admin)
    delivery = Delivery.query.one()
    assert delivery.status == "retrying" and delivery.next_attempt_at is not None
    assert delivery.code == "HTTP 502"


def test_disabled_robot_and_unrouted_event_send_nothing(app, project, admin, wecom_emulator):
    _robot(project, "wecom", wecom_emulator.url, events=["case.created"], enabled=False)
    _robot(project, "wecom", wecom_emulator.url, events=["case.deleted"])
    _case(project, admin)
    assert wecom_emulator.messages == [] and Delivery.query.count() == 0
    _robot(project, "wecom", wecom_emulator.url, events=["case.created"])  # one robot routed and enabled
    _case(project, admin)
    assert len(wecom_emulator.messages) == Delivery.query.count() == 1


def test_group_message_goes_out_when_the_actor_is_the_only_receiver(app, project, member, wecom_emulator):
    member.mail_own_changes = False
    db.session.commit()
    _robot(project, "wecom", wecom_emulator.url, events=["case.created"])
    _case(project, member, maintainer_id=member.id)
    assert len(wecom_emulator.messages) == 1


def test_a_dead_address_never_puts_the_token_in_the_record(app, project, admin):
    from tests.smtp_server import dead_port

    token = "0123456789abcdef0123456789abcdef"
    url = f"http://127.0.0.1:{dead_port()}/robot/send?access_token={token}"
    _robot(project, "dingtalk", url, events=["case.created"])
    _case(project, admin)
    delivery = Delivery.query.one()
    assert delivery.status == "retrying"
    [attempt] = delivery.attempt_log
    for text in (delivery.reply, delivery.cause, delivery.fix, attempt.reply, attempt.request):
        assert token not in text


def test_a_bug_while_sending_is_recorded_and_retried_not_stuck(
    app, project, admin, wecom_emulator, monkeypatch
):
    from webapp.notifications.channels.registry import CHANNELS

    def broken(*args, **kwargs):
        raise RuntimeError("a bug in Herald")

    monkeypatch.setitem(CHANNELS, "wecom", dataclasses.replace(CHANNELS["wecom"], build_request=broken))
    _robot(project, "wecom", wecom_emulator.url, events=["case.created"])
    _case(project, admin)
    delivery = Delivery.query.one()
    assert (delivery.status, delivery.attempts, delivery.code) == ("retrying", 1, "internal")
    assert "unexpected error" in delivery.cause and delivery.lease_until is None
