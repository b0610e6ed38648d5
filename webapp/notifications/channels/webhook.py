"""Generic webhook: a documented JSON document, signed with HMAC-SHA256 when a secret is set."""

import hashlib
import hmac
import uuid
from datetime import UTC, datetime
from typing import Any

from flask_babel import lazy_gettext as _l

from webapp.notifications.channels.building import epoch_seconds, json_request, to_json_bytes
from webapp.notifications.channels.message import HttpRequest, RobotMessage, RobotSettings, settings_secrets
from webapp.notifications.channels.replies import Reply, ReplyRule, outcome, sent
from webapp.notifications.channels.spec import Channel
from webapp.notifications.channels.transport import transport
from webapp.notifications.outcome import Outcome, Status

VERSION = 1  # of the document's shape; bumped only for changes a receiver would notice
USER_AGENT = f"Herald-Webhook/{VERSION}"
EVENT_HEADER = "X-Herald-Event"
DELIVERY_HEADER = "X-Herald-Delivery"
TIMESTAMP_HEADER = "X-Herald-Timestamp"
SIGNATURE_HEADER = "X-Herald-Signature"


def escape_text(text: str) -> str:
    """What a member wrote, as it is: the document is JSON data, and the receiver decides how to show it."""
    return text


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


def read_reply(status_code: int, body_text: str) -> tuple[Any, str]:
    """The receiver is ours to define, and the status is all it promises: the status is the code."""
    return f"HTTP {status_code}", ""


def _signature_refused(reply: Reply) -> Outcome:
    return outcome(
        Status.FAILED,
        _l(
            "The receiver refused the delivery (HTTP %(status)s): usually its signature check failed.",
            status=reply.status_code,
        ),
        _l(
            "Give the receiver the same secret as this webhook and check the signature as documented; "
            "make sure both clocks are synchronised."
        ),
        reply.code,
        reply.raw,
    )


def _gone(reply: Reply) -> Outcome:
    return outcome(
        Status.FAILED,
        _l("The receiver says this webhook is gone (HTTP 410)."),
        _l("Ask the receiver's owner for the new address, or delete this webhook."),
        reply.code,
        reply.raw,
    )


def _signed(reply: Reply) -> bool:
    return reply.settings is None or bool(reply.settings.secret)


REPLIES = (
    ReplyRule((), sent, statuses=range(200, 300)),  # any 2xx
    ReplyRule((), _signature_refused, statuses=(401, 403), when=_signed),
    ReplyRule((), _gone, statuses=(410,)),
    ReplyRule((), transport),  # the rest, read as any server's (a receiver has no gateway)
)

CHANNEL = Channel(
    kind="webhook",
    label=_l("Generic webhook"),
    build_request=build_request,
    read_reply=read_reply,
    replies=REPLIES,
    escape_text=escape_text,
    example_url="https://hooks.example.com/herald",
    secret=True,
    mentions=True,  # as data: the receiver gets the mobiles
    at_all=True,
    secret_parts=True,
    hint=_l(
        "Any http or https address that accepts a JSON POST: Herald sends the event, the case with its link, "
        "the actor and the changes, as docs/webhook.md describes. Any 2xx reply counts as delivered."
    ),
    secret_hint=_l(
        "Generic webhook, optional: Herald then signs each request's body with HMAC-SHA256 in the "
        "X-Herald-Signature header, so the receiver can check it came from Herald."
    ),
)
classify = CHANNEL.classify
