"""Lark custom robot: Feishu's API on open.larksuite.com, so everything but the address comes from feishu."""

from flask_babel import lazy_gettext as _l

from webapp.notifications.channels.base import UrlCheck, check_webhook_url
from webapp.notifications.channels.feishu import (
    API,
    MAX_BODY_BYTES,
    MENTION_NOTICE,
    STYLES,
    USES_KEYWORDS,
    USES_SECRET,
    build_request,
    classify,
    escape_text,
    matches_shape,
    mention_notice,
    sign,
)

KIND = "lark"
LABEL = _l("Lark")
OFFICIAL_HOSTS = ("open.larksuite.com",)
EXAMPLE_URL = "https://open.larksuite.com/open-apis/bot/v2/hook/…"

__all__ = [
    "API",
    "EXAMPLE_URL",
    "KIND",
    "LABEL",
    "MAX_BODY_BYTES",
    "MENTION_NOTICE",
    "OFFICIAL_HOSTS",
    "STYLES",
    "USES_KEYWORDS",
    "USES_SECRET",
    "build_request",
    "escape_text",
    "check_url",
    "classify",
    "matches_shape",
    "mention_notice",
    "sign",
]


def check_url(url: str) -> UrlCheck:
    return check_webhook_url(KIND, url)
