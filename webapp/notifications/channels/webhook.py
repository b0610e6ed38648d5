"""Generic webhook: a documented JSON document, signed with HMAC-SHA256 when a secret is set."""

import hashlib
import hmac
import uuid
from collections.abc import Mapping
from datetime import datetime
from urllib.parse import SplitResult

from flask_babel import lazy_gettext as _l

from webapp.notifications.channels.base import (
    UTC,
    HttpRequest,
    RobotMessage,
    RobotSettings,
    UrlCheck,
    check_webhook_url,
    epoch_seconds,
    json_request,
    settings_secrets,
    to_json_bytes,
)
from webapp.notifications.channels.replies import outcome, raw_reply, transport
from webapp.notifications.outcome import Outcome, Status

KIND = "webhook"
LABEL = _l("Generic webhook")
OFFICIAL_HOSTS: tuple[str, ...] = ()
EXAMPLE_URL = "https://hooks.example.com/herald"
STYLES = ("text",)
USES_KEYWORDS = False
USES_SECRET = True
VERSION = 1  # of the document's shape; bumped only for changes a receiver would notice
USER_AGENT = f"Herald-Webhook/{VERSION}"
EVENT_HEADER = "X-Herald-Event"
DELIVERY_HEADER = "X-Herald-Delivery"
TIMESTAMP_HEADER = "X-Herald-Timestamp"
SIGNATURE_HEADER = "X-Herald-Signature"


def escape_text(text: str) -> str:
    """What a member wrote, as it is: the document is JSON data, and the receiver decides how to show it."""
    return text


def mention_notice(settings: RobotSettings) -> str | None:
    """The receiver gets the mobiles as data: nothing to warn about."""
    return None


def matches_shape(parts: SplitResult) -> bool:
    """Any address can be a generic webhook; there is no shape to recognise."""
    return False


def check_url(url: str) -> UrlCheck:
    return check_webhook_url(KIND, url)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The X-Herald-Signature value: "sha256=" and the hex HMAC-SHA256 of "timestamp." + the raw body."""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode("ascii") + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


def document(message: RobotMessage, settings: RobotSettings, now: datetime, delivery_id: str) -> dict:
    """The JSON document a receiver gets (described field by field in docs/webhook.md)."""
    return {
        "version": VERSION,
        "delivery_id": delivery_id,
        "event": message.event or "test",
        "sent_at": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "project": dict(message.project) or None,
        "case": dict(message.case) or None,
        "actor": dict(message.actor) or None,
        "changes": [dict(change) for change in message.changes],
        "message": {"title": message.title, "body": message.body, "link": message.link},
        "mentions": {"mobiles": message.mobiles, "all": settings.at_all},
    }


def build_request(message: RobotMessage, settings: RobotSettings, now: datetime) -> HttpRequest:
    """The POST of the document; with a secret, timestamp and signature headers over the exact body bytes."""
    # The caller passes the outbox's id; a test message without one still gets a unique id.
    delivery_id = message.delivery_id or uuid.uuid4().hex
    doc = document(message, settings, now, delivery_id)
    headers = {"User-Agent": USER_AGENT, EVENT_HEADER: doc["event"], DELIVERY_HEADER: delivery_id}
    if settings.secret:
        timestamp = epoch_seconds(now)
        headers[TIMESTAMP_HEADER] = str(timestamp)
        headers[SIGNATURE_HEADER] = signature(settings.secret, timestamp, to_json_bytes(doc))
    return json_request(settings.webhook_url.strip(), doc, secrets=settings_secrets(settings), **headers)


def classify(
    status_code: int,
    headers: Mapping[str, str] | None,
    body_text: str,
    *,
    settings: RobotSettings | None = None,
    now: datetime | None = None,
) -> Outcome:
    """Any 2xx is success: the receiver is ours to define, and the status is all it promises."""
    raw = raw_reply(status_code, body_text, settings_secrets(settings))
    if 200 <= status_code < 300:
        return outcome(Status.SENT, code=f"HTTP {status_code}", raw=raw)
    if status_code in (401, 403) and (settings is None or settings.secret):
        return outcome(
            Status.FAILED,
            _l(
                "The receiver refused the delivery (HTTP %(status)s): usually its signature check failed.",
                status=status_code,
            ),
            _l(
                "Give the receiver the same secret as this webhook and check the signature as documented; "
                "make sure both clocks are synchronised."
            ),
            f"HTTP {status_code}",
            raw,
        )
    if status_code == 410:
        return outcome(
            Status.FAILED,
            _l("The receiver says this webhook is gone (HTTP 410)."),
            _l("Ask the receiver's owner for the new address, or delete this webhook."),
            "HTTP 410",
            raw,
        )
    return transport(status_code, headers, body_text, raw)
