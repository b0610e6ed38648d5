"""Checking a robot's webhook address against its kind, and against every other kind the registry knows."""

import re
from urllib.parse import SplitResult, urlsplit

from flask_babel import lazy_gettext as _l

from webapp.notifications.channels.message import UrlCheck
from webapp.notifications.channels.registry import CHANNELS
from webapp.notifications.channels.spec import Channel
from webapp.notifications.channels.urls import host_is

BARE_TOKEN = re.compile(r"^(?:key=|access_token=)?[A-Za-z0-9_-]{16,}$")  # a key pasted alone


def check_webhook_url(kind: str, url: str) -> UrlCheck:
    """Refuse what cannot be an address; warn when an address does not look like a robot of this kind."""
    url = (url or "").strip()
    channel = CHANNELS[kind]
    if not url:
        return UrlCheck(error=_l("Enter the robot's webhook address."))
    if "://" not in url:
        if BARE_TOKEN.match(url):
            return UrlCheck(
                error=_l(
                    "This looks like the robot's key or token alone. Paste the whole webhook address, "
                    "e.g. %(example)s (or your intranet gateway's address).",
                    example=channel.example_url,
                )
            )
        return UrlCheck(error=_l("Enter a full address starting with http:// or https://."))
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return UrlCheck(error=_l("Enter a full address starting with http:// or https://."))
    return UrlCheck(warning=_shape_warning(kind, parts))


def _shape_warning(kind: str, parts: SplitResult) -> str | None:
    channel = CHANNELS[kind]
    if channel.matches_shape(parts):
        if host_is(parts, channel.official_hosts) and parts.scheme.lower() != "https":
            return _l("The official address starts with https://; plain http may be refused.")
        return _other_official_kind(kind, parts)
    if host_is(parts, channel.official_hosts):
        return _l(
            "This is %(provider)s's server, but the path or token is not that of a robot webhook. "
            "A webhook address looks like %(example)s.",
            provider=channel.label,
            example=channel.example_url,
        )
    other = _other_official_kind(kind, parts) or _other_shape(kind, parts)
    if other or not channel.official_hosts:  # a generic webhook's address may be anything
        return other
    return _l(
        "This is not an official %(provider)s address. That is fine for an intranet gateway (nginx): "
        "use Send test message to check that it reaches the robot.",
        provider=channel.label,
    )


def _other_official_kind(kind: str, parts: SplitResult) -> str | None:
    for other, channel in CHANNELS.items():
        if other != kind and host_is(parts, channel.official_hosts):
            return _mismatch(kind, channel)
    return None


def _other_shape(kind: str, parts: SplitResult) -> str | None:
    own = CHANNELS[kind]
    for other, channel in CHANNELS.items():
        if other != kind and channel.matches_shape(parts) and own.same_api != channel.same_api:
            return _mismatch(kind, channel)
    return None


def _mismatch(kind: str, other: Channel) -> str:
    return _l(
        "This looks like a %(other)s address, but the kind chosen is %(kind)s.",
        other=other.label,
        kind=CHANNELS[kind].label,
    )
