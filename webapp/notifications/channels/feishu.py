"""Feishu (飞书) custom robot: text or rich text (post), keywords, signing in the body; Lark reuses it."""

import base64
import re
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
    epoch_seconds,
    fit,
    hmac_sha256,
    inert_markup,
    json_request,
    settings_secrets,
    text_lines,
    to_json_bytes,
)
from webapp.notifications.channels.replies import (
    herald_fault,
    ip_not_allowed,
    keyword_missing,
    outcome,
    parse_json,
    provider_code,
    rate_limited,
    raw_reply,
    refused,
    robot_gone,
    sign_mismatch,
    transport,
)
from webapp.notifications.outcome import Outcome, Status

KIND = "feishu"
API = "feishu"  # Lark speaks the same API on another host
LABEL = _l("Feishu")
OFFICIAL_HOSTS = ("open.feishu.cn",)
EXAMPLE_URL = "https://open.feishu.cn/open-apis/bot/v2/hook/…"
STYLES = ("text", "markdown")  # markdown is sent as Feishu's rich text ("post")
USES_KEYWORDS = True
USES_SECRET = True
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


def check_url(url: str) -> UrlCheck:
    return check_webhook_url(KIND, url)


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


def classify(
    status_code: int,
    headers: Mapping[str, str] | None,
    body_text: str,
    *,
    settings: RobotSettings | None = None,
    now: datetime | None = None,
) -> Outcome:
    """Read the reply: success only when code is 0; errors come as HTTP 200 too, except 9499 and 404."""
    raw = raw_reply(status_code, body_text, settings_secrets(settings))
    reply = parse_json(body_text)
    code = provider_code(reply, "code") if reply else None
    if code is None or status_code >= 500 or status_code == 404:
        return transport(status_code, headers, body_text, raw, settings)
    if code == 0 and 200 <= status_code < 300:
        return outcome(Status.SENT, code=code, raw=raw)
    msg = str(reply.get("msg", ""))
    if code == 19024:
        return keyword_missing(code, raw, settings)
    if code == 19021:
        return sign_mismatch(code, raw, now, headers)
    if code == 19022:
        return ip_not_allowed(code, raw)
    if code == 19001:
        return robot_gone(code, raw)
    if code == 11232 or (code == 9499 and "too many" in msg.lower()):
        return rate_limited(code, raw)
    if code == 9499:
        return _bad_request(code, raw)
    if code == 19002:
        return herald_fault(code, raw, msg)
    return refused(code, raw, msg)


def _bad_request(code: int, raw: str) -> Outcome:
    return outcome(
        Status.FAILED,
        _l("Refused as a bad request: the message is over 20 KB or not in the expected shape."),
        _l(
            "Shorten the robot template in Message settings. If a short message fails too, a gateway in "
            "between may be altering the request; report it with this delivery's details."
        ),
        code,
        raw,
    )
