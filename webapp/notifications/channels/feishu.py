"""Feishu (飞书) custom robot: text or rich text (post), keywords, signing in the body; Lark reuses it."""

import base64
import re
from datetime import datetime
from typing import Any
from urllib.parse import SplitResult

from flask_babel import lazy_gettext as _l

from webapp.notifications.channels.building import (
    epoch_seconds,
    fit,
    hmac_sha256,
    json_request,
    text_lines,
    to_json_bytes,
)
from webapp.notifications.channels.markup import inert_markup
from webapp.notifications.channels.message import HttpRequest, RobotMessage, RobotSettings, settings_secrets
from webapp.notifications.channels.replies import (
    Reply,
    ReplyRule,
    herald_fault,
    ip_not_allowed,
    keyword_missing,
    outcome,
    parse_json,
    provider_code,
    rate_limited,
    robot_gone,
    sent,
    sign_mismatch,
)
from webapp.notifications.channels.spec import Channel, Window
from webapp.notifications.outcome import Outcome, Status

# The documented limit is 20 KB for the whole request body (9499 Bad Request beyond); stay just under.
MAX_BODY_BYTES = 20_000
HOOK_PATH = re.compile(r"/open-apis/bot/v2/hook/[^/]+/?$")
LINK_LABEL = _l("Open in Herald")
AT_ALL_TEXT = '<at user_id="all">所有人</at>'
MENTION_NOTICE = _l(
    "Feishu and Lark custom robots can @mention people only by their open_id, not by mobile number, "
    "so Herald does not @mention receivers in this group; @everyone works."
)


def escape_text(text: str) -> str:
    """What a member wrote, as text in this robot's message: no <at> tags, no links (text and rich text)."""
    return inert_markup(text)


def mention_notice(settings: RobotSettings) -> str | None:
    """What the page should say about @mentions for this robot: mobiles never work here."""
    return MENTION_NOTICE


def matches_shape(parts: SplitResult) -> bool:
    """Whether an address has the path of a Feishu / Lark webhook, whatever the host (a gateway)."""
    return bool(HOOK_PATH.search(parts.path))


def sign(secret: str, timestamp: int) -> str:
    """Feishu's signature: HMAC-SHA256 keyed with "timestamp\\nsecret" over an empty message, base64."""
    return base64.b64encode(hmac_sha256(f"{timestamp}\n{secret}", b"")).decode("ascii")


def build_request(message: RobotMessage, settings: RobotSettings, now: datetime) -> HttpRequest:
    """The POST that puts the message in the group, signed afresh with the clock's seconds."""
    signature: dict = {}
    if settings.secret:
        timestamp = epoch_seconds(now)
        signature = {"timestamp": str(timestamp), "sign": sign(settings.secret, timestamp)}
    render = _post if settings.style == "markdown" else _text

    def document(title: str, body: str) -> dict:
        return {**signature, **render(title, body, message, settings)}

    title, body = fit(
        message.title,
        message.body,
        settings.active_keywords,
        lambda t, b: len(to_json_bytes(document(t, b))),
        MAX_BODY_BYTES,
    )
    return json_request(
        settings.webhook_url.strip(), document(title, body), secrets=settings_secrets(settings)
    )


def _text(title: str, body: str, message: RobotMessage, settings: RobotSettings) -> dict:
    at_all = AT_ALL_TEXT if settings.at_all else ""
    return {"msg_type": "text", "content": {"text": text_lines(title, body, message.link, at_all)}}


def _post(title: str, body: str, message: RobotMessage, settings: RobotSettings) -> dict:
    paragraphs = [[{"tag": "text", "text": line}] for line in body.split("\n")] if body else []
    if message.link:
        paragraphs.append([{"tag": "a", "text": str(LINK_LABEL), "href": message.link}])
    if settings.at_all:
        paragraphs.append([{"tag": "at", "user_id": "all"}])
    return {"msg_type": "post", "content": {"post": {"zh_cn": {"title": title, "content": paragraphs}}}}


def read_reply(status_code: int, body_text: str) -> tuple[Any, str]:
    """code and msg: errors come as HTTP 200 too, except 9499 (400) and a wrong path (404)."""
    reply = parse_json(body_text)
    code = provider_code(reply, "code") if reply else None
    return code, str(reply.get("msg", "")) if reply else ""


def _bad_request(reply: Reply) -> Outcome:
    return outcome(
        Status.FAILED,
        _l("Refused as a bad request: the message is over 20 KB or not in the expected shape."),
        _l(
            "Shorten the robot template in Message settings. If a short message fails too, a gateway in "
            "between may be altering the request; report it with this delivery's details."
        ),
        reply.code,
        reply.raw,
    )


REPLIES = (
    ReplyRule({0}, sent, statuses=range(200, 300)),
    ReplyRule({19024}, keyword_missing),
    ReplyRule({19021}, sign_mismatch),
    ReplyRule({19022}, ip_not_allowed),
    ReplyRule({19001}, robot_gone),
    ReplyRule({11232}, rate_limited),
    ReplyRule({9499}, rate_limited, words=("too many",)),
    ReplyRule({9499}, _bad_request),
    ReplyRule({19002}, herald_fault),
)
RATE_WINDOWS = (Window(5, 1), Window(100, 60))
SECRET_HINT = _l("Feishu and Lark: security settings → signature verification → the secret shown there.")

CHANNEL = Channel(
    kind="feishu",
    label=_l("Feishu"),
    build_request=build_request,
    read_reply=read_reply,
    replies=REPLIES,
    escape_text=escape_text,
    official_hosts=("open.feishu.cn",),
    example_url="https://open.feishu.cn/open-apis/bot/v2/hook/…",
    matches_shape=matches_shape,
    api="feishu",  # Lark speaks the same API on another host
    api_folder="/open-apis/bot/v2/hook/",
    styles=("text", "markdown"),  # markdown is sent as Feishu's rich text ("post")
    keywords=True,
    secret=True,
    at_all=True,
    rate_windows=RATE_WINDOWS,
    hint=_l(
        "In the Feishu group: Settings → Group robots → Add robot → Custom robot; copy the webhook address "
        "(…/open-apis/bot/v2/hook/…). If its security settings have custom keywords or signature "
        "verification, enter the same keywords and the secret here."
    ),
    secret_hint=SECRET_HINT,
    mention_notice=mention_notice,
    transport_statuses=frozenset({404}),
)
classify = CHANNEL.classify
