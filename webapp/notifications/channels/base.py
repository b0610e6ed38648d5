"""The names callers imported from this module before it was split by concern, for code written meanwhile.

New code imports from the module of the concern: message (settings, message, request), building, markup,
masking, urls, replies, transport, spec (what a channel is), registry (the channels by kind), addresses.
"""

from webapp.notifications.channels.addresses import BARE_TOKEN, check_webhook_url
from webapp.notifications.channels.building import (
    EPOCH,
    TITLE_MAX_BYTES,
    TRUNCATION_MARKER,
    epoch_millis,
    epoch_seconds,
    fit,
    has_keyword,
    hmac_sha256,
    json_request,
    text_lines,
    to_json_bytes,
    truncate_utf8,
    with_keyword,
)
from webapp.notifications.channels.markup import ZERO_WIDTH_SPACE, inert_markup
from webapp.notifications.channels.masking import (
    SECRET_PATH,
    SECRET_PATHS,
    TOKEN_AFTER,
    TOKEN_PARAMS,
    VISIBLE_PARAMS,
    looks_like_token,
    mask,
    mask_url,
    scrub,
    url_tokens,
)
from webapp.notifications.channels.message import (
    HttpRequest,
    RobotMessage,
    RobotSettings,
    UrlCheck,
    settings_secrets,
)
from webapp.notifications.channels.registry import CHANNELS, KINDS
from webapp.notifications.channels.replies import RAW_MAX_CHARS
from webapp.notifications.channels.urls import host_is, query_params

__all__ = [
    "BARE_TOKEN",
    "CHANNELS",
    "EPOCH",
    "KINDS",
    "RAW_MAX_CHARS",
    "SECRET_PATH",
    "SECRET_PATHS",
    "TITLE_MAX_BYTES",
    "TOKEN_AFTER",
    "TOKEN_PARAMS",
    "TRUNCATION_MARKER",
    "VISIBLE_PARAMS",
    "ZERO_WIDTH_SPACE",
    "HttpRequest",
    "RobotMessage",
    "RobotSettings",
    "UrlCheck",
    "check_webhook_url",
    "epoch_millis",
    "epoch_seconds",
    "fit",
    "has_keyword",
    "hmac_sha256",
    "host_is",
    "json_request",
    "inert_markup",
    "looks_like_token",
    "mask",
    "mask_url",
    "query_params",
    "scrub",
    "settings_secrets",
    "text_lines",
    "to_json_bytes",
    "truncate_utf8",
    "url_tokens",
    "with_keyword",
]
