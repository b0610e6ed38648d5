"""Reading a provider's reply: codes, raw text, and the plain-language cause and fix for each failure."""

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

from flask_babel import lazy_gettext as _l

from webapp.notifications.channels.base import (
    CHANNELS,
    KINDS,
    RAW_MAX_CHARS,
    RobotSettings,
    mask_url,
    scrub,
)
from webapp.notifications.outcome import Outcome, Status


def parse_json(body_text: str) -> dict[str, Any] | None:
    """The reply as a JSON object, or None when it is not one."""
    try:
        document = json.loads(body_text)
    except (TypeError, ValueError):
        return None
    return document if isinstance(document, dict) else None


def provider_code(reply: Mapping[str, Any], name: str) -> int | None:
    """The provider's own result code (errcode / code) as an int, or None when absent or odd."""
    try:
        return int(reply[name])
    except (KeyError, TypeError, ValueError):
        return None


def header(headers: Mapping[str, str] | None, name: str) -> str:
    """A header's value whatever the case of its name."""
    for key, value in (headers or {}).items():
        if key.lower() == name.lower():
            return value
    return ""


def is_html(headers: Mapping[str, str] | None, body_text: str) -> bool:
    start = body_text.lstrip()[:200].lower()
    return "html" in header(headers, "Content-Type").lower() or start.startswith(("<!doctype", "<html"))


def raw_reply(status_code: int, body_text: str, secrets: Sequence[str] = ()) -> str:
    text = body_text if len(body_text) <= RAW_MAX_CHARS else body_text[:RAW_MAX_CHARS] + " …"
    return scrub(f"HTTP {status_code}\n{text}", secrets)


def outcome(status: Status, cause: Any = "", fix: Any = "", code: Any = None, raw: str = "") -> Outcome:
    return Outcome(status=status, cause=cause, fix=fix, code=None if code is None else str(code), raw=raw)


def describe_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def clock_note(now: datetime | None, headers: Mapping[str, str] | None) -> str:
    """This server's time, and the provider's when its reply says, so a clock off by an hour shows."""
    if now is None:
        now = datetime.now(UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    note = str(_l("server time: %(time)s", time=describe_time(now)))
    try:
        theirs = parsedate_to_datetime(header(headers, "Date"))
    except (TypeError, ValueError):
        return note
    if theirs.tzinfo is None:
        return note
    drift = round((now - theirs).total_seconds() / 60)
    note += str(_l("; the provider's time: %(time)s", time=describe_time(theirs)))
    if drift >= 1:
        note += str(_l("; this server is %(minutes)s minutes ahead", minutes=drift))
    elif drift <= -1:
        note += str(_l("; this server is %(minutes)s minutes behind", minutes=-drift))
    return note


def keywords_text(settings: RobotSettings | None) -> str:
    keywords = settings.active_keywords if settings else []
    return ", ".join(keywords) if keywords else str(_l("(none set in Herald)"))


# Shared plain-language hints, so one cause reads the same for every provider.


def keyword_missing(code: Any, raw: str, settings: RobotSettings | None) -> Outcome:
    return outcome(
        Status.FAILED,
        _l(
            "Keyword missing: the group's robot found none of its custom keywords in the message. "
            "The robot's keywords in Herald are: %(keywords)s.",
            keywords=keywords_text(settings),
        ),
        _l(
            "Herald adds the first keyword to every message, so make the keywords here match the ones in "
            "the group's robot settings (security settings → custom keywords)."
        ),
        code,
        raw,
    )


def sign_mismatch(code: Any, raw: str, now: datetime | None, headers: Mapping[str, str] | None) -> Outcome:
    return outcome(
        Status.FAILED,
        _l(
            "Signature refused: the signing secret is wrong, or this server's clock is off by more than an "
            "hour (%(clock)s).",
            clock=clock_note(now, headers),
        ),
        _l(
            "Copy the secret again from the group's robot settings (security settings → signature), and "
            "make sure this server's clock is synchronised (NTP)."
        ),
        code,
        raw,
    )


def stale_timestamp(code: Any, raw: str, now: datetime | None, headers: Mapping[str, str] | None) -> Outcome:
    return outcome(
        Status.FAILED,
        _l(
            "Timestamp refused: this server's clock differs from the provider's by more than an hour "
            "(%(clock)s).",
            clock=clock_note(now, headers),
        ),
        _l("Synchronise this server's clock (NTP); Herald signs every message afresh."),
        code,
        raw,
    )


def robot_gone(code: Any, raw: str) -> Outcome:
    return outcome(
        Status.FAILED,
        _l("The robot was removed from the group, or the webhook address is wrong."),
        _l(
            "Copy the webhook address again from the group's robot settings; if the robot was removed, "
            "add a new one and update the address here."
        ),
        code,
        raw,
    )


def rate_limited(code: Any, raw: str) -> Outcome:
    return outcome(
        Status.RETRY,
        _l("Too many messages: the provider limits how often a robot may post."),
        _l(
            "Herald will try again later. If this happens often, switch off events this robot does not "
            "need in Message settings."
        ),
        code,
        raw,
    )


def too_large(code: Any, raw: str) -> Outcome:
    return outcome(
        Status.FAILED,
        _l("The message is larger than the provider accepts."),
        _l("Shorten the robot template in Message settings; Herald trims messages to the known limits."),
        code,
        raw,
    )


def ip_not_allowed(code: Any, raw: str) -> Outcome:
    return outcome(
        Status.FAILED,
        _l("The robot refused this server's address: it is not on the robot's IP allowlist."),
        _l(
            "The robot's IP allowlist must contain the address Herald (or its proxy) sends from: add it in "
            "the group's robot settings (security settings → IP address), or remove the allowlist."
        ),
        code,
        raw,
    )


def herald_fault(code: Any, raw: str, what: str) -> Outcome:
    return outcome(
        Status.FAILED,
        _l("The provider did not accept the message's format: %(what)s.", what=what),
        _l("This is Herald's fault, not yours: please report it with this delivery's details."),
        code,
        raw,
    )


def refused(code: Any, raw: str, message: str) -> Outcome:
    return outcome(
        Status.FAILED,
        _l("The provider refused the message: %(message)s", message=message),
        _l("Check the robot's settings in the group, then use Send test message."),
        code,
        raw,
    )


def gateway_address(kind: str, url: str) -> str | None:
    """The gateway's host[:port] when a robot's address is not its provider's (an nginx forward), else None.

    A generic webhook has no official host, so its receiver is never taken for a gateway.
    """
    if kind not in KINDS or kind == "webhook":
        return None
    try:
        parts = urlsplit((url or "").strip())
        hostname = (parts.hostname or "").lower()
    except ValueError:
        return None
    official = {host for other in KINDS for host in getattr(CHANNELS[other], "OFFICIAL_HOSTS", ())}
    if not hostname or hostname in official:
        return None
    return parts.netloc.rsplit("@", 1)[-1]


def official_host(kind: str) -> str:
    hosts = getattr(CHANNELS[kind], "OFFICIAL_HOSTS", ()) if kind in KINDS else ()
    return hosts[0] if hosts else ""


def transport(
    status_code: int,
    headers: Mapping[str, str] | None,
    body_text: str,
    raw: str,
    settings: RobotSettings | None = None,
) -> Outcome:
    """What a reply without a provider code means: 5xx, 3xx, 4xx, an HTML page, or text that is not JSON.

    Given the robot's settings, a reply that came through an intranet gateway is explained as the gateway's.
    """
    gateway = gateway_address(settings.kind, settings.webhook_url) if settings else None
    if gateway:
        hint = _through_gateway(status_code, headers, body_text, raw, settings, gateway)
        if hint is not None:
            return hint
    return _transport(status_code, headers, body_text, raw)


def _through_gateway(
    status_code: int,
    headers: Mapping[str, str] | None,
    body_text: str,
    raw: str,
    settings: RobotSettings,
    gateway: str,
) -> Outcome | None:
    """The gateway's own failures: cannot reach the provider, no matching location, refused by allow/deny."""
    code = f"HTTP {status_code}"
    provider, host = CHANNELS[settings.kind].LABEL, official_host(settings.kind)
    html = is_html(headers, body_text)
    if status_code == 404:
        return _gateway_404(code, raw, settings, gateway, provider, html or not parse_json(body_text))
    if status_code == 403 and html:
        return outcome(
            Status.FAILED,
            _l("The gateway at %(gateway)s refused Herald (HTTP 403).", gateway=gateway),
            _l(
                "The allow / deny lines of the location in nginx.conf must allow the address Herald's "
                "server connects from; reload nginx after changing them (nginx -s reload)."
            ),
            code,
            raw,
        )
    if status_code in (502, 504) or (html and status_code >= 400 and status_code not in (401, 407)):
        cause = (
            _l(
                "The gateway at %(gateway)s could not reach %(provider)s: it did not answer the gateway in "
                "time (HTTP 504).",
                gateway=gateway,
                provider=provider,
            )
            if status_code == 504
            else _l(
                "The gateway at %(gateway)s could not reach %(provider)s (HTTP %(status)s).",
                gateway=gateway,
                provider=provider,
                status=status_code,
            )
        )
        return outcome(
            Status.RETRY if status_code >= 500 else Status.FAILED,
            cause,
            _l(
                "On the gateway host, check that it reaches %(host)s: curl -sS -o /dev/null -w "
                "'%%{http_code}' https://%(host)s/ ; then read nginx's error.log (name resolution, firewall, "
                "outbound proxy, certificate checks). Herald tries again later.",
                host=host,
            ),
            code,
            raw,
        )
    if html and status_code < 400:
        return outcome(
            Status.FAILED,
            _l(
                "The gateway at %(gateway)s answered with a web page (HTTP %(status)s) instead of "
                "%(provider)s's reply.",
                gateway=gateway,
                status=status_code,
                provider=provider,
            ),
            _l(
                "Something at the gateway's address is not the forward: check that the webhook address "
                "names the nginx server and its port, and that the location forwards to %(host)s.",
                host=host,
            ),
            code,
            raw,
        )
    return None


def _gateway_404(
    code: str, raw: str, settings: RobotSettings, gateway: str, provider: Any, not_json: bool
) -> Outcome:
    path = urlsplit(mask_url(settings.webhook_url)).path
    if not_json:
        return outcome(
            Status.FAILED,
            _l(
                "The gateway at %(gateway)s has no forward for this address (HTTP 404 from nginx): the "
                "location in nginx.conf does not match the webhook path %(path)s.",
                gateway=gateway,
                path=path,
            ),
            _l(
                "Make the location in nginx.conf a prefix of that path (Robots → nginx configuration shows "
                "the block to paste), reload nginx (nginx -s reload), then use Send test message."
            ),
            code,
            raw,
        )
    return outcome(
        Status.FAILED,
        _l(
            "%(provider)s answered 404 through the gateway at %(gateway)s: the gateway forwards to a "
            "wrong path.",
            provider=provider,
            gateway=gateway,
        ),
        _l(
            "Check proxy_pass in nginx.conf: it must end with the provider's API folder and a slash, as the "
            "location does (Robots → nginx configuration shows the block)."
        ),
        code,
        raw,
    )


def _transport(status_code: int, headers: Mapping[str, str] | None, body_text: str, raw: str) -> Outcome:
    """The generic reading of a reply without a provider code."""
    code = f"HTTP {status_code}"
    html = is_html(headers, body_text)
    gateway = _l(
        "An HTML page instead of the robot API's JSON usually means a gateway in between (nginx, a proxy, "
        "a firewall) answered instead of the provider."
    )
    if status_code >= 500 or status_code in (408, 429):
        return outcome(
            Status.RETRY,
            _l(
                "The server answered HTTP %(status)s: it, or a gateway in front of it, is in trouble.",
                status=status_code,
            ),
            gateway if html else _l("Herald will try again later."),
            code,
            raw,
        )
    if 300 <= status_code < 400:
        return outcome(
            Status.FAILED,
            _l(
                "The address redirects (to %(location)s); robot APIs never redirect.",
                location=header(headers, "Location") or "?",
            ),
            _l("Use https:// and the exact address, or make the gateway forward instead of redirecting."),
            code,
            raw,
        )
    if status_code == 407:
        return outcome(
            Status.FAILED,
            _l("The outbound proxy asks for a user name and password (HTTP 407), or refused the ones given."),
            _l("Enter the proxy's user name and password in System settings → Network, then Test."),
            code,
            raw,
        )
    if status_code in (401, 403):
        return outcome(
            Status.FAILED,
            _l("Access refused with HTTP %(status)s.", status=status_code),
            gateway if html else _l("Check the proxy or gateway credentials and the robot's address."),
            code,
            raw,
        )
    if status_code == 404:
        return outcome(
            Status.FAILED,
            _l("Nothing at this address (HTTP 404): the path is wrong."),
            _l("Copy the webhook address again; behind a gateway, check its location and path forwarding."),
            code,
            raw,
        )
    if 400 <= status_code < 500:
        return outcome(
            Status.FAILED,
            _l("The server refused the request with HTTP %(status)s.", status=status_code),
            gateway if html else _l("Check the robot's address and settings, then use Send test message."),
            code,
            raw,
        )
    return outcome(
        Status.FAILED,
        _l("The reply is not the robot API's JSON, so delivery cannot be confirmed."),
        gateway if html else _l("Check that the address points at the robot API, not at another web page."),
        code,
        raw,
    )
