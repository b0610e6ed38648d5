"""Provider emulators as real HTTP servers on loopback, and a tiny sender for tests.

Use the fixtures by listing the plugin: `pytest_plugins = ["tests.emulators.fixtures"]`.
The real sender (pooled session, timeouts, retries, records) belongs to delivery; this one only posts.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

import requests

from tests.emulators.dingtalk import DingTalkEmulator
from tests.emulators.feishu import FeishuEmulator
from tests.emulators.server import NGINX_502, Delivered, Emulator, Received, Robot
from tests.emulators.webhook import WebhookReceiver
from tests.emulators.wecom import WeComEmulator
from webapp.notifications.channels import registry
from webapp.notifications.channels.message import HttpRequest, RobotMessage, RobotSettings
from webapp.notifications.outcome import Outcome

__all__ = [
    "NGINX_502",
    "DingTalkEmulator",
    "Delivered",
    "Emulator",
    "FeishuEmulator",
    "Received",
    "Reply",
    "Robot",
    "WeComEmulator",
    "WebhookReceiver",
    "deliver",
    "send",
]


@dataclass(frozen=True)
class Reply:
    status_code: int
    headers: dict[str, str]
    text: str


def send(request: HttpRequest, timeout: float = 5) -> Reply:
    """Post an HttpRequest as it is (URL untouched, body bytes as built) and return the reply."""
    with requests.Session() as session:
        session.trust_env = False  # loopback only: no proxy from the environment
        response = session.request(
            request.method, request.url, headers=dict(request.headers), data=request.body, timeout=timeout
        )
    return Reply(response.status_code, dict(response.headers), response.text)


def deliver(message: RobotMessage, settings: RobotSettings, now: datetime | None = None) -> Outcome:
    """Build, post and classify, the way delivery will: one attempt's outcome."""
    channel = registry.CHANNELS[settings.kind]
    now = now or datetime.now(UTC)
    reply = send(channel.build_request(message, settings, now))
    return registry.classify(
        settings.kind, reply.status_code, reply.headers, reply.text, settings=settings, now=now
    )
