"""Feishu custom robot: signature, payloads, keywords, size, URL checks, replies, and real HTTP."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from tests.emulators import deliver
from webapp.notifications.channels import feishu
from webapp.notifications.channels.addresses import check_webhook_url
from webapp.notifications.channels.base import TRUNCATION_MARKER, RobotMessage, RobotSettings
from webapp.notifications.outcome import Status

NOW = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)
TOKEN = "2d4e6f80-1a3b-4c5d-9e8f-0a1b2c3d4e5f"
URL = f"https://open.feishu.cn/open-apis/bot/v2/hook/{TOKEN}"
MESSAGE = RobotMessage(
    title="Case deleted: Pay with a saved card",
    body="Ada Admin deleted the case.\nIt was P1.",
    link="https://herald.example.com/projects/3/cases/42",
    mention_mobiles=["13800138000"],
)


def settings(url: str = URL, **kwargs) -> RobotSettings:
    return RobotSettings(kind="feishu", webhook_url=url, **kwargs)


def test_known_answer_signature():
    assert feishu.sign("demo", 1599360473) == "l1N0gAcBjdwBvGm1xMjOF0XSyaLRpR7tuO5dHfhAYc8="


def test_signature_travels_in_the_body_with_the_clock_in_seconds():
    now = datetime.fromtimestamp(1599360473, UTC) + timedelta(milliseconds=999)
    request = feishu.build_request(MESSAGE, settings(secret="demo"), now)
    assert request.json["timestamp"] == "1599360473"
    assert request.json["sign"] == "l1N0gAcBjdwBvGm1xMjOF0XSyaLRpR7tuO5dHfhAYc8="
    assert request.url == URL  # nothing in the query


def test_each_request_is_signed_with_its_own_clock():
    first = feishu.build_request(MESSAGE, settings(secret="demo"), NOW)
    later = feishu.build_request(MESSAGE, settings(secret="demo"), NOW + timedelta(minutes=61))
    assert first.json["sign"] != later.json["sign"]
    assert int(later.json["timestamp"]) - int(first.json["timestamp"]) == 61 * 60


def test_without_a_secret_nothing_is_signed():
    request = feishu.build_request(MESSAGE, settings(), NOW)
    assert "sign" not in request.json and "timestamp" not in request.json


def test_text_payload_content_is_an_object():
    request = feishu.build_request(MESSAGE, settings(), NOW)
    assert json.loads(request.body) == {
        "msg_type": "text",
        "content": {
            "text": "Case deleted: Pay with a saved card\nAda Admin deleted the case.\nIt was P1.\n"
            "https://herald.example.com/projects/3/cases/42"
        },
    }


def test_rich_text_is_a_post_with_title_paragraphs_link_and_at_all():
    request = feishu.build_request(MESSAGE, settings(style="markdown", at_all=True), NOW)
    assert request.json == {
        "msg_type": "post",
        "content": {
            "post": {
                "zh_cn": {
                    "title": "Case deleted: Pay with a saved card",
                    "content": [
                        [{"tag": "text", "text": "Ada Admin deleted the case."}],
                        [{"tag": "text", "text": "It was P1."}],
                        [
                            {
                                "tag": "a",
                                "text": "Open in Herald",
                                "href": "https://herald.example.com/projects/3/cases/42",
                            }
                        ],
                        [{"tag": "at", "user_id": "all"}],
                    ],
                }
            }
        },
    }


def test_text_at_everyone():
    request = feishu.build_request(MESSAGE, settings(at_all=True), NOW)
    assert request.json["content"]["text"].endswith('<at user_id="all">所有人</at>')


def test_mobiles_are_never_sent_and_the_page_is_told_why():
    request = feishu.build_request(MESSAGE, settings(), NOW)
    assert "13800138000" not in request.body_text
    notice = str(feishu.mention_notice(settings()))
    assert "open_id" in notice and "mobile" in notice


def test_missing_keyword_is_added_to_the_title():
    request = feishu.build_request(MESSAGE, settings(keywords=["Herald", "QA"]), NOW)
    assert request.json["content"]["text"].startswith("[Herald] Case deleted")


def test_a_keyword_already_present_is_not_added_again():
    message = RobotMessage(title="Case deleted", body="QA: Ada Admin deleted it")
    request = feishu.build_request(message, settings(keywords=["Herald", "QA"]), NOW)
    assert request.json["content"]["text"] == "Case deleted\nQA: Ada Admin deleted it"


def test_keywords_compare_with_case_like_the_provider():
    message = RobotMessage(title="herald: case deleted", body="")
    request = feishu.build_request(message, settings(keywords=["Herald"]), NOW)
    assert request.json["content"]["text"] == "[Herald] herald: case deleted"


@pytest.mark.parametrize("style", ["text", "markdown"])
def test_body_over_20_kb_is_cut_and_the_keyword_survives(style):
    # The only keyword sits at the end of the body, in the part that has to go.
    message = RobotMessage(
        title="Case updated", body="步骤" * 5000 + " Herald", link="https://h.example.com/c/1"
    )
    request = feishu.build_request(message, settings(keywords=["Herald"], secret="s", style=style), NOW)
    assert len(request.body) <= feishu.MAX_BODY_BYTES
    assert str(TRUNCATION_MARKER) in request.body_text
    assert "[Herald] Case updated" in request.body_text
    assert "https://h.example.com/c/1" in request.body_text


def test_body_full_of_characters_json_escapes_still_fits():
    message = RobotMessage(title="Case", body='"\\\n' * 9000)
    request = feishu.build_request(message, settings(), NOW)
    assert len(request.body) <= feishu.MAX_BODY_BYTES


RAW_19021 = (
    '{"code":19021,"data":{},"msg":"sign match fail or timestamp is not within one hour from current time"}'
)
# Every Feishu reply in PROVIDERS.md, and what a gateway in between may answer instead.
REPLIES = [
    (
        200,
        '{"StatusCode":0,"StatusMessage":"success","code":0,"data":{},"msg":"success"}',
        Status.SENT,
        "0",
        "",
    ),
    (
        200,
        '{"code":19001,"data":{},"msg":"param invalid: incoming webhook access token invalid"}',
        Status.FAILED,
        "19001",
        "removed",
    ),
    (
        200,
        '{"code":19002,"data":{},"msg":"params error, msg_type need"}',
        Status.FAILED,
        "19002",
        "Herald's fault",
    ),
    (400, '{"code":9499,"msg":"Bad Request","data":{}}', Status.FAILED, "9499", "20 KB"),
    (200, RAW_19021, Status.FAILED, "19021", "server time: 2026-11-28 09:30:00 UTC"),
    (
        200,
        '{"code":19022,"data":{},"msg":"Ip Not Allowed"}',
        Status.FAILED,
        "19022",
        "allowlist must contain",
    ),
    (200, '{"code":19024,"data":{},"msg":"Key Words Not Found"}', Status.FAILED, "19024", "Herald, QA"),
    (
        200,
        '{"code":11232,"data":{},"msg":"frequency limited psm[x]appID[1]"}',
        Status.RETRY,
        "11232",
        "Too many",
    ),
    (400, '{"code":9499,"msg":"too many request","data":{}}', Status.RETRY, "9499", "Too many"),
    (404, '{"code":99991201,"msg":"resource not find"}', Status.FAILED, "HTTP 404", "path is wrong"),
    (200, '{"code":19999,"data":{},"msg":"something new"}', Status.FAILED, "19999", "something new"),
    (500, '{"code":0,"msg":"success"}', Status.RETRY, "HTTP 500", "try again"),
    (502, "<html><title>502 Bad Gateway</title></html>", Status.RETRY, "HTTP 502", "gateway"),
    (200, "<html><body>Portal</body></html>", Status.FAILED, "HTTP 200", "gateway"),
    (200, "", Status.FAILED, "HTTP 200", "cannot be confirmed"),
]


@pytest.mark.parametrize(("status", "body", "expected", "code", "words"), REPLIES)
def test_every_reply_is_read_by_its_code(status, body, expected, code, words):
    robot = settings(keywords=["Herald", "QA"], secret="s")
    outcome = feishu.classify(status, {"Content-Type": "application/json"}, body, settings=robot, now=NOW)
    assert outcome.status is expected
    assert outcome.code == code
    assert words in f"{outcome.cause} {outcome.fix}"
    if expected is not Status.SENT:
        assert outcome.cause and outcome.fix


def test_clock_hint_compares_with_the_providers_date():
    headers = {"Date": "Sat, 28 Nov 2026 11:30:00 GMT"}
    outcome = feishu.classify(200, headers, RAW_19021, settings=settings(secret="s"), now=NOW)
    assert "the provider's time: 2026-11-28 11:30:00 UTC" in outcome.cause
    assert "120 minutes behind" in outcome.cause


def test_keyword_hint_without_keywords_says_none_are_set():
    outcome = feishu.classify(
        200, {}, '{"code":19024,"data":{},"msg":"Key Words Not Found"}', settings=settings()
    )
    assert "none set in Herald" in outcome.cause


def test_official_address_passes_and_a_lark_one_is_flagged():
    assert check_webhook_url("feishu", URL).warning is None
    check = check_webhook_url("feishu", f"https://open.larksuite.com/open-apis/bot/v2/hook/{TOKEN}")
    assert check.ok and "Lark" in check.warning


def test_gateway_address_with_the_hook_path_is_fine():
    check = check_webhook_url("feishu", f"http://nginx.intra:8080/feishu/open-apis/bot/v2/hook/{TOKEN}")
    assert check.ok and check.warning is None


def test_bare_token_is_refused():
    check = check_webhook_url("feishu", TOKEN)
    assert not check.ok and "open.feishu.cn/open-apis/bot/v2/hook/" in check.error


def test_token_is_masked_in_the_record():
    record = feishu.build_request(MESSAGE, settings(secret="s3cret-value"), NOW).masked()
    assert TOKEN not in record.url
    assert record.url == "https://open.feishu.cn/open-apis/bot/v2/hook/2d4e****4e5f"


# End to end: build, a real POST to the emulator, classify; and what the group saw.


@pytest.fixture
def robot(feishu_emulator):
    feishu_emulator.robot.keywords = ["Herald"]
    feishu_emulator.robot.secret = "feishu-secret"
    return feishu_emulator.robot


def configured(emulator, **kwargs) -> RobotSettings:
    values = {"keywords": ["Herald"], "secret": "feishu-secret"} | kwargs
    return settings(emulator.url, **values)


@pytest.mark.parametrize("style", ["text", "markdown"])
def test_delivered_signed_with_the_keyword(feishu_emulator, robot, style):
    outcome = deliver(MESSAGE, configured(feishu_emulator, style=style))
    assert outcome.status is Status.SENT
    [seen] = robot.messages
    assert "[Herald] Case deleted: Pay with a saved card" in seen.text
    assert "https://herald.example.com/projects/3/cases/42" in json.dumps(seen.payload)


def test_keyword_mismatch_names_herald_keywords(feishu_emulator, robot):
    outcome = deliver(MESSAGE, configured(feishu_emulator, keywords=["Release", "QA"]))
    assert (outcome.status, outcome.code) == (Status.FAILED, "19024")
    assert "Release, QA" in outcome.cause
    assert robot.messages == []


def test_bad_secret_is_a_signature_failure(feishu_emulator, robot):
    outcome = deliver(MESSAGE, configured(feishu_emulator, secret="not-the-secret"))
    assert (outcome.status, outcome.code) == (Status.FAILED, "19021")
    assert "secret is wrong" in outcome.cause


def test_stale_clock_shows_the_server_time(feishu_emulator, robot):
    slow = datetime.now(UTC) - timedelta(hours=2)
    outcome = deliver(MESSAGE, configured(feishu_emulator), now=slow)
    assert (outcome.status, outcome.code) == (Status.FAILED, "19021")
    assert f"server time: {slow:%Y-%m-%d %H:%M}" in outcome.cause
    assert "minutes behind" in outcome.cause


def test_clock_within_the_hour_is_accepted(feishu_emulator, robot):
    outcome = deliver(MESSAGE, configured(feishu_emulator), now=datetime.now(UTC) - timedelta(minutes=50))
    assert outcome.status is Status.SENT


def test_wrong_token_says_the_robot_is_gone(feishu_emulator, robot):
    wrong = settings(feishu_emulator.url[:-4] + "0000", keywords=["Herald"], secret="feishu-secret")
    outcome = deliver(MESSAGE, wrong)
    assert (outcome.status, outcome.code) == (Status.FAILED, "19001")
    assert "removed" in outcome.cause


def test_mistyped_gateway_path_is_a_404(feishu_emulator, robot):
    url = feishu_emulator.url.replace("/bot/v2/", "/bot/v3/")
    outcome = deliver(MESSAGE, settings(url, keywords=["Herald"], secret="feishu-secret"))
    assert (outcome.status, outcome.code) == (Status.FAILED, "HTTP 404")


def test_ip_not_on_the_allowlist(feishu_emulator, robot):
    robot.allowed_ips = ["203.0.113.9"]
    outcome = deliver(MESSAGE, configured(feishu_emulator))
    assert (outcome.status, outcome.code) == (Status.FAILED, "19022")
    assert "IP allowlist must contain the address Herald (or its proxy) sends from" in outcome.fix


@pytest.mark.parametrize(("reply", "code"), [("11232", "11232"), ("9499", "9499")])
def test_more_than_five_a_second_is_retried_later(feishu_emulator, robot, reply, code):
    feishu_emulator.clock = lambda: NOW.timestamp()
    feishu_emulator.rate_reply = reply
    outcomes = [deliver(MESSAGE, configured(feishu_emulator), NOW) for _ in range(6)]
    assert [o.status for o in outcomes] == [Status.SENT] * 5 + [Status.RETRY]
    assert outcomes[-1].code == code
    assert len(robot.messages) == 5


def test_too_large_is_avoided_by_truncation(feishu_emulator, robot):
    message = RobotMessage(
        title="Case updated", body="很长的步骤。" * 3000, link="https://herald.example.com/c/1"
    )
    outcome = deliver(message, configured(feishu_emulator))
    assert outcome.status is Status.SENT
    [seen] = robot.messages
    assert str(TRUNCATION_MARKER) in seen.text


def test_gateway_down_is_retried(feishu_emulator, robot):
    feishu_emulator.take_down(503, "<html><body>503 Service Temporarily Unavailable</body></html>")
    outcome = deliver(MESSAGE, configured(feishu_emulator))
    assert (outcome.status, outcome.code) == (Status.RETRY, "HTTP 503")
