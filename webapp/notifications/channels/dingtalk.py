"""DingTalk (钉钉) custom robot: text or markdown, keywords, @mentions by mobile, signing in the query."""

import base64
from datetime import datetime
from typing import Any
from urllib.parse import SplitResult, quote, urlsplit, urlunsplit

from flask_babel import lazy_gettext as _l

from webapp.notifications.channels.building import (
    epoch_millis,
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
    busy,
    herald_fault,
    ip_not_allowed,
    keyword_missing,
    parse_json,
    provider_code,
    rate_limited,
    robot_gone,
    sent,
    sign_mismatch,
    stale_timestamp,
    too_large,
)
from webapp.notifications.channels.spec import Channel, Window
from webapp.notifications.channels.urls import query_params

MAX_BODY_BYTES = 20_000  # the whole request body; 460101 beyond
LINK_LABEL = _l("Open in Herald")
SIGN_PARAMS = ("timestamp", "sign")
SECURITY = 310000  # four security checks share this code; only the wording tells them apart


def escape_text(text: str) -> str:
    """What a member wrote, as text in this robot's message: no markdown links, images and HTML."""
    return inert_markup(text)


def matches_shape(parts: SplitResult) -> bool:
    """Whether an address has the path and token of a DingTalk webhook, whatever the host (a gateway)."""
    return parts.path.rstrip("/").endswith("/robot/send") and bool(query_params(parts).get("access_token"))


def sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's signature: HMAC-SHA256 keyed with the whole secret over "timestamp\\nsecret", base64."""
    return base64.b64encode(hmac_sha256(secret, f"{timestamp_ms}\n{secret}")).decode("ascii")


def signed_url(url: str, secret: str, timestamp_ms: int) -> str:
    """The address plus timestamp and sign (URL-encoded exactly once), its other parameters verbatim."""
    parts = urlsplit(url)
    # A pasted address may carry an old signature: drop it, keep everything else as written (a gateway's too).
    kept = [p for p in parts.query.split("&") if p and p.partition("=")[0] not in SIGN_PARAMS]
    kept += [f"timestamp={timestamp_ms}", f"sign={quote(sign(secret, timestamp_ms), safe='')}"]
    return urlunsplit(parts._replace(query="&".join(kept)))


def build_request(message: RobotMessage, settings: RobotSettings, now: datetime) -> HttpRequest:
    """The POST that puts the message in the group, signed afresh with the clock's milliseconds."""
    url = settings.webhook_url.strip()
    if settings.secret:
        url = signed_url(url, settings.secret, epoch_millis(now))
    render = _markdown if settings.style == "markdown" else _text

    def document(title: str, body: str) -> dict:
        return render(title, body, message, settings)

    title, body = fit(
        message.title,
        message.body,
        settings.active_keywords,
        lambda t, b: len(to_json_bytes(document(t, b))),
        MAX_BODY_BYTES,
    )
    return json_request(url, document(title, body), secrets=settings_secrets(settings))


def _at(message: RobotMessage, settings: RobotSettings) -> dict:
    return {"atMobiles": message.mobiles, "isAtAll": settings.at_all}


def _mention_line(message: RobotMessage) -> str:
    # Without "@mobile" in the text DingTalk accepts atMobiles but shows no mention.
    return " ".join(f"@{mobile}" for mobile in message.mobiles)


def _text(title: str, body: str, message: RobotMessage, settings: RobotSettings) -> dict:
    content = text_lines(title, body, message.link, _mention_line(message))
    return {"msgtype": "text", "text": {"content": content}, "at": _at(message, settings)}


def _markdown(title: str, body: str, message: RobotMessage, settings: RobotSettings) -> dict:
    link = f"[{LINK_LABEL}]({message.link})" if message.link else ""
    parts = [f"#### {title}" if title else "", body, link, _mention_line(message)]
    text = "\n\n".join(p for p in parts if p)
    # The title is required (400402); it is what the notification preview shows.
    markdown = {"title": title or "Herald", "text": text}
    return {"msgtype": "markdown", "markdown": markdown, "at": _at(message, settings)}


def read_reply(status_code: int, body_text: str) -> tuple[Any, str]:
    """errcode and errmsg: DingTalk answers HTTP 200 to nearly everything."""
    reply = parse_json(body_text)
    code = provider_code(reply, "errcode") if reply else None
    return code, str(reply.get("errmsg", "")) if reply else ""


def meaning(errmsg: str) -> str:
    """The description part of an errmsg, in any of its three styles, lowercased for matching."""
    text = errmsg
    for label in ("错误描述:", "description:"):
        if label in text:
            text = text.split(label, 1)[1].split(";", 1)[0]
            break
    return text.split(", more:", 1)[0].strip().lower()


def _means(*words: str):
    """A condition on a 310000 reply: its description (in any of its styles) holds one of the words."""

    def holds(reply: Reply) -> bool:
        what = meaning(reply.message)
        return any(word in what for word in words)

    return holds


def _ip_refused(reply: Reply) -> bool:
    what = meaning(reply.message)
    return "whitelist" in what or "白名单" in what or what.startswith("ip ")


REPLIES = (
    ReplyRule({0}, sent),
    ReplyRule({SECURITY}, keyword_missing, when=_means("keyword", "关键词")),
    ReplyRule({SECURITY}, stale_timestamp, when=_means("timestamp", "过期")),
    ReplyRule({SECURITY}, sign_mismatch, when=_means("sign", "签名")),
    ReplyRule({SECURITY}, ip_not_allowed, when=_ip_refused),
    ReplyRule({300001, 300005}, robot_gone),
    ReplyRule({130101}, rate_limited),
    ReplyRule({460101}, too_large),
    ReplyRule({40035, 400402, 400403}, herald_fault),
    ReplyRule({-1}, busy(_l("DingTalk is busy."))),  # "系统繁忙"
)

CHANNEL = Channel(
    kind="dingtalk",
    label=_l("DingTalk"),
    build_request=build_request,
    read_reply=read_reply,
    replies=REPLIES,
    escape_text=escape_text,
    official_hosts=("oapi.dingtalk.com",),
    example_url="https://oapi.dingtalk.com/robot/send?access_token=…",
    matches_shape=matches_shape,
    api_folder="/robot/",
    styles=("text", "markdown"),
    keywords=True,
    secret=True,
    mentions=True,
    at_all=True,
    rate_windows=(Window(20, 60),),
    hint=_l(
        "In the DingTalk group: Settings → Smart group assistant → Add robot → Custom; copy the webhook "
        "address (…/robot/send?access_token=…). Its security settings need custom keywords or signing "
        "(a secret starting with SEC): enter the same here."
    ),
    secret_hint=_l("DingTalk: security settings → signing (加签) → the secret starting with SEC."),
)
classify = CHANNEL.classify
