"""Delivery, in one place: claim a row, send it through its channel, read the reply, record the attempt."""

import logging
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import requests
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select, update

from webapp.extensions import db
from webapp.models import Delivery, DeliveryAttempt, Project, Robot
from webapp.models._types import utcnow
from webapp.notifications import http, pacing
from webapp.notifications.channels.base import (
    CHANNELS,
    KINDS,
    RobotMessage,
    RobotSettings,
    scrub,
    settings_secrets,
)
from webapp.notifications.outcome import Outcome, Status
from webapp.notifications.rules import mail_receivers, message_setting

# How long a worker may hold a claimed row before another may take it over (a dead worker's rows come back);
# NOTIFICATIONS_LEASE_SECONDS overrides it.
LEASE = timedelta(minutes=5)
DEFAULT_BACKOFF = (30, 120, 600, 3600)
OPEN = ("pending", "retrying")
INTERNAL_ERROR = _l("Herald hit an unexpected error while sending this message.")
INTERNAL_ERROR_FIX = _l("Herald will try again; if it keeps failing, report it with this message's details.")
log = logging.getLogger(__name__)


def claim(delivery_id: int) -> Delivery | None:
    """Take one due row for this worker, atomically (one UPDATE; safe across processes), or None."""
    now = utcnow()
    result = db.session.execute(
        update(Delivery)
        .where(
            Delivery.id == delivery_id,
            Delivery.status.in_(OPEN),
            or_(Delivery.lease_until.is_(None), Delivery.lease_until < now),
            or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= now),
        )
        .values(lease_until=now + _lease())
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return db.session.get(Delivery, delivery_id) if result.rowcount == 1 else None


def _lease() -> timedelta:
    seconds = current_app.config.get("NOTIFICATIONS_LEASE_SECONDS")
    return LEASE if seconds is None else timedelta(seconds=seconds)


def record(delivery: Delivery, outcome: Outcome, started, duration_ms: int, request: str = "") -> None:
    """Write the attempt and move the row to sent, retrying (with backoff) or failed."""
    backoff = current_app.config.get("NOTIFICATIONS_BACKOFF", DEFAULT_BACKOFF)
    delivery.attempts += 1
    delivery.attempt_log.append(
        DeliveryAttempt(
            started_at=started,
            duration_ms=duration_ms,
            status=outcome.status.value,
            code=outcome.code,
            cause=str(outcome.cause),
            fix=str(outcome.fix),
            request=request,
            reply=outcome.raw,
        )
    )
    delivery.code, delivery.cause, delivery.fix, delivery.reply = (
        outcome.code,
        str(outcome.cause),
        str(outcome.fix),
        outcome.raw,
    )
    delivery.lease_until = None
    if outcome.status is Status.SENT:
        delivery.status, delivery.sent_at, delivery.next_attempt_at = "sent", utcnow(), None
    elif (
        outcome.status is Status.RETRY and delivery.event_id is not None and delivery.attempts <= len(backoff)
    ):
        # (A test message, with no event, is a one-off: its sender is watching the result now.)
        delivery.status = "retrying"
        delivery.next_attempt_at = utcnow() + timedelta(seconds=backoff[delivery.attempts - 1])
    else:
        delivery.status, delivery.next_attempt_at = "failed", None
    db.session.commit()


def deliver(delivery_ids: list[int]) -> None:
    """Send every due row among these ids; e-mail to several people shares one SMTP session.

    Each row is claimed just before it goes, so that its lease covers its own send only: rows waiting
    behind a slow robot stay free for other workers, and never outlive a lease taken long before their turn.
    """
    channels = dict(
        db.session.execute(select(Delivery.id, Delivery.channel).where(Delivery.id.in_(delivery_ids))).all()
    )
    emails = [claim(i) for i in delivery_ids if channels.get(i) == "email"]
    emails = [d for d in emails if d is not None]
    if emails:
        _guarded(_deliver_emails, emails)
    for delivery_id in delivery_ids:
        if channels.get(delivery_id) in KINDS:
            delivery = claim(delivery_id)
            if delivery is not None:
                _guarded(_deliver_robot, delivery)


def _guarded(send, target) -> None:
    """Run one send; a bug in Herald becomes a recorded, retried attempt instead of a row stuck as pending."""
    try:
        send(target)
    except Exception as error:
        log.exception("sending failed inside Herald")
        db.session.rollback()
        outcome = Outcome(Status.RETRY, INTERNAL_ERROR, INTERNAL_ERROR_FIX, "internal", type(error).__name__)
        for delivery in target if isinstance(target, list) else [target]:
            delivery = db.session.get(Delivery, delivery.id)
            if delivery.status in OPEN and delivery.lease_until is not None:
                record(delivery, outcome, utcnow(), 0)


def _deliver_robot(delivery: Delivery) -> None:
    robot = db.session.get(Robot, int(delivery.target))
    if robot is None:
        outcome = Outcome(
            Status.FAILED, _l("The robot was deleted."), _l("Nothing to do: the message is dropped.")
        )
        record(delivery, outcome, utcnow(), 0)
        return
    admission = pacing.admit(delivery, robot)  # within the provider's rate limit
    if admission is None:  # it waits for a free slot, or went out inside a digest: its row says which
        return
    started, clock = utcnow(), time.monotonic()
    if admission.refusal is not None:
        record(delivery, admission.refusal, started, 0)
        return
    settings = robot_settings(robot)
    now = datetime.now(UTC)
    request = CHANNELS[robot.kind].build_request(admission.message or robot_message(delivery), settings, now)
    route = proxies(request.url)
    try:
        reply = http.post(request, timeout=_timeouts(), proxies=route)
    except requests.RequestException as error:
        outcome = http.network_failure(error, request.url, kind=robot.kind, proxies=route)
        # requests quotes the whole address, token included, in its error text.
        outcome = replace(outcome, raw=scrub(outcome.raw, settings_secrets(settings)))
    else:
        outcome = CHANNELS[robot.kind].classify(
            reply.status_code, reply.headers, reply.text, settings=settings, now=now
        )
    duration = int((time.monotonic() - clock) * 1000)
    admission.finish()
    record(delivery, outcome, started, duration, request=describe(request.masked()))


def robot_settings(robot: Robot) -> RobotSettings:
    return RobotSettings(
        kind=robot.kind,
        webhook_url=robot.webhook_url,
        keywords=tuple(robot.keywords or ()),
        secret=robot.secret,
        style=robot.style,
        at_all=robot.at_all,
    )


def robot_message(delivery: Delivery) -> RobotMessage:
    """The message as the channel takes it, from the outbox row and (when there is one) its event."""
    event = delivery.event
    if event is None:  # a test message
        return RobotMessage(title=delivery.subject, body=delivery.body_text, delivery_id=str(delivery.id))
    case = event.data.get("case", {})
    base_url = current_app.config["BASE_URL"].rstrip("/")
    link = (
        f"{base_url}/projects/{event.project_id}/activity"
        if event.kind == "case.deleted"
        else f"{base_url}/projects/{event.project_id}/cases/{event.case_id}"
    )
    project = db.session.get(Project, event.project_id)
    setting = message_setting(event.project_id, event.kind)
    mobiles = [user.mobile for user in mail_receivers(event, setting) if user.mobile]
    return RobotMessage(
        title=delivery.subject,
        body=delivery.body_text,
        link=link,
        mention_mobiles=mobiles,
        event=event.kind,
        project={"id": event.project_id, "name": project.name if project else ""},
        case={"id": event.case_id, "title": case.get("title", ""), "link": link},
        actor={"id": event.actor_id, "name": event.actor.name if event.actor else ""},
        changes=[
            {"field": name, "old": old, "new": new}
            for name, (old, new) in event.data.get("changes", {}).items()
        ],
        delivery_id=str(delivery.id),
    )


def describe(request) -> str:
    """A masked request as text for the delivery record."""
    lines = [f"{request.method} {request.url}"]
    lines += [f"{name}: {value}" for name, value in request.headers.items()]
    return "\n".join(lines) + "\n\n" + request.body_text


def _timeouts() -> tuple[float, float]:
    return current_app.config.get("ROBOT_CONNECT_TIMEOUT", 5), current_app.config.get(
        "ROBOT_READ_TIMEOUT", 10
    )


def proxies(url: str = "") -> dict[str, str | None] | None:
    """The outbound proxy for robot traffic to url (System settings → Network); None: the environment's."""
    from webapp.services.network import proxies_for  # services import this module: import when used

    return proxies_for(url)


def _deliver_emails(deliveries: list[Delivery]) -> None:
    from webapp.notifications.channels import email as email_channel
    from webapp.notifications.smtp import send_messages
    from webapp.services.settings import smtp_settings

    settings = smtp_settings()
    started, clock = utcnow(), time.monotonic()
    messages = [
        email_channel.compose(
            subject=d.subject,
            html=d.body_html,
            text=d.body_text,
            sender=settings.sender,
            recipients=[d.target],
        )
        for d in deliveries
    ]
    outcomes = send_messages(settings, messages)
    duration = int((time.monotonic() - clock) * 1000)
    for delivery, outcome in zip(deliveries, outcomes, strict=True):
        record(
            delivery,
            outcome,
            started,
            duration,
            request=f"SMTP {settings.host}:{settings.port} → {delivery.target}",
        )


def due_messages(limit: int = 500) -> list[tuple[str, int]]:
    """(channel, id) of the rows to try now: due retries, and rows whose worker died (lease over)."""
    now = utcnow()
    rows = db.session.execute(
        select(Delivery.channel, Delivery.id)
        .where(
            Delivery.status.in_(OPEN),
            or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= now),
            or_(Delivery.lease_until.is_(None), Delivery.lease_until < now),
        )
        .order_by(Delivery.id)
        .limit(limit)
    )
    return [(channel, delivery_id) for channel, delivery_id in rows]


def resend(delivery: Delivery) -> None:
    """Send a sent or failed message again, as a new attempt."""
    delivery.status, delivery.next_attempt_at, delivery.lease_until = "pending", utcnow(), None
    db.session.commit()
    current_app.extensions["herald.dispatcher"].submit([delivery.id])


def send_test_message(robot: Robot, title: str, body: str) -> Delivery:
    """Send a test message to a robot now, through the same path as every message; returns its record."""
    delivery = Delivery(
        project_id=robot.project_id,
        channel=robot.kind,
        target=str(robot.id),
        recipient=robot.name,
        subject=title,
        body_text=body,
    )
    db.session.add(delivery)
    db.session.commit()
    deliver([delivery.id])
    db.session.refresh(delivery)
    return delivery
