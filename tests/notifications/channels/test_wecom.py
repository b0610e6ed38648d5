"""WeCom group robot: payloads, size limits, URL checks, replies, and real HTTP to the emulator."""

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.emulators import deliver, send
from webapp.notifications.channels import wecom
from webapp.notifications.channels.addresses import check_webhook_url
from webapp.notifications.channels.base import (
    CHANNELS,
    TRUNCATION_MARKER,
    RobotMessage,
    RobotSettings,
    mask_url,
    truncate_utf8,
)
from webapp.notifications.outcome import Status

NOW = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)
KEY = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"
URL = f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={KEY}"
MESSAGE = RobotMessage(
    title="Case updated: Pay with a saved card",
    body="Mei Member changed priority: P2 → P1",
    link="https://herald.example.com/projects/3/cases/42",
    mention_mobiles=["13800138000", " 13800138000 ", "", "13900139000"],
)


def settings(url: str = URL, **kwargs) -> RobotSettings:
    return RobotSettings(kind="wecom", webhook_url=url, **kwargs)


def test_registry_names_the_module():
    assert CHANNELS["wecom"] is wecom.CHANNEL
    assert list(CHANNELS)[:5] == ["wecom", "feishu", "lark", "dingtalk", "webhook"]  # the form's order


def test_text_message_mentions_receivers_by_mobile():
    request = wecom.build_request(MESSAGE, settings(), NOW)
    assert request.method == "POST"
    assert request.url == URL
    assert request.headers["Content-Type"] == "application/json; charset=utf-8"
    assert (
        json.loads(request.body)
        == request.json
        == {
            "msgtype": "text",
            "text": {
                "content": "Case updated: Pay with a saved card\nMei Member changed priority: P2 → P1\n"
                "https://herald.example.com/projects/3/cases/42",
                "mentioned_mobile_list": ["13800138000", "13900139000"],
            },
        }
    )


def test_text_message_at_everyone():
    request = wecom.build_request(MESSAGE, settings(at_all=True), NOW)
    assert request.json["text"]["mentioned_list"] == ["@all"]


def test_markdown_message_has_a_bold_title_and_a_link():
    request = wecom.build_request(MESSAGE, settings(style="markdown"), NOW)
    assert request.json == {
        "msgtype": "markdown",
        "markdown": {
            "content": "**Case updated: Pay with a saved card**\nMei Member changed priority: P2 → P1\n"
            "[Open in Herald](https://herald.example.com/projects/3/cases/42)"
        },
    }


def test_markdown_cannot_mention_by_mobile_and_says_so():
    assert wecom.mention_notice(settings(style="markdown")) is wecom.MARKDOWN_MENTION_NOTICE
    assert "text style" in str(wecom.MARKDOWN_MENTION_NOTICE)
    assert wecom.mention_notice(settings(style="text")) is None


@pytest.mark.parametrize(("style", "limit"), [("text", 2048), ("markdown", 4096)])
def test_long_content_is_cut_to_the_limit_with_a_marker_keeping_title_and_link(style, limit):
    message = RobotMessage(
        title="Case updated: 登录", body="步骤" * 3000, link="https://herald.example.com/c/1"
    )
    request = wecom.build_request(message, settings(style=style), NOW)
    content = request.json[style]["content"]
    assert limit - 4 <= len(content.encode("utf-8")) <= limit
    assert str(TRUNCATION_MARKER) in content
    assert "Case updated: 登录" in content
    assert content.endswith(("https://herald.example.com/c/1", "(https://herald.example.com/c/1)"))


def test_short_content_is_not_touched():
    request = wecom.build_request(MESSAGE, settings(), NOW)
    assert str(TRUNCATION_MARKER) not in request.json["text"]["content"]


@given(st.text(min_size=0, max_size=400), st.integers(min_value=0, max_value=300))
def test_truncation_never_exceeds_the_limit_nor_cuts_a_character(text, limit):
    cut = truncate_utf8(text, limit)
    assert len(cut.encode("utf-8")) <= max(limit, 0) or cut == text
    if cut != text:
        marker = str(TRUNCATION_MARKER)
        kept = cut.removesuffix(marker) if cut.endswith(marker) else cut
        assert text.startswith(kept.rstrip()) or text.startswith(kept)


# Every WeCom reply in PROVIDERS.md, and what a gateway in between may answer instead.
HINT = ", hint: [1700000000_abc], from ip: 203.0.113.7, more info at https://open.work.weixin.qq.com/devtool/query?e="
REPLIES = [
    (200, '{"errcode":0,"errmsg":"ok"}', Status.SENT, "0", ""),
    (
        200,
        '{"errcode":93000,"errmsg":"invalid webhook url' + HINT + '93000"}',
        Status.FAILED,
        "93000",
        "removed",
    ),
    (
        200,
        '{"errcode":45009,"errmsg":"api freq out of limit' + HINT + '45009"}',
        Status.RETRY,
        "45009",
        "Too many",
    ),
    (
        200,
        '{"errcode":44004,"errmsg":"empty content' + HINT + '44004"}',
        Status.FAILED,
        "44004",
        "Herald's fault",
    ),
    (
        200,
        '{"errcode":40008,"errmsg":"invalid message type' + HINT + '40008"}',
        Status.FAILED,
        "40008",
        "format",
    ),
    (
        200,
        '{"errcode":40058,"errmsg":"markdown.content exceed max length 4096' + HINT + '40058"}',
        Status.FAILED,
        "40058",
        "larger",
    ),
    (
        200,
        '{"errcode":40058,"errmsg":"text.content exceed max length 2048' + HINT + '40058"}',
        Status.FAILED,
        "40058",
        "larger",
    ),
    (
        200,
        '{"errcode":0,"errmsg":"ok. Warning: wrong json format. ' + HINT + '0"}',
        Status.FAILED,
        "0",
        "format",
    ),
    (200, '{"errcode":-1,"errmsg":"system busy"}', Status.RETRY, "-1", "busy"),
    (200, '{"errcode":60020,"errmsg":"not allow to access from your ip"}', Status.FAILED, "60020", "refused"),
    (502, "<html><head><title>502 Bad Gateway</title></head></html>", Status.RETRY, "HTTP 502", "gateway"),
    (503, "Service Unavailable", Status.RETRY, "HTTP 503", "try again"),
    (
        200,
        "<!DOCTYPE html><html><body>Sign in to the proxy</body></html>",
        Status.FAILED,
        "HTTP 200",
        "gateway",
    ),
    (200, "ok", Status.FAILED, "HTTP 200", "cannot be confirmed"),
    (302, "", Status.FAILED, "HTTP 302", "redirects"),
    (404, "<html>404 Not Found</html>", Status.FAILED, "HTTP 404", "path is wrong"),
]


@pytest.mark.parametrize(("status", "body", "expected", "code", "words"), REPLIES)
def test_every_reply_is_read_by_its_errcode(status, body, expected, code, words):
    outcome = wecom.classify(status, {"Content-Type": "application/json"}, body, settings=settings(), now=NOW)
    assert outcome.status is expected
    assert outcome.code == code
    assert words in f"{outcome.cause} {outcome.fix}"
    assert outcome.raw.startswith(f"HTTP {status}")
    if expected is not Status.SENT:
        assert outcome.cause and outcome.fix


def test_http_200_with_an_error_code_is_not_success():
    outcome = wecom.classify(200, {}, '{"errcode":93000,"errmsg":"invalid webhook url"}')
    assert not outcome.ok


def test_official_address_passes_without_warning():
    check = check_webhook_url("wecom", URL)
    assert check.ok and check.warning is None


@pytest.mark.parametrize("pasted", [KEY, f"key={KEY}", f" {KEY} "])
def test_bare_key_is_refused_with_the_address_to_paste(pasted):
    check = check_webhook_url("wecom", pasted)
    assert not check.ok
    assert "whole webhook address" in check.error
    assert "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=" in check.error


@pytest.mark.parametrize("url", ["", "   ", "qyapi.weixin.qq.com/cgi-bin/webhook/send?key=x", "ftp://host/x"])
def test_what_is_not_an_address_is_refused(url):
    assert not check_webhook_url("wecom", url).ok


def test_gateway_forwarding_the_official_path_is_fine():
    check = check_webhook_url("wecom", f"http://10.1.2.3:8080/wecom/cgi-bin/webhook/send?key={KEY}")
    assert check.ok and check.warning is None


def test_other_intranet_address_is_accepted_with_advice():
    check = check_webhook_url("wecom", "http://robots.intra.example.com/team-a")
    assert check.ok
    assert "intranet gateway" in check.warning


def test_an_address_of_another_kind_is_accepted_with_a_warning():
    check = check_webhook_url("wecom", "https://oapi.dingtalk.com/robot/send?access_token=abcdef0123456789")
    assert check.ok
    assert "DingTalk" in check.warning and "WeCom" in check.warning


def test_official_host_without_a_key_warns():
    check = check_webhook_url("wecom", "https://qyapi.weixin.qq.com/cgi-bin/webhook/send")
    assert check.ok and "webhook address looks like" in check.warning


def test_key_is_masked_for_display_and_in_the_record():
    assert mask_url(URL) == "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a****5aaa"
    request = wecom.build_request(MESSAGE, settings(), NOW)
    record = request.masked()
    assert KEY not in record.url and KEY not in record.body_text
    assert request.url == URL  # the request itself still carries the key


def test_reply_record_masks_the_key_if_echoed():
    outcome = wecom.classify(
        200, {}, f'{{"errcode":93000,"errmsg":"invalid webhook url {KEY}"}}', settings=settings()
    )
    assert KEY not in outcome.raw


# End to end: build, a real POST to the emulator, classify; and what the group saw.


def test_delivered_and_the_group_sees_text_and_mentions(wecom_emulator):
    outcome = deliver(MESSAGE, settings(wecom_emulator.url))
    assert outcome.status is Status.SENT
    [seen] = wecom_emulator.robot.messages
    assert seen.text.startswith("Case updated: Pay with a saved card")
    assert seen.mentions == ["13800138000", "13900139000"]


def test_wrong_key_says_the_robot_is_gone(wecom_emulator):
    outcome = deliver(MESSAGE, settings(wecom_emulator.url.replace("key=", "key=0")))
    assert outcome.status is Status.FAILED
    assert outcome.code == "93000"
    assert "removed" in outcome.cause
    assert wecom_emulator.messages == []


def test_more_than_twenty_a_minute_is_retried_later(wecom_emulator):
    wecom_emulator.clock = lambda: NOW.timestamp()
    outcomes = [deliver(MESSAGE, settings(wecom_emulator.url), NOW) for _ in range(21)]
    assert [o.status for o in outcomes] == [Status.SENT] * 20 + [Status.RETRY]
    assert outcomes[-1].code == "45009"
    assert len(wecom_emulator.robot.messages) == 20


@pytest.mark.parametrize("style", ["text", "markdown"])
def test_too_large_is_avoided_by_truncation(wecom_emulator, style):
    message = RobotMessage(
        title="Case updated", body="很长的步骤。" * 2000, link="https://herald.example.com/c/1"
    )
    outcome = deliver(message, settings(wecom_emulator.url, style=style))
    assert outcome.status is Status.SENT
    [seen] = wecom_emulator.robot.messages
    assert str(TRUNCATION_MARKER) in seen.text
    assert "https://herald.example.com/c/1" in seen.text


def test_untruncated_oversize_is_what_the_emulator_refuses(wecom_emulator):
    body = json.dumps({"msgtype": "text", "text": {"content": "x" * 2049}}).encode()
    request = wecom.build_request(MESSAGE, settings(wecom_emulator.url), NOW)
    reply = send(type(request)("POST", request.url, request.headers, body))
    assert wecom.classify(reply.status_code, reply.headers, reply.text).code == "40058"


def test_a_gateway_that_cannot_reach_wecom_means_retry(wecom_emulator):
    wecom_emulator.take_down()
    outcome = deliver(MESSAGE, settings(wecom_emulator.url))
    assert outcome.status is Status.RETRY
    assert "gateway" in outcome.fix


def test_a_login_page_in_between_is_a_failure_not_success(wecom_emulator):
    wecom_emulator.take_down(200, "<html><body>Please log in to the web filter</body></html>")
    outcome = deliver(MESSAGE, settings(wecom_emulator.url))
    assert outcome.status is Status.FAILED
    assert "gateway" in outcome.fix
