"""Delivery, in one place: claim a row, send it through its channel, read the reply, record the attempt."""

import time
from datetime import timedelta

from flask import current_app
from sqlalchemy import or_, select, update

from webapp.extensions import db
from webapp.models import Delivery, DeliveryAttempt
from webapp.models._types import utcnow
from webapp.notifications.outcome import Outcome, Status

# How long a worker may hold a claimed row before another may take it over (a crashed worker's rows come back).
LEASE = timedelta(minutes=5)
DEFAULT_BACKOFF = (30, 120, 600, 3600)
OPEN = ("pending", "retrying")


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
        .values(lease_until=now + LEASE)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return db.session.get(Delivery, delivery_id) if result.rowcount == 1 else None


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
    elif outcome.status is Status.RETRY and delivery.attempts <= len(backoff):
        delivery.status = "retrying"
        delivery.next_attempt_at = utcnow() + timedelta(seconds=backoff[delivery.attempts - 1])
    else:
        delivery.status, delivery.next_attempt_at = "failed", None
    db.session.commit()


def deliver(delivery_ids: list[int]) -> None:
    """Send every due row among these ids; e-mail to several people shares one SMTP session."""
    claimed = [d for d in (claim(i) for i in delivery_ids) if d is not None]
    emails = [d for d in claimed if d.channel == "email"]
    if emails:
        _deliver_emails(emails)


def _deliver_emails(deliveries: list[Delivery]) -> None:
    from webapp.notifications.channels import email as email_channel
    from webapp.notifications.smtp import send_messages
    from webapp.services.settings import smtp_settings

    settings = smtp_settings()
    started, clock = utcnow(), time.monotonic()
    messages = [
        email_channel.compose(
            subject=d.subject, html=d.body_html, text=d.body_text, sender=settings.sender, recipients=[d.target]
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


def due_ids(limit: int = 500) -> list[int]:
    """Rows the sweeper should try now: due retries, and rows whose worker died (lease expired)."""
    now = utcnow()
    return list(
        db.session.scalars(
            select(Delivery.id)
            .where(
                Delivery.status.in_(OPEN),
                or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= now),
                or_(Delivery.lease_until.is_(None), Delivery.lease_until < now),
            )
            .order_by(Delivery.id)
            .limit(limit)
        )
    )


def resend(delivery: Delivery) -> None:
    """Send a sent or failed message again, as a new attempt."""
    delivery.status, delivery.next_attempt_at, delivery.lease_until = "pending", utcnow(), None
    db.session.commit()
    current_app.extensions["herald.dispatcher"].submit([delivery.id])
