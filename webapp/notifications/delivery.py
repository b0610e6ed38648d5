"""Delivery, in one place: claim rows, send them through their channel, read the replies, record the attempts.

Three steps, each in a module of its own, so that the database is touched twice per batch of messages and once
per send:

- claims.prepare() claims every due row of a job in one transaction (one UPDATE), gives each robot message its
  place in its robot's pace, and reads what sending needs (settings) once per batch; what a message says
  (title, body, link, @mentions, the event's facts) comes with its row, as it was planned;
- sends.send_robot() and sends.send_mail() talk to the provider; sends.send_in_turn() records each attempt
  (through the caller) before the next send;
- records.write() records attempts in the caller's transaction.

This module runs them for the rest of Herald: deliver() in a row (tests, the CLI, Send test message), the
sweeper's queries, Resend. The dispatcher runs the sends in its pool. A row is only ever sent under its
claim's lease, and only while enough of the lease is left for the send to finish: a dead worker's rows come
back to others, and a row whose lease ran out while it waited is given back unsent rather than risk a second
copy.
"""

import logging
from datetime import datetime

from flask import current_app
from sqlalchemy import func, or_, select

from webapp.extensions import db
from webapp.models import Delivery, Robot
from webapp.models._types import utcnow
from webapp.models.notifications import OPEN, DeliveryStatus
from webapp.notifications.claims import NOT_SENT, claim, prepare, robot_message, robot_settings
from webapp.notifications.jobs import Attempt, Prepared
from webapp.notifications.records import record, write
from webapp.notifications.sends import internal_error, send_in_turn

# What the rest of Herald uses of delivery, whichever step module it lives in.
__all__ = [
    "NOT_SENT",
    "OPEN",
    "deliver",
    "due_messages",
    "next_due",
    "prepare_guarded",
    "record",
    "resend",
    "robot_message",
    "robot_settings",
    "send_in_turn",
    "send_test_message",
    "write",
]
log = logging.getLogger(__name__)


def deliver(delivery_ids: list[int]) -> None:
    """Send every due row among these ids now, in this thread; e-mail shares one SMTP session."""
    prepared = prepare_guarded(delivery_ids)
    jobs = iter(prepared.jobs)

    def record(attempt: Attempt) -> None:
        write([attempt])
        db.session.commit()

    send_in_turn(lambda: next(jobs, None), record, prepared.marked)


def prepare_guarded(delivery_ids: list[int]) -> Prepared:
    """prepare(); a bug in Herald there becomes a recorded, retried attempt of each row, not a stuck row."""
    try:
        return prepare(delivery_ids)
    except Exception as error:
        log.exception("preparing messages failed inside Herald")
        db.session.rollback()
        write(Attempt(row, internal_error(error), started=utcnow()) for row in claim(delivery_ids))
        db.session.commit()
        return Prepared(mail=None, robots=[])


def next_due() -> datetime | None:
    """When the next open row falls due (a retry's time, a held message's place, a claim's end); None: none
    will by itself. A sweep that finds nothing due now waits for this, not for its next tick."""
    now = utcnow()
    retry = db.session.scalar(
        select(func.min(Delivery.next_attempt_at)).where(
            Delivery.status.in_(OPEN), Delivery.next_attempt_at > now
        )
    )
    lease = db.session.scalar(
        select(func.min(Delivery.lease_until)).where(Delivery.status.in_(OPEN), Delivery.lease_until > now)
    )
    return min((t for t in (retry, lease) if t is not None), default=None)


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
    delivery.status, delivery.next_attempt_at, delivery.lease_until = DeliveryStatus.PENDING, utcnow(), None
    delivery.retries = 0  # a fresh start: a temporary failure now is retried through the whole back-off
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
