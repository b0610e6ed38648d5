"""WeCom (企业微信) group robot: text or markdown, @mentions by mobile, no keywords and no signing."""

from datetime import datetime
from typing import Any
from urllib.parse import SplitResult

from flask_babel import lazy_gettext as _l

from webapp.notifications.channels.building import fit, json_request, text_lines
from webapp.notifications.channels.markup import inert_markup
from webapp.notifications.channels.message import HttpRequest, RobotMessage, RobotSettings, settings_secrets
from webapp.notifications.channels.replies import (
    ReplyRule,
    busy,
    herald_fault,
    parse_json,
    provider_code,
    rate_limited,
    robot_gone,
    sent,
    too_large,
)
from webapp.notifications.channels.spec import Channel, Window
from webapp.notifications.channels.urls import query_params

# Limits on the content field, in UTF-8 bytes (the server answers 40058 beyond them).
TEXT_MAX_BYTES = 2048
MARKDOWN_MAX_BYTES = 4096
LINK_LABEL = _l("Open in Herald")
MARKDOWN_MENTION_NOTICE = _l(
    "WeCom markdown messages cannot @mention by mobile number: choose the text style to @mention receivers."
)
WRONG_JSON = "wrong json format"


def escape_text(text: str) -> str:
    """What a member wrote, as text in this robot's message: no markdown link, image, <@userid> or <font>."""
    return inert_markup(text)


def mention_notice(settings: RobotSettings) -> str | None:
    """What the page should say about @mentions for this robot, if they cannot work."""
    return MARKDOWN_MENTION_NOTICE if settings.style == "markdown" else None


def matches_shape(parts: SplitResult) -> bool:
    """Whether an address has the path and key of a WeCom webhook, whatever the host (a gateway)."""
    return parts.path.rstrip("/").endswith("/cgi-bin/webhook/send") and bool(query_params(parts).get("key"))


def build_request(message: RobotMessage, settings: RobotSettings, now: datetime) -> HttpRequest:
    """The POST that puts the message in the group (WeCom needs no clock: it does not sign)."""
    document = _markdown(message) if settings.style == "markdown" else _text(message, settings)
    return json_request(settings.webhook_url.strip(), document, secrets=settings_secrets(settings))


def _text(message: RobotMessage, settings: RobotSettings) -> dict:
    def content(title: str, body: str) -> str:
        return text_lines(title, body, message.link)

    title, body = fit(message.title, message.body, (), lambda t, b: _size(content(t, b)), TEXT_MAX_BYTES)
    text: dict = {"content": content(title, body)}
    if message.mobiles:
        text["mentioned_mobile_list"] = message.mobiles
    if settings.at_all:
        text["mentioned_list"] = ["@all"]
    return {"msgtype": "text", "text": text}


def _markdown(message: RobotMessage) -> dict:
    link = f"[{LINK_LABEL}]({message.link})" if message.link else ""

    def content(title: str, body: str) -> str:
        return text_lines(f"**{title}**" if title else "", body, link)

    title, body = fit(message.title, message.body, (), lambda t, b: _size(content(t, b)), MARKDOWN_MAX_BYTES)
    return {"msgtype": "markdown", "markdown": {"content": content(title, body)}}


def _size(text: str) -> int:
    return len(text.encode("utf-8"))


def read_reply(status_code: int, body_text: str) -> tuple[Any, str]:
    """errcode and errmsg (without its hint, address and link): WeCom answers HTTP 200 to nearly all."""
    reply = parse_json(body_text)
    code = provider_code(reply, "errcode") if reply else None
    return code, str(reply.get("errmsg", "")).split(", hint:")[0] if reply else ""


REPLIES = (
    ReplyRule((), herald_fault, words=(WRONG_JSON,)),  # whatever the errcode, even 0 (PROVIDERS.md)
    ReplyRule({0}, sent),
    ReplyRule({93000}, robot_gone),
    ReplyRule({45009}, rate_limited),
    ReplyRule({40058}, too_large),
    ReplyRule({44004, 40008, 40035}, herald_fault),
    ReplyRule({-1}, busy(_l("WeCom is busy."))),  # "system busy"
)

CHANNEL = Channel(
    kind="wecom",
    label=_l("WeCom"),
    build_request=build_request,
    read_reply=read_reply,
    replies=REPLIES,
    escape_text=escape_text,
    official_hosts=("qyapi.weixin.qq.com",),
    example_url="https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…",
    matches_shape=matches_shape,
    api_folder="/cgi-bin/webhook/",
    styles=("text", "markdown"),
    mentions=True,
    at_all=True,
    rate_windows=(Window(20, 60),),
    hint=_l(
        "In the WeCom group: group settings → Group robots → Add → New robot; copy the webhook address it "
        "shows (…/cgi-bin/webhook/send?key=…). WeCom robots have no keywords or signing."
    ),
    mention_notice=mention_notice,
)
classify = CHANNEL.classify
