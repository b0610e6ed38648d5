"""Issue 6, point 3: temporary failures are retried with backoff until the server is back; permanent ones fail
at once with their hint; after the last backoff step a message is failed.

Each case goes the whole way: a case is saved, its outbox row is delivered (inline), a real emulator or SMTP
server answers, the attempt is recorded; time passes until the retry is due, and the sweeper tries again.
How each channel reads each reply is tested with the channels; here, what the outbox does with it.
"""

from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller

from tests import smtp_server as servers
from tests.emulators import NGINX_502
from tests.emulators import dingtalk as dingtalk_api
from tests.notifications.doors import Door, listen_on
from tests.notifications.helpers import add_robot, come_due, deliveries, mail_members
from webapp.models._types import utcnow
from webapp.services import cases as case_service
from webapp.services.cases import CaseInput
from webapp.services.deliveries import resend

TITLE = "Refund to the original card"


def _save_case(project, actor) -> None:
    case_service.create_case(project, actor, CaseInput(title=TITLE))


def _sweep(app) -> int:
    return app.extensions["herald.dispatcher"].sweep()


def _retrying(code: str | None, count: int = 1) -> None:
    """Each of the `count` messages planned waits for its retry, with the reply's code and words to act on."""
    rows = deliveries()
    assert len(rows) == count
    for delivery in rows:
        assert (delivery.status, delivery.attempts, delivery.code) == ("retrying", 1, code)
        assert delivery.cause and delivery.fix
        assert delivery.next_attempt_at > utcnow()


def _sent_on_the_retry(app, arrived) -> None:
    """Before the retry is due the sweeper leaves it alone; once due, it goes out and arrives once."""
    assert _sweep(app) == 0 and [d.attempts for d in deliveries()] == [1]
    come_due()
    assert _sweep(app) == 1
    [delivery] = deliveries()
    assert (delivery.status, delivery.attempts) == ("sent", 2)
    assert [attempt.status for attempt in delivery.attempt_log] == ["retry", "sent"]
    assert len(arrived()) == 1 and TITLE in arrived()[0].text


# --- temporary: retried, then sent once the server is back -------------------------------------------------


def test_a_robot_that_does_not_answer_in_time(app, project, admin, wecom_emulator):
    app.config["ROBOT_READ_TIMEOUT"] = 0.5
    add_robot(project, "wecom", wecom_emulator.url)
    door = Door(wecom_emulator)
    door.hold()
    _save_case(project, admin)
    _retrying("timeout")
    door.release(deliver=False)  # the group never got that one
    _sent_on_the_retry(app, lambda: wecom_emulator.messages)


def test_a_refused_connection_then_the_server_is_back(app, project, admin, dingtalk_emulator):
    port = servers.free_port()
    add_robot(project, "dingtalk", dingtalk_emulator.url.replace(dingtalk_emulator.base_url, _at(port)))
    _save_case(project, admin)
    _retrying("connection")
    with listen_on(dingtalk_emulator, port):
        _sent_on_the_retry(app, lambda: dingtalk_emulator.messages)


def _at(port: int) -> str:
    return f"http://127.0.0.1:{port}"


@pytest.mark.parametrize(
    ("status", "body", "content_type"),
    [
        (502, NGINX_502, "text/html"),
        (503, '{"code":0,"msg":"service unavailable"}', "application/json"),
        (500, "Internal Server Error", "text/plain"),
    ],
    ids=["502 from nginx", "503", "500"],
)
def test_a_server_error_then_the_server_is_back(
    app, project, admin, feishu_emulator, status, body, content_type
):
    add_robot(project, "feishu", feishu_emulator.url)
    feishu_emulator.take_down(status, body, content_type)
    _save_case(project, admin)
    _retrying(f"HTTP {status}")
    feishu_emulator.bring_up()
    _sent_on_the_retry(app, lambda: feishu_emulator.messages)


def test_a_webhook_answering_429_is_retried(app, project, admin, webhook_receiver):
    add_robot(project, "webhook", webhook_receiver.url)
    webhook_receiver.take_down(429, "Too Many Requests", "text/plain")
    _save_case(project, admin)
    _retrying("HTTP 429")
    webhook_receiver.bring_up()
    _sent_on_the_retry(app, lambda: webhook_receiver.deliveries)


def test_wecom_45009_is_retried_until_the_minute_has_passed(app, project, admin, wecom_emulator):
    add_robot(project, "wecom", wecom_emulator.url)
    wecom_emulator.robot.per_minute = 0  # the group's robot has used up its minute elsewhere
    _save_case(project, admin)
    _retrying("45009")
    wecom_emulator.robot.per_minute = 20
    _sent_on_the_retry(app, lambda: wecom_emulator.messages)


def test_dingtalk_130101_is_retried_after_the_ten_minute_throttle(app, project, admin, dingtalk_emulator):
    add_robot(project, "dingtalk", dingtalk_emulator.url)
    dingtalk_emulator.robot.per_minute = 0
    _save_case(project, admin)
    _retrying("130101")
    dingtalk_emulator.robot.per_minute = 20
    later = dingtalk_emulator.clock() + dingtalk_emulator.throttle + 1
    dingtalk_emulator.clock = lambda: later
    _sent_on_the_retry(app, lambda: dingtalk_emulator.messages)


@pytest.mark.parametrize("rate_reply", ["11232", "9499"])
def test_feishu_rate_limit_codes_are_retried(app, project, admin, feishu_emulator, rate_reply):
    add_robot(project, "feishu", feishu_emulator.url)
    feishu_emulator.rate_reply = rate_reply
    feishu_emulator.robot.per_minute = 0
    _save_case(project, admin)
    _retrying(rate_reply)
    feishu_emulator.robot.per_minute = 100
    _sent_on_the_retry(app, lambda: feishu_emulator.messages)


def test_smtp_4xx_for_one_recipient_retries_that_mail_alone(app, project, admin, member):
    handler = servers.QQLikeHandler(account=None)
    handler.rcpt_replies["mei@example.com"] = "450 4.2.1 Mailbox busy, try again later"
    with servers.smtp_server("plain", handler=handler) as server:
        mail_members(project, server)
        _save_case(project, admin)
        by_address = {d.target: d for d in deliveries()}
        assert by_address["ada@example.com"].status == "sent"
        busy = by_address["mei@example.com"]
        assert (busy.status, busy.code) == ("retrying", "450")
        assert "try again later" in busy.cause
        handler.rcpt_replies.clear()
        come_due()
        assert _sweep(app) == 1
    assert sorted(mail.rcpt_tos[0] for mail in server.received) == ["ada@example.com", "mei@example.com"]
    assert [(d.status, d.attempts) for d in deliveries()] == [("sent", 1), ("sent", 2)]


def test_an_smtp_server_that_does_not_answer_in_time_then_is_back(app, project, admin, member, certificate):
    with servers.silent_port() as port:  # takes the connection, never starts the TLS handshake
        silent = servers.SmtpServer("ssl", port, servers.QQLikeHandler(), None)
        mail_members(project, silent, certificate, timeout=1)
        _save_case(project, admin)
    _retrying(None, count=2)  # SMTP gave no reply code: the words say it timed out
    assert "did not answer" in deliveries()[0].cause
    with servers.smtp_server("ssl", certificate, port=port) as server:
        come_due()
        assert _sweep(app) == 2
        assert sorted(mail.rcpt_tos[0] for mail in server.received) == ["ada@example.com", "mei@example.com"]
    assert [(d.status, d.attempts) for d in deliveries()] == [("sent", 2)] * 2


# --- permanent: failed at once, with the hint, and never retried -------------------------------------------


def _failed_at_once(app, count: int, code: str, *words: str) -> None:
    """`count` messages were planned, each failed at its first attempt with the reply's code and hint."""
    rows = deliveries()
    assert len(rows) == count
    for delivery in rows:
        assert (delivery.status, delivery.attempts, delivery.code) == ("failed", 1, code)
        assert delivery.next_attempt_at is None
        hint = f"{delivery.cause} {delivery.fix}"
        assert all(word in hint for word in words), hint
    assert _sweep(app) == 0


def test_a_keyword_mismatch_fails_at_once(app, project, admin, lark_emulator):
    lark_emulator.robot.keywords = ["发布通知"]
    add_robot(project, "lark", lark_emulator.url, keywords=["用例通知"])
    _save_case(project, admin)
    _failed_at_once(app, 1, "19024", "用例通知")
    assert lark_emulator.messages == []


def test_a_wrong_feishu_secret_fails_at_once(app, project, admin, feishu_emulator):
    feishu_emulator.robot.secret = "the group's secret"
    add_robot(project, "feishu", feishu_emulator.url, secret="another secret")
    _save_case(project, admin)
    _failed_at_once(app, 1, "19021", "secret")
    assert feishu_emulator.messages == []


def test_a_wrong_dingtalk_secret_fails_at_once(app, project, admin, dingtalk_emulator):
    dingtalk_emulator.robot.secret = "SEC-the-group-secret"
    add_robot(project, "dingtalk", dingtalk_emulator.url, secret="SEC-another-secret")
    _save_case(project, admin)
    _failed_at_once(app, 1, "310000", "secret")
    assert dingtalk_emulator.messages == []


@pytest.mark.parametrize("kind", ["wecom", "dingtalk", "feishu"])
def test_an_unknown_token_fails_at_once(app, request, project, admin, kind):
    emulator = request.getfixturevalue(f"{kind}_emulator")
    gone = emulator.robot.token
    del emulator.robots[gone]  # the group removed its robot
    add_robot(project, kind, emulator.url_for(emulator.add_robot(token=gone)))
    del emulator.robots[gone]
    _save_case(project, admin)
    _failed_at_once(app, 1, {"wecom": "93000", "dingtalk": "300001", "feishu": "19001"}[kind])


def test_a_message_too_large_for_the_provider_fails_at_once(
    app, project, admin, dingtalk_emulator, monkeypatch
):
    monkeypatch.setattr(dingtalk_api, "MAX_BODY", 200)  # a gateway or an older API with a lower limit
    add_robot(project, "dingtalk", dingtalk_emulator.url)
    _save_case(project, admin)
    _failed_at_once(app, 1, "460101", "larger")


def test_smtp_535_fails_every_mail_at_once(app, project, admin, member, ssl_server, certificate):
    mail_members(project, ssl_server, certificate)
    from webapp.services.settings import save_mail_settings

    save_mail_settings({}, new_password="not-the-authorization-code")
    _save_case(project, admin)
    _failed_at_once(app, 2, "535", "authorization code")  # Ada and Mei
    assert ssl_server.received == []


@pytest.fixture
def small_smtp_server():
    """A relay that takes messages of at most 300 bytes (it says so: SIZE 300 in its EHLO reply)."""
    controller = Controller(
        servers.QQLikeHandler(account=None),
        hostname=servers.HOST,
        port=servers.free_port(),
        data_size_limit=300,
    )
    controller.start()
    yield servers.SmtpServer("plain", controller.port, controller.handler, controller)
    controller.stop()


def test_smtp_message_too_large_fails_at_once(app, project, admin, member, small_smtp_server):
    mail_members(project, small_smtp_server)
    _save_case(project, admin)
    _failed_at_once(app, 2, "552")
    assert small_smtp_server.received == []


def test_smtp_message_too_large_says_so(app, project, admin, member, small_smtp_server):
    mail_members(project, small_smtp_server)
    _save_case(project, admin)
    _failed_at_once(app, 2, "552", "size")


# --- the backoff steps, then failed -----------------------------------------------------------------------


def test_each_retry_waits_its_backoff_step_and_the_last_one_fails(app, project, admin, webhook_receiver):
    app.config["NOTIFICATIONS_BACKOFF"] = (30, 120)
    add_robot(project, "webhook", webhook_receiver.url)
    webhook_receiver.take_down(503, "Service Unavailable", "text/plain")
    _save_case(project, admin)
    for step in (30, 120):
        [delivery] = deliveries()
        assert delivery.status == "retrying"
        waited = delivery.next_attempt_at - delivery.attempt_log[-1].started_at
        assert timedelta(seconds=step) <= waited < timedelta(seconds=step + 5)
        come_due()
        assert _sweep(app) == 1
    [delivery] = deliveries()
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("failed", 3, None)
    assert delivery.code == "HTTP 503"
    assert _sweep(app) == 0
    assert webhook_receiver.deliveries == []


def test_a_resend_while_the_server_is_still_away_goes_through_the_back_off_again(
    app, project, admin, dingtalk_emulator
):
    app.config["NOTIFICATIONS_BACKOFF"] = (30,)
    port = servers.free_port()
    add_robot(project, "dingtalk", dingtalk_emulator.url.replace(dingtalk_emulator.base_url, _at(port)))
    _save_case(project, admin)
    _retrying("connection")
    come_due()
    assert _sweep(app) == 1
    [delivery] = deliveries()
    assert (delivery.status, delivery.attempts) == ("failed", 2)  # the one back-off step was used up

    resend(delivery)  # the server is still away: a temporary failure, retried again, not failed at once
    [delivery] = deliveries()
    assert (delivery.status, delivery.attempts, delivery.code) == ("retrying", 3, "connection")
    assert delivery.next_attempt_at > utcnow()
    with listen_on(dingtalk_emulator, port):
        come_due()
        assert _sweep(app) == 1
    [delivery] = deliveries()
    assert (delivery.status, delivery.attempts) == ("sent", 4)
    assert len(dingtalk_emulator.messages) == 1
