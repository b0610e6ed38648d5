"""Slack incoming webhook: the spec, the payload, member text, every reply Slack gives, and real HTTP."""

import json
from datetime import UTC, datetime

import pytest

from tests.emulators import deliver, send
from tests.emulators.slack import STATUS
from webapp.notifications import gateway, pacing
from webapp.notifications.channels import slack
from webapp.notifications.channels.addresses import check_webhook_url
from webapp.notifications.channels.masking import mask_url, url_tokens
from webapp.notifications.channels.message import RobotMessage, RobotSettings
from webapp.notifications.channels.registry import CHANNELS, gateway_address
from webapp.notifications.channels.spec import Window
from webapp.notifications.outcome import Status

NOW = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)
PATH = "T0ABCDEF12/B0ABCDEF34/Xq7rB2mZk9PfW4sLc8NdEa1T"
URL = f"https://hooks.slack.com/services/{PATH}"
LINK = "https://herald.example.com/projects/3/cases/42"
MESSAGE = RobotMessage(
    title="Case updated: Pay with a saved card",
    body="Mei Member changed priority: P2 → P1",
    link=LINK,
    mention_mobiles=["13800138000"],
)
TEXT = {"Content-Type": "text/html"}


def settings(url: str = URL, **kwargs) -> RobotSettings:
    return RobotSettings(kind="slack", webhook_url=url, **kwargs)


# --- the spec, as the rest of Herald reads it --------------------------------------------------------------


def test_the_registry_lists_slack_with_what_it_can_do():
    channel = CHANNELS["slack"]
    assert channel is slack.CHANNEL and str(channel.label) == "Slack"
    assert channel.official_hosts == ("hooks.slack.com",) and channel.styles == ("text",)
    assert not channel.keywords and not channel.secret and not channel.mentions and channel.at_all
    assert pacing.LIMITS["slack"] == (Window(1, 1),)
    assert gateway.API_FOLDERS["slack"] == "/services/"


def test_mentions_by_mobile_cannot_work_and_the_page_says_so():
    assert "Slack member ID" in str(slack.mention_notice(settings()))


# --- the request -------------------------------------------------------------------------------------------


def test_the_message_is_mrkdwn_text_with_a_bold_title_and_a_link():
    request = slack.build_request(MESSAGE, settings(), NOW)
    assert request.method == "POST" and request.url == URL
    assert request.headers["Content-Type"] == "application/json; charset=utf-8"
    assert json.loads(request.body) == {
        "text": "*Case updated: Pay with a saved card*\nMei Member changed priority: P2 → P1\n"
        f"<{LINK}|Open in Herald>"
    }
    assert "13800138000" not in request.body_text  # no mention by mobile


def test_at_everyone_is_herald_own_channel_markup():
    request = slack.build_request(MESSAGE, settings(at_all=True), NOW)
    assert request.json["text"].endswith("\n<!channel>")


def test_a_long_message_is_cut_to_slacks_limit():
    request = slack.build_request(RobotMessage(title="Long", body="界" * 20_000, link=LINK), settings(), NOW)
    assert len(request.json["text"].encode()) <= slack.MAX_TEXT_BYTES
    assert request.json["text"].endswith(f"<{LINK}|Open in Herald>")


@pytest.mark.parametrize(
    ("written", "sent"),
    [
        ("<!channel> deploy", "&lt;!channel&gt; deploy"),
        ("<!here> <!everyone>", "&lt;!here&gt; &lt;!everyone&gt;"),
        ("ping <@U024BE7LH>", "ping &lt;@U024BE7LH&gt;"),
        ("<http://evil.example|click>", "&lt;http://evil.example|click&gt;"),
        ("a & b > c", "a &amp; b &gt; c"),
        ("&lt; stays as typed", "&amp;lt; stays as typed"),
    ],
)
def test_member_text_is_escaped_for_mrkdwn(written, sent):
    assert slack.escape_text(written) == sent


# --- every reply, table-driven -----------------------------------------------------------------------------

REPLIES = [
    # (status, headers, body, status expected, code, words in the cause)
    (200, TEXT, "ok", Status.SENT, "ok", ""),
    (400, TEXT, "invalid_payload", Status.FAILED, "invalid_payload", "did not accept the message's format"),
    (400, TEXT, "no_text", Status.FAILED, "no_text", "did not accept the message's format"),
    (
        400,
        TEXT,
        "missing_text_or_fallback_or_attachments",
        Status.FAILED,
        "missing_text_or_fallback_or_attachments",
        "did not accept the message's format",
    ),
    (400, TEXT, "user_not_found", Status.FAILED, "user_not_found", "refused the message: user_not_found"),
    (403, TEXT, "action_prohibited", Status.FAILED, "action_prohibited", "does not let this webhook post"),
    (
        403,
        TEXT,
        "posting_to_general_channel_denied",
        Status.FAILED,
        "posting_to_general_channel_denied",
        "does not let this webhook post",
    ),
    (403, TEXT, "invalid_token", Status.FAILED, "invalid_token", "does not know this webhook"),
    (404, TEXT, "no_service", Status.FAILED, "no_service", "does not know this webhook"),
    (404, TEXT, "no_team", Status.FAILED, "no_team", "does not know this webhook"),
    (404, TEXT, "team_disabled", Status.FAILED, "team_disabled", "does not know this webhook"),
    (404, TEXT, "channel_not_found", Status.FAILED, "channel_not_found", "no longer exists"),
    (410, TEXT, "channel_is_archived", Status.FAILED, "channel_is_archived", "is archived"),
    (429, {**TEXT, "Retry-After": "30"}, "rate_limited", Status.RETRY, "rate_limited", "wait 30 seconds"),
    (429, {}, "", Status.RETRY, "rate_limited", "Too many messages"),
    (500, TEXT, "rollup_error", Status.RETRY, "HTTP 500", "answered HTTP 500"),
    (502, TEXT, "<html>Bad Gateway</html>", Status.RETRY, "HTTP 502", "answered HTTP 502"),
    (200, TEXT, "<html><body>Sign in to the web filter</body></html>", Status.FAILED, "HTTP 200", "not the"),
]


@pytest.mark.parametrize(("status", "headers", "body", "expected", "code", "words"), REPLIES)
def test_every_reply_is_read_by_its_word(status, headers, body, expected, code, words):
    outcome = slack.classify(status, headers, body, settings=settings(), now=NOW)
    assert (outcome.status, outcome.code) == (expected, code)
    assert words in str(outcome.cause)
    assert outcome.status is Status.SENT or outcome.fix
    assert PATH not in outcome.raw


def test_the_emulator_answers_every_refusal_the_table_reads():
    read = {body for _, _, body, _, _, _ in REPLIES}
    assert set(STATUS) - {"rate_limited"} <= read


# --- the address -------------------------------------------------------------------------------------------


def test_the_whole_path_after_services_is_one_secret():
    assert mask_url(URL) == "https://hooks.slack.com/services/T0AB****Ea1T"
    assert PATH in url_tokens(URL)


def test_addresses_are_checked_against_slacks_shape():
    assert check_webhook_url("slack", URL).warning is None
    assert check_webhook_url("slack", f"http://gw.intra:8080/slack/services/{PATH}").warning is None
    assert "Slack" in str(check_webhook_url("feishu", URL).warning)
    assert "hooks.slack.com/services/" in str(check_webhook_url("slack", "Xq7rB2mZk9PfW4sLc8NdEa1T").error)
    assert "not that of a robot webhook" in str(
        check_webhook_url("slack", "https://hooks.slack.com/x").warning
    )


def test_an_nginx_forward_keeps_the_services_folder():
    forward = gateway.nginx_forward("slack", URL, "http://gw.intra:8080")
    assert forward.path == "/slack/services/" and forward.upstream == "https://hooks.slack.com/services/"
    assert forward.herald_url == f"http://gw.intra:8080/slack/services/{PATH}"
    assert gateway.official_address("slack", forward.herald_url) == URL
    assert gateway_address("slack", forward.herald_url) == "gw.intra:8080"


# --- real HTTP to the emulator -----------------------------------------------------------------------------


def test_delivered_and_the_channel_reads_it(slack_emulator):
    outcome = deliver(MESSAGE, settings(slack_emulator.url, at_all=True), NOW)
    assert outcome.status is Status.SENT and outcome.code == "ok"
    [message] = slack_emulator.messages
    assert message.text.startswith("*Case updated: Pay with a saved card*") and message.at_all


def test_member_text_mentions_no_one_in_the_channel(slack_emulator):
    hostile = RobotMessage(
        title=slack.escape_text("<!channel> <@U024BE7LH> <http://evil.example|x>"), body=""
    )
    assert deliver(hostile, settings(slack_emulator.url), NOW).ok
    [message] = slack_emulator.messages
    assert not message.at_all and message.mentions == [] and "<http" not in message.text


@pytest.mark.parametrize("code", sorted(set(STATUS) - {"rate_limited", "rollup_error"}))
def test_each_refusal_of_the_emulator_is_explained(slack_emulator, code):
    slack_emulator.refuse(slack_emulator.robot, code)
    outcome = deliver(MESSAGE, settings(slack_emulator.url), NOW)
    assert outcome.status is Status.FAILED and outcome.code == code
    assert slack_emulator.requests[-1].status == STATUS[code]


def test_a_revoked_or_mistyped_webhook_is_no_service(slack_emulator):
    outcome = deliver(MESSAGE, settings(f"{slack_emulator.base_url}/services/T1/B1/nope"), NOW)
    assert (outcome.status, outcome.code) == (Status.FAILED, "no_service")


def test_more_than_a_burst_a_second_is_retried_after_slacks_wait(slack_emulator):
    slack_emulator.clock = lambda: 1_000.0  # every post in the same second
    outcomes = [deliver(MESSAGE, settings(slack_emulator.url), NOW) for _ in range(slack_emulator.burst + 1)]
    assert [o.status for o in outcomes] == [Status.SENT] * slack_emulator.burst + [Status.RETRY]
    assert outcomes[-1].code == "rate_limited" and "wait 1 seconds" in str(outcomes[-1].cause)
    assert slack_emulator.requests[-1].headers["Content-Type"].startswith("application/json")


def test_slacks_own_trouble_is_retried(slack_emulator):
    slack_emulator.refuse(slack_emulator.robot, "rollup_error")
    outcome = deliver(MESSAGE, settings(slack_emulator.url), NOW)
    assert (outcome.status, outcome.code) == (Status.RETRY, "HTTP 500")


def test_a_body_slack_cannot_read_is_herald_fault(slack_emulator):
    request = slack.build_request(MESSAGE, settings(slack_emulator.url), NOW)
    reply = send(type(request)(request.method, request.url, request.headers, b"not json"))
    outcome = slack.classify(reply.status_code, reply.headers, reply.text)
    assert (outcome.code, reply.status_code) == ("invalid_payload", 400)
    assert "Herald's fault" in str(outcome.fix)
