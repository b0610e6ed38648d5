"""WeCom (企业微信) group robot: text or markdown, @mentions by mobile, no keywords and no signing."""

from collections.abc import Mapping
from datetime import datetime
from urllib.parse import SplitResult

from flask_babel import lazy_gettext as _l

from webapp.notifications.channels.base import (
    HttpRequest,
    RobotMessage,
    RobotSettings,
    UrlCheck,
    check_webhook_url,
    fit,
    inert_markup,
    json_request,
    query_params,
    settings_secrets,
    text_lines,
)
from webapp.notifications.channels.replies import (
    herald_fault,
    outcome,
    parse_json,
    provider_code,
    rate_limited,
    raw_reply,
    refused,
    robot_gone,
    too_large,
    transport,
)
from webapp.notifications.outcome import Outcome, Status

KIND = "wecom"
LABEL = _l("WeCom")
OFFICIAL_HOSTS = ("qyapi.weixin.qq.com",)
EXAMPLE_URL = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…"
STYLES = ("text", "markdown")
USES_KEYWORDS = False
USES_SECRET = False
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


def check_url(url: str) -> UrlCheck:
    return check_webhook_url(KIND, url)


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


def classify(
    status_code: int,
    headers: Mapping[str, str] | None,
    body_text: str,
    *,
    settings: RobotSettings | None = None,
    now: datetime | None = None,
) -> Outcome:
    """Read WeCom's reply: success only when errcode is 0 (it answers HTTP 200 to nearly everything)."""
    raw = raw_reply(status_code, body_text, settings_secrets(settings))
    reply = parse_json(body_text)
    code = provider_code(reply, "errcode") if reply else None
    if code is None or status_code >= 500:
        return transport(status_code, headers, body_text, raw, settings)
    errmsg = str(reply.get("errmsg", ""))
    if WRONG_JSON in errmsg.lower():
        return herald_fault(code, raw, errmsg.split(", hint:")[0])
    if code == 0:
        return outcome(Status.SENT, code=code, raw=raw)
    return _failure(code, errmsg.split(", hint:")[0], raw)


def _failure(code: int, errmsg: str, raw: str) -> Outcome:
    if code == 93000:
        return robot_gone(code, raw)
    if code == 45009:
        return rate_limited(code, raw)
    if code == 40058:
        return too_large(code, raw)
    if code in (44004, 40008, 40035):
        return herald_fault(code, raw, errmsg)
    if code == -1:  # "system busy"
        return outcome(Status.RETRY, _l("WeCom is busy."), _l("Herald will try again later."), code, raw)
    return refused(code, raw, errmsg)
