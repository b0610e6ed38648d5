"""Lark custom robot: Feishu's API on open.larksuite.com, so everything but the address comes from feishu."""

from dataclasses import replace

from flask_babel import lazy_gettext as _l

from webapp.notifications.channels import feishu
from webapp.notifications.channels.feishu import (
    MAX_BODY_BYTES,
    MENTION_NOTICE,
    build_request,
    escape_text,
    matches_shape,
    mention_notice,
    sign,
)

CHANNEL = replace(
    feishu.CHANNEL,
    kind="lark",
    label=_l("Lark"),
    official_hosts=("open.larksuite.com",),
    example_url="https://open.larksuite.com/open-apis/bot/v2/hook/…",
    hint=_l(
        "In the Lark group: Settings → Bots → Add bot → Custom bot; copy the webhook address "
        "(open.larksuite.com/open-apis/bot/v2/hook/…). If its security settings have custom keywords or "
        "signature verification, enter the same keywords and the secret here."
    ),
)
classify = CHANNEL.classify

__all__ = [
    "CHANNEL",
    "MAX_BODY_BYTES",
    "MENTION_NOTICE",
    "build_request",
    "classify",
    "escape_text",
    "matches_shape",
    "mention_notice",
    "sign",
]
