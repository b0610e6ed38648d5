"""Slack incoming webhook: mrkdwn text, no keywords or signing; its replies are plain words ("ok")."""

import re
from datetime import datetime
from typing import Any
from urllib.parse import SplitResult

from flask_babel import lazy_gettext as _l

from webapp.notifications.channels.building import fit, json_request, text_lines
from webapp.notifications.channels.message import HttpRequest, RobotMessage, RobotSettings, settings_secrets
from webapp.notifications.channels.replies import (
    Reply,
    ReplyRule,
    header,
    herald_fault,
    outcome,
    rate_limited,
    sent,
)
from webapp.notifications.channels.spec import Channel, Window
from webapp.notifications.outcome import Outcome, Status

# Slack cuts a message's text at 40,000 characters; counted in bytes here, which is never fewer.
MAX_TEXT_BYTES = 40_000
HOOK_PATH = re.compile(r"/services/T[^/]+/B[^/]+/[^/]+/?$")
WORD = re.compile(r"^[a-z_]{2,64}$")  # Slack's replies: "ok", or an error code such as "no_service"
LINK_LABEL = _l("Open in Herald")
AT_ALL_TEXT = "<!channel>"
MENTION_NOTICE = _l(
    "Slack incoming webhooks can @mention people only by their Slack member ID, not by mobile number, "
    "so Herald does not @mention receivers in this channel; @everyone (@channel) works."
)


def escape_text(text: str) -> str:
    """What a member wrote, as mrkdwn text: "&", "<", ">" escaped, so <!channel>, <@U…>, links are text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def mention_notice(settings: RobotSettings) -> str | None:
    """What the page should say about @mentions for this robot: mobiles never work here."""
    return MENTION_NOTICE


def matches_shape(parts: SplitResult) -> bool:
    """Whether an address has the path of a Slack incoming webhook, whatever the host (a gateway)."""
    return bool(HOOK_PATH.search(parts.path))


def build_request(message: RobotMessage, settings: RobotSettings, now: datetime) -> HttpRequest:
    """The POST of {"text": mrkdwn}: the title in bold, the body, the link (Slack needs no clock)."""
    link = f"<{escape_text(message.link)}|{LINK_LABEL}>" if message.link else ""
    at_all = AT_ALL_TEXT if settings.at_all else ""

    def text(title: str, body: str) -> str:
        return text_lines(f"*{title}*" if title else "", body, link, at_all)

    title, body = fit(message.title, message.body, (), lambda t, b: len(text(t, b).encode()), MAX_TEXT_BYTES)
    document = {"text": text(title, body)}
    return json_request(settings.webhook_url.strip(), document, secrets=settings_secrets(settings))


def read_reply(status_code: int, body_text: str) -> tuple[Any, str]:
    """Slack answers in one plain word: "ok", or what went wrong; 429 may come without one."""
    word = body_text.strip()
    if WORD.match(word):
        return word, word
    if status_code == 429:
        return "rate_limited", ""
    return None, ""


def _gone(reply: Reply) -> Outcome:
    return outcome(
        Status.FAILED,
        _l(
            "Slack does not know this webhook: it was removed (or its app uninstalled), or the address "
            "is wrong."
        ),
        _l(
            "In Slack, open the app's Incoming Webhooks page, copy the webhook URL again (or add a new one) "
            "and paste it here."
        ),
        reply.code,
        reply.raw,
    )


def _no_channel(reply: Reply) -> Outcome:
    return outcome(
        Status.FAILED,
        _l("The Slack channel this webhook posts to no longer exists."),
        _l("Add an incoming webhook for an existing channel in Slack and paste its address here."),
        reply.code,
        reply.raw,
    )


def _archived(reply: Reply) -> Outcome:
    return outcome(
        Status.FAILED,
        _l("The Slack channel this webhook posts to is archived."),
        _l(
            "Unarchive the channel in Slack, or add a webhook for another channel and paste its address here."
        ),
        reply.code,
        reply.raw,
    )


def _prohibited(reply: Reply) -> Outcome:
    return outcome(
        Status.FAILED,
        _l("The Slack workspace does not let this webhook post in its channel."),
        _l(
            "Ask a workspace administrator to allow the app to post there, or add a webhook for another "
            "channel."
        ),
        reply.code,
        reply.raw,
    )


def _slow_down(reply: Reply) -> Outcome:
    """Rate limited; Slack says in Retry-After how many seconds to wait, shown with the cause."""
    limited = rate_limited(reply)
    wait = header(reply.headers, "Retry-After").strip()
    if not wait.isdigit():
        return limited
    cause = _l("Too many messages: Slack asks Herald to wait %(seconds)s seconds.", seconds=int(wait))
    return outcome(Status.RETRY, cause, limited.fix, reply.code, reply.raw)


REPLIES = (
    ReplyRule({"ok"}, sent, statuses=range(200, 300)),
    ReplyRule((), _slow_down, statuses=(429,)),
    ReplyRule({"no_service", "invalid_token", "no_team", "team_disabled"}, _gone),
    ReplyRule({"channel_not_found"}, _no_channel),
    ReplyRule({"channel_is_archived"}, _archived),
    ReplyRule({"action_prohibited", "posting_to_general_channel_denied"}, _prohibited),
    ReplyRule({"invalid_payload", "no_text", "missing_text_or_fallback_or_attachments"}, herald_fault),
)

CHANNEL = Channel(
    kind="slack",
    label=_l("Slack"),
    build_request=build_request,
    read_reply=read_reply,
    replies=REPLIES,
    escape_text=escape_text,
    official_hosts=("hooks.slack.com",),
    example_url="https://hooks.slack.com/services/T…/B…/…",
    matches_shape=matches_shape,
    api_folder="/services/",
    at_all=True,
    rate_windows=(Window(1, 1),),  # about one message a second per webhook (short bursts tolerated)
    hint=_l(
        "In Slack: your app's settings (api.slack.com/apps) → Incoming Webhooks → Add New Webhook, and "
        "choose the channel; copy the webhook URL (https://hooks.slack.com/services/…). Slack webhooks "
        "have no keywords or signing."
    ),
    mention_notice=mention_notice,
)
classify = CHANNEL.classify
