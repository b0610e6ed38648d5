"""The channels Herald can post to, by kind: the one place a new kind of robot is added.

Pacing, the gateway, the robot forms, the services and the templates read these specs; the kind is the name
stored in the database (robots.kind, deliveries.channel).
"""

from webapp.notifications.channels import dingtalk, feishu, lark, slack, urls, webhook, wecom
from webapp.notifications.channels.spec import Channel

# In the order the robot form offers them. A plain dict, so that a test can put a broken channel in place.
CHANNELS: dict[str, Channel] = {
    channel.kind: channel
    for channel in (
        wecom.CHANNEL,
        feishu.CHANNEL,
        lark.CHANNEL,
        dingtalk.CHANNEL,
        webhook.CHANNEL,
        slack.CHANNEL,
    )
}
KINDS = tuple(CHANNELS)
OFFICIAL_HOSTS = frozenset(host for channel in CHANNELS.values() for host in channel.official_hosts)


def label(kind: str) -> str:
    """The kind's name for people; an unknown kind (a row from an older version) as it is stored."""
    return str(CHANNELS[kind].label) if kind in CHANNELS else kind


def kinds_with(capability: str) -> tuple[str, ...]:
    """The kinds whose spec has the capability (keywords, secret, at_all, secret_parts...)."""
    return tuple(kind for kind, channel in CHANNELS.items() if getattr(channel, capability))


def gateway_address(kind: str, url: str) -> str | None:
    """The gateway's host[:port] when a robot's address is not its provider's (an nginx forward), else None.

    A kind without official hosts (the generic webhook) posts to its receiver, never taken for a gateway; an
    address at another provider's host is a mix-up, not a gateway.
    """
    if kind not in CHANNELS or not CHANNELS[kind].official_hosts:
        return None
    if (read := urls.split(url)) is None:
        return None
    parts, hostname = read
    if not hostname or hostname in OFFICIAL_HOSTS:
        return None
    return parts.netloc.rsplit("@", 1)[-1]


def classify(kind: str, status_code: int, headers, body_text: str, *, settings=None, now=None):
    """The kind's reading of a reply, told whether the robot's address goes through a gateway."""
    gateway = gateway_address(kind, settings.webhook_url) if settings is not None else None
    return CHANNELS[kind].classify(
        status_code, headers, body_text, settings=settings, now=now, gateway=gateway
    )
