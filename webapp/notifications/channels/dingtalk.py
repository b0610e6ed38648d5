"""DingTalk (钉钉) custom robot: text or markdown, keywords, @mentions by mobile, signing in the query."""

import base64
from collections.abc import Mapping
from datetime import datetime
from urllib.parse import SplitResult, quote, urlsplit, urlunsplit

from flask_babel import lazy_gettext as _l

from webapp.notifications.channels.base import (
    HttpRequest,
    RobotMessage,
    RobotSettings,
    UrlCheck,
    check_webhook_url,
    epoch_millis,
    fit,
    hmac_sha256,
    inert_markup,
    json_request,
    query_params,
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
    stale_timestamp,
    too_large,
    transport,
)
from webapp.notifications.outcome import Outcome, Status

KIND = "dingtalk"
LABEL = _l("DingTalk")
OFFICIAL_HOSTS = ("oapi.dingtalk.com",)
EXAMPLE_URL = "https://oapi.dingtalk.com/robot/send?access_token=…"
STYLES = ("text", "markdown")
USES_KEYWORDS = True
USES_SECRET = True
MAX_BODY_BYTES = 20_000  # the whole request body; 460101 beyond
LINK_LABEL = _l("Open in Herald")
SIGN_PARAMS = ("timestamp", "sign")


def escape_text(text: str) -> str:
    """What a member wrote, as text in this robot's message: no markdown links, images and HTML."""
    return inert_markup(text)


def mention_notice(settings: RobotSettings) -> str | None:
    """DingTalk @mentions by mobile in both styles: nothing to warn about."""
    return None


def matches_shape(parts: SplitResult) -> bool:
    """Whether an address has the path and token of a DingTalk webhook, whatever the host (a gateway)."""
    return parts.path.rstrip("/").endswith("/robot/send") and bool(query_params(parts).get("access_token"))


def check_url(url: str) -> UrlCheck:
    return check_webhook_url(KIND, url)


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


def classify(
    status_code: int,
    headers: Mapping[str, str] | None,
    body_text: str,
    *,
    settings: RobotSettings | None = None,
    now: datetime | None = None,
) -> Outcome:
    """Read DingTalk's reply: success only when errcode is 0 (it answers HTTP 200 to nearly everything)."""
    raw = raw_reply(status_code, body_text, settings_secrets(settings))
    reply = parse_json(body_text)
    code = provider_code(reply, "errcode") if reply else None
    if code is None or status_code >= 500:
        return transport(status_code, headers, body_text, raw, settings)
    if code == 0:
        return outcome(Status.SENT, code=code, raw=raw)
    errmsg = str(reply.get("errmsg", ""))
    if code == 310000:
        return _security(errmsg, raw, settings, now, headers)
    if code in (300001, 300005):
        return robot_gone(code, raw)
    if code == 130101:
        return rate_limited(code, raw)
    if code == 460101:
        return too_large(code, raw)
    if code in (40035, 400402, 400403):
        return herald_fault(code, raw, errmsg)
    if code == -1:  # "系统繁忙"
        return outcome(Status.RETRY, _l("DingTalk is busy."), _l("Herald will try again later."), code, raw)
    return refused(code, raw, errmsg)


def meaning(errmsg: str) -> str:
    """The description part of an errmsg, in any of its three styles, lowercased for matching."""
    text = errmsg
    for label in ("错误描述:", "description:"):
        if label in text:
            text = text.split(label, 1)[1].split(";", 1)[0]
            break
    return text.split(", more:", 1)[0].strip().lower()


def _security(
    errmsg: str,
    raw: str,
    settings: RobotSettings | None,
    now: datetime | None,
    headers: Mapping[str, str] | None,
) -> Outcome:
    """310000 stands for four security checks; only the wording tells them apart."""
    what = meaning(errmsg)
    if "keyword" in what or "关键词" in what:
        return keyword_missing(310000, raw, settings)
    if "timestamp" in what or "过期" in what:
        return stale_timestamp(310000, raw, now, headers)
    if "sign" in what or "签名" in what:
        return sign_mismatch(310000, raw, now, headers)
    if "whitelist" in what or "白名单" in what or what.startswith("ip "):
        return ip_not_allowed(310000, raw)
    return refused(310000, raw, errmsg)
