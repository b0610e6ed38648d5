"""Lark custom robot: Feishu's API on open.larksuite.com, reused rather than copied; over real HTTP too."""

from datetime import UTC, datetime, timedelta

import pytest

from tests.emulators import deliver
from webapp.notifications.channels import feishu, lark
from webapp.notifications.channels.addresses import check_webhook_url
from webapp.notifications.channels.base import CHANNELS, RobotMessage, RobotSettings
from webapp.notifications.outcome import Status

NOW = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)
TOKEN = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
URL = f"https://open.larksuite.com/open-apis/bot/v2/hook/{TOKEN}"
MESSAGE = RobotMessage(
    title="Case created: Refund to a gift card", body="By Ada Admin", link="https://h.example.com/c/9"
)


def settings(url: str = URL, **kwargs) -> RobotSettings:
    return RobotSettings(kind="lark", webhook_url=url, **kwargs)


def test_lark_reuses_feishu_code():
    assert CHANNELS["lark"] is lark.CHANNEL
    assert lark.build_request is feishu.build_request
    assert lark.CHANNEL.replies is feishu.CHANNEL.replies
    assert lark.sign is feishu.sign
    assert lark.CHANNEL.kind == "lark" and lark.CHANNEL.official_hosts == ("open.larksuite.com",)


def test_known_answer_signature():
    assert lark.sign("demo", 1599360473) == "l1N0gAcBjdwBvGm1xMjOF0XSyaLRpR7tuO5dHfhAYc8="


def test_request_goes_to_the_lark_address_signed_in_the_body():
    request = lark.build_request(MESSAGE, settings(secret="demo", keywords=["Herald"]), NOW)
    assert request.url == URL
    assert request.json["timestamp"] == str(int(NOW.timestamp()))
    assert request.json["sign"] == lark.sign("demo", int(NOW.timestamp()))
    assert request.json["content"]["text"].startswith("[Herald] Case created")


def test_official_lark_address_passes_and_a_feishu_one_is_flagged():
    assert check_webhook_url("lark", URL).warning is None
    check = check_webhook_url("lark", f"https://open.feishu.cn/open-apis/bot/v2/hook/{TOKEN}")
    assert check.ok and "Feishu" in check.warning and "Lark" in check.warning


def test_gateway_with_the_hook_path_does_not_pretend_to_know_feishu_from_lark():
    assert check_webhook_url("lark", f"https://gw.intra/lark/open-apis/bot/v2/hook/{TOKEN}").warning is None


def test_bare_token_is_refused_with_the_lark_example():
    check = check_webhook_url("lark", TOKEN)
    assert not check.ok and "open.larksuite.com" in check.error


def test_mention_notice_is_feishus():
    assert lark.mention_notice(settings()) is feishu.MENTION_NOTICE


@pytest.fixture
def robot(lark_emulator):
    lark_emulator.robot.keywords = ["Herald"]
    lark_emulator.robot.secret = "lark-secret"
    return lark_emulator.robot


def test_delivered(lark_emulator, robot):
    outcome = deliver(MESSAGE, settings(lark_emulator.url, keywords=["Herald"], secret="lark-secret"))
    assert outcome.status is Status.SENT
    assert robot.texts == [
        "[Herald] Case created: Refund to a gift card\nBy Ada Admin\nhttps://h.example.com/c/9"
    ]


def test_keyword_missing(lark_emulator, robot):
    outcome = deliver(MESSAGE, settings(lark_emulator.url, secret="lark-secret"))
    assert (outcome.status, outcome.code) == (Status.FAILED, "19024")


def test_bad_secret_and_stale_clock(lark_emulator, robot):
    wrong = deliver(MESSAGE, settings(lark_emulator.url, keywords=["Herald"], secret="nope"))
    stale = deliver(
        MESSAGE,
        settings(lark_emulator.url, keywords=["Herald"], secret="lark-secret"),
        now=datetime.now(UTC) + timedelta(hours=1, minutes=5),
    )
    assert (wrong.code, stale.code) == ("19021", "19021")
    assert "minutes ahead" in stale.cause
    assert robot.messages == []
