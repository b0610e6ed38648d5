"""DingTalk custom robot: query signing, payloads and mentions, size, URL checks, replies, and real HTTP."""

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from tests.emulators import deliver, send
from tests.emulators.dingtalk import DingTalkEmulator
from webapp.notifications.channels import dingtalk
from webapp.notifications.channels.addresses import check_webhook_url
from webapp.notifications.channels.base import TRUNCATION_MARKER, HttpRequest, RobotMessage, RobotSettings
from webapp.notifications.outcome import Status

NOW = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)
TOKEN = "1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90a"
URL = f"https://oapi.dingtalk.com/robot/send?access_token={TOKEN}"
SECRET = "SEC0123456789abcdef"
KNOWN_AT = datetime.fromtimestamp(1700000000, UTC)  # 1700000000000 ms
KNOWN_SIGN = "TSZbRFUuvaSQaRKUpF970OPCb2/LcQAP3wOvwZIzBZk="
KNOWN_WIRE = "sign=TSZbRFUuvaSQaRKUpF970OPCb2%2FLcQAP3wOvwZIzBZk%3D"
MESSAGE = RobotMessage(
    title="Case updated: Pay with a saved card",
    body="Mei Member changed priority: P2 → P1",
    link="https://herald.example.com/projects/3/cases/42",
    mention_mobiles=["13800138000", "13900139000"],
)


def settings(url: str = URL, **kwargs) -> RobotSettings:
    return RobotSettings(kind="dingtalk", webhook_url=url, **kwargs)


def test_known_answer_signature():
    assert dingtalk.sign(SECRET, 1700000000000) == KNOWN_SIGN


def test_signature_travels_in_the_query_in_milliseconds_encoded_once():
    request = dingtalk.build_request(MESSAGE, settings(secret=SECRET), KNOWN_AT)
    assert request.url == f"{URL}&timestamp=1700000000000&{KNOWN_WIRE}"


def test_milliseconds_come_from_the_clock_exactly():
    now = KNOWN_AT + timedelta(milliseconds=7)
    request = dingtalk.build_request(MESSAGE, settings(secret=SECRET), now)
    assert "timestamp=1700000000007&" in request.url


def test_other_query_parameters_of_a_gateway_are_kept_verbatim_and_old_signatures_dropped():
    proxy = f"http://10.0.0.8/ding/robot/send?team=qa%20one&access_token={TOKEN}&timestamp=1&sign=old"
    request = dingtalk.build_request(MESSAGE, settings(proxy, secret=SECRET), KNOWN_AT)
    assert request.url == (
        f"http://10.0.0.8/ding/robot/send?team=qa%20one&access_token={TOKEN}&timestamp=1700000000000&{KNOWN_WIRE}"
    )


def test_without_a_secret_the_address_is_untouched():
    assert dingtalk.build_request(MESSAGE, settings(), NOW).url == URL


def test_text_mentions_need_the_mobiles_in_the_text_too():
    request = dingtalk.build_request(MESSAGE, settings(), NOW)
    assert json.loads(request.body) == {
        "msgtype": "text",
        "text": {
            "content": "Case updated: Pay with a saved card\nMei Member changed priority: P2 → P1\n"
            "https://herald.example.com/projects/3/cases/42\n@13800138000 @13900139000"
        },
        "at": {"atMobiles": ["13800138000", "13900139000"], "isAtAll": False},
    }


def test_markdown_has_a_title_a_link_and_the_mentions():
    request = dingtalk.build_request(MESSAGE, settings(style="markdown", at_all=True), NOW)
    assert request.json == {
        "msgtype": "markdown",
        "markdown": {
            "title": "Case updated: Pay with a saved card",
            "text": "#### Case updated: Pay with a saved card\n\nMei Member changed priority: P2 → P1\n\n"
            "[Open in Herald](https://herald.example.com/projects/3/cases/42)\n\n@13800138000 @13900139000",
        },
        "at": {"atMobiles": ["13800138000", "13900139000"], "isAtAll": True},
    }


def test_markdown_title_is_never_empty():
    request = dingtalk.build_request(RobotMessage(title="", body="x"), settings(style="markdown"), NOW)
    assert request.json["markdown"]["title"]


def test_no_mention_notice():
    assert dingtalk.CHANNEL.mention_notice(settings()) is None


@pytest.mark.parametrize("style", ["text", "markdown"])
def test_body_over_20000_bytes_is_cut_and_keeps_keyword_link_and_mentions(style):
    message = RobotMessage(
        title="Case", body="步骤\n" * 8000, link="https://h.example.com/c/1", mention_mobiles=["138"]
    )
    request = dingtalk.build_request(message, settings(keywords=["Herald"], style=style), NOW)
    assert 19990 <= len(request.body) <= 20000
    assert str(TRUNCATION_MARKER) in request.body_text
    for part in ("[Herald] Case", "https://h.example.com/c/1", "@138"):
        assert part in request.body_text


KEYWORDS = st.text(min_size=1, max_size=10).filter(lambda k: k.strip() == k)  # Herald trims keywords


@hypothesis_settings(max_examples=40, deadline=None)
@given(title=st.text(max_size=300), body=st.text(max_size=30000), keyword=KEYWORDS)
def test_any_message_fits_and_carries_a_keyword(title, body, keyword):
    request = dingtalk.build_request(RobotMessage(title, body), settings(keywords=[keyword]), NOW)
    assert len(request.body) <= dingtalk.MAX_BODY_BYTES
    assert keyword in request.json["text"]["content"]


SOLUTION = ";solution:请联系群管理员;"
KEYWORD = [
    "keywords not in content, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]",
    "description:关键词不匹配" + SOLUTION,
    "错误描述:关键词不匹配;解决方案:请联系群管理员查看此机器人的关键词，并在发送的信息中包含此关键词;",
]
SIGN = [
    "sign not match, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]",
    "description:机器人发送签名不匹配;solution:请确认签名和生成签名的时间戳是否正确;",
    "错误描述:机器人发送签名不匹配;解决方案:请确认签名和生成签名的时间戳是否正确;",
]
STALE = [
    "invalid timestamp, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]",
    "description:机器人发送签名过期;solution:请使用新签名;",
    "错误描述:机器人发送签名过期;解决方案:请使用新签名;",
]
IP = [
    "ip 203.0.113.7 not in whitelist, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]",
    "description:ip 203.0.113.7 不在白名单中" + SOLUTION,
    "错误描述:ip 203.0.113.7 不在白名单中;解决方案:请检查;",
]


def reply(code: int, errmsg: str) -> str:
    return json.dumps({"errcode": code, "errmsg": errmsg}, ensure_ascii=False)


# Every DingTalk reply in PROVIDERS.md, each 310000 meaning in its three wordings.
REPLIES = (
    [(200, reply(0, "ok"), Status.SENT, "0", "")]
    + [(200, reply(310000, m), Status.FAILED, "310000", "Herald, QA") for m in KEYWORD]
    + [(200, reply(310000, m), Status.FAILED, "310000", "secret is wrong") for m in SIGN]
    + [
        (200, reply(310000, m), Status.FAILED, "310000", "server time: 2026-11-28 09:30:00 UTC")
        for m in STALE
    ]
    + [(200, reply(310000, m), Status.FAILED, "310000", "allowlist must contain") for m in IP]
    + [
        (200, reply(300001, "token is not exist"), Status.FAILED, "300001", "removed"),
        (200, reply(300005, "token is not exist"), Status.FAILED, "300005", "removed"),
        (200, reply(130101, "send too fast, exceed 20 times per minute"), Status.RETRY, "130101", "Too many"),
        (200, reply(460101, "message too long, exceed 20000 bytes"), Status.FAILED, "460101", "larger"),
        (200, reply(460101, "body 大小不合法"), Status.FAILED, "460101", "larger"),
        (200, reply(40035, "缺少参数 json"), Status.FAILED, "40035", "Herald's fault"),
        (200, reply(400402, "缺少参数 markdown.title"), Status.FAILED, "400402", "Herald's fault"),
        (200, reply(400403, "缺少参数 markdown.text"), Status.FAILED, "400403", "Herald's fault"),
        (200, reply(310000, "机器人已停用"), Status.FAILED, "310000", "机器人已停用"),
        (200, reply(-1, "系统繁忙"), Status.RETRY, "-1", "busy"),
        (502, "<html><title>502 Bad Gateway</title></html>", Status.RETRY, "HTTP 502", "gateway"),
        (200, "<html>captive portal</html>", Status.FAILED, "HTTP 200", "gateway"),
        (407, "Proxy Authentication Required", Status.FAILED, "HTTP 407", "proxy"),
    ]
)


@pytest.mark.parametrize(("status", "body", "expected", "code", "words"), REPLIES)
def test_every_reply_is_read_by_its_meaning(status, body, expected, code, words):
    robot = settings(keywords=["Herald", "QA"], secret=SECRET)
    outcome = dingtalk.classify(status, {"Content-Type": "application/json"}, body, settings=robot, now=NOW)
    assert outcome.status is expected
    assert outcome.code == code
    assert words in f"{outcome.cause} {outcome.fix}"
    if expected is not Status.SENT:
        assert outcome.cause and outcome.fix


def test_stale_timestamp_and_bad_signature_read_differently():
    stale = dingtalk.classify(200, {}, reply(310000, STALE[0]), now=NOW)
    wrong = dingtalk.classify(200, {}, reply(310000, SIGN[0]), now=NOW)
    assert "Timestamp refused" in stale.cause and "Signature refused" in wrong.cause


def test_official_address_passes_and_gateways_are_advised():
    assert check_webhook_url("dingtalk", URL).warning is None
    assert (
        check_webhook_url("dingtalk", f"http://10.0.0.8/ding/robot/send?access_token={TOKEN}").warning is None
    )
    assert (
        "WeCom"
        in check_webhook_url("dingtalk", "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc").warning
    )


def test_bare_token_is_refused():
    assert "access_token=" in check_webhook_url("dingtalk", TOKEN).error


def test_token_is_masked_in_the_record_while_the_sign_stays_readable():
    record = dingtalk.build_request(MESSAGE, settings(secret=SECRET), KNOWN_AT).masked()
    assert TOKEN not in record.url
    assert "access_token=1b2c****f90a" in record.url and KNOWN_WIRE in record.url


# End to end: build, a real POST to the emulator, classify; and what the group saw.


@pytest.fixture
def robot(dingtalk_emulator):
    dingtalk_emulator.robot.keywords = ["Herald"]
    dingtalk_emulator.robot.secret = SECRET
    return dingtalk_emulator.robot


def configured(emulator: DingTalkEmulator, **kwargs) -> RobotSettings:
    return settings(emulator.url, **({"keywords": ["Herald"], "secret": SECRET} | kwargs))


@pytest.mark.parametrize("style", ["text", "markdown"])
def test_delivered_signed_with_keyword_and_rendered_mentions(dingtalk_emulator, robot, style):
    outcome = deliver(MESSAGE, configured(dingtalk_emulator, style=style))
    assert outcome.status is Status.SENT
    [seen] = robot.messages
    assert "[Herald] Case updated: Pay with a saved card" in seen.text
    assert seen.mentions == ["13800138000", "13900139000"]


def test_sign_reaches_the_server_encoded_exactly_once(dingtalk_emulator, robot):
    dingtalk_emulator.clock = lambda: KNOWN_AT.timestamp()
    assert deliver(MESSAGE, configured(dingtalk_emulator), KNOWN_AT).ok
    assert dingtalk_emulator.requests[-1].query.endswith(f"&timestamp=1700000000000&{KNOWN_WIRE}")


def post_with_sign(emulator: DingTalkEmulator, timestamp: int, wire_sign: str) -> str:
    """Post a valid message whose sign is put on the wire as given; the classified code."""
    request = dingtalk.build_request(MESSAGE, configured(emulator, secret=""), NOW)
    url = f"{request.url}&timestamp={timestamp}&sign={wire_sign}"
    reply = send(HttpRequest("POST", url, request.headers, request.body))
    outcome = dingtalk.classify(reply.status_code, reply.headers, reply.text)
    return outcome.cause


def test_a_sign_encoded_twice_is_rejected(dingtalk_emulator, robot):
    dingtalk_emulator.clock = lambda: KNOWN_AT.timestamp()
    twice = quote(quote(KNOWN_SIGN, safe=""), safe="")
    assert "Signature refused" in post_with_sign(dingtalk_emulator, 1700000000000, twice)
    assert robot.messages == []


def test_a_sign_not_encoded_fails_when_it_holds_a_plus(dingtalk_emulator, robot):
    timestamp = next(t for t in range(1700000000000, 1700000001000) if "+" in dingtalk.sign(SECRET, t))
    dingtalk_emulator.clock = lambda: timestamp / 1000
    assert "Signature refused" in post_with_sign(
        dingtalk_emulator, timestamp, dingtalk.sign(SECRET, timestamp)
    )
    assert robot.messages == []


@pytest.mark.parametrize("style", ["en", "description", "cn"])
def test_keyword_missing_in_every_wording(dingtalk_emulator, robot, style):
    dingtalk_emulator.style = style
    outcome = deliver(MESSAGE, configured(dingtalk_emulator, keywords=["Release"]))
    assert (outcome.status, outcome.code) == (Status.FAILED, "310000")
    assert "Keyword missing" in outcome.cause and "Release" in outcome.cause


@pytest.mark.parametrize("style", ["en", "description", "cn"])
def test_bad_secret_in_every_wording(dingtalk_emulator, robot, style):
    dingtalk_emulator.style = style
    outcome = deliver(MESSAGE, configured(dingtalk_emulator, secret="SECwrong"))
    assert "Signature refused" in outcome.cause


@pytest.mark.parametrize("style", ["en", "description", "cn"])
def test_stale_clock_in_every_wording(dingtalk_emulator, robot, style):
    dingtalk_emulator.style = style
    slow = datetime.now(UTC) - timedelta(hours=1, minutes=30)
    outcome = deliver(MESSAGE, configured(dingtalk_emulator), now=slow)
    assert "Timestamp refused" in outcome.cause
    assert f"server time: {slow:%Y-%m-%d %H:%M}" in outcome.cause


@pytest.mark.parametrize("style", ["en", "description", "cn"])
def test_ip_not_allowed_in_every_wording(dingtalk_emulator, robot, style):
    dingtalk_emulator.style = style
    robot.allowed_ips = ["203.0.113.9"]
    outcome = deliver(MESSAGE, configured(dingtalk_emulator))
    assert "IP allowlist must contain the address Herald (or its proxy) sends from" in outcome.fix


def test_wrong_token(dingtalk_emulator, robot):
    outcome = deliver(MESSAGE, settings(dingtalk_emulator.url + "0", keywords=["Herald"], secret=SECRET))
    assert (outcome.status, outcome.code) == (Status.FAILED, "300001")


def test_over_twenty_a_minute_throttles_for_ten_minutes(dingtalk_emulator, robot):
    moment = [NOW.timestamp()]
    dingtalk_emulator.clock = lambda: moment[0]

    def at(seconds: float):
        moment[0] = NOW.timestamp() + seconds
        return deliver(MESSAGE, configured(dingtalk_emulator), NOW + timedelta(seconds=seconds))

    first = [at(0) for _ in range(21)]
    assert [o.status for o in first] == [Status.SENT] * 20 + [Status.RETRY]
    assert first[-1].code == "130101"
    assert at(120).code == "130101"  # a new minute, but still throttled
    assert at(11 * 60).ok
    assert len(robot.messages) == 21


def test_too_large_is_avoided_by_truncation(dingtalk_emulator, robot):
    message = RobotMessage(title="Case updated", body="很长的步骤。" * 3000, mention_mobiles=["13800138000"])
    outcome = deliver(message, configured(dingtalk_emulator))
    assert outcome.status is Status.SENT
    [seen] = robot.messages
    assert str(TRUNCATION_MARKER) in seen.text
    assert seen.mentions == ["13800138000"]


def test_gateway_down_is_retried(dingtalk_emulator, robot):
    dingtalk_emulator.take_down()
    assert deliver(MESSAGE, configured(dingtalk_emulator)).status is Status.RETRY
