"""Delivery's third step: record attempts (the attempt log, each row's new state, the robots' pace) and mark
the rows a worker takes next as on their way, in the caller's transaction.
"""

from collections import defaultdict
from collections.abc import Iterable
from datetime import timedelta

from flask import current_app
from sqlalchemy import bindparam, insert, update

from webapp.extensions import db
from webapp.models import Delivery, DeliveryAttempt
from webapp.models._types import utcnow
from webapp.models.notifications import DeliveryStatus
from webapp.notifications import pacing
from webapp.notifications.jobs import Attempt, Claimed
from webapp.notifications.outcome import Outcome, Status

DEFAULT_BACKOFF = (30, 120, 600, 3600)


def mark_sending(row_ids: list[int]) -> None:
    """Mark rows as on their way (in the caller's transaction): the few each worker is about to send."""
    if row_ids:
        db.session.execute(update(Delivery.__table__).where(ROW.id.in_(row_ids)).values(sending_at=utcnow()))


ROW = Delivery.__table__.c


def _record_statement(sent_at):
    return (
        update(Delivery.__table__)
        .where(ROW.id == bindparam("row_id"))
        .values(
            attempts=bindparam("attempts"),
            retries=bindparam("retries"),
            status=bindparam("status"),
            next_attempt_at=bindparam("next_at"),
            sent_at=sent_at,
            lease_until=None,
            sending_at=None,
            code=bindparam("code"),
            cause=bindparam("cause"),
            fix=bindparam("fix"),
            reply=bindparam("reply"),
        )
    )


_RECORD_SENT = _record_statement(bindparam("sent_at"))
_RECORD_UNSENT = _record_statement(ROW.sent_at)  # a row sent before keeps its first sent time
# Given back unsent: only if the claim is still this worker's (another may have taken the row over since).
_GIVE_BACK = (
    update(Delivery.__table__)
    .where(ROW.id == bindparam("row_id"), ROW.lease_until == bindparam("lease"))
    .values(lease_until=None, sending_at=None)
)


def write(attempts: Iterable[Attempt]) -> None:
    """Record attempts in the current transaction: the attempt log, each row's new state, the robots' pace.

    A sent message becomes sent; a temporary failure retrying after its back-off (while steps are left);
    anything else failed. The caller commits.
    """
    attempts = list(attempts)
    if not attempts:
        return
    backoff = current_app.config.get("NOTIFICATIONS_BACKOFF", DEFAULT_BACKOFF)
    now = utcnow()
    sent, unsent, log_rows, given_back = [], [], [], []
    paces: dict[int, dict[int, float | None]] = defaultdict(dict)
    mark_sending([attempt.then for attempt in attempts if attempt.then is not None])
    for attempt in attempts:
        row, outcome = attempt.row, attempt.outcome
        if attempt.robot_id is not None:
            paces[attempt.robot_id][row.id] = attempt.ended if outcome is not None else None
        if outcome is None:
            given_back.append({"row_id": row.id, "lease": row.lease_until})
            continue
        sent_at, next_at = None, None
        retries = row.retries + 1 if outcome.status is Status.RETRY else 0
        if outcome.status is Status.SENT:
            status, sent_at = DeliveryStatus.SENT, now
        elif outcome.status is Status.RETRY and row.event_id is not None and retries <= len(backoff):
            # (A test message, with no event, is a one-off: its sender is watching the result now.)
            status, next_at = DeliveryStatus.RETRYING, now + timedelta(seconds=backoff[retries - 1])
        else:
            status = DeliveryStatus.FAILED
        text = {
            "code": outcome.code,
            "cause": str(outcome.cause),
            "fix": str(outcome.fix),
            "reply": outcome.raw,
        }
        values = {
            "row_id": row.id,
            "attempts": row.attempts + 1,
            "retries": retries,
            "status": status,
            "next_at": next_at,
            **text,
        }
        if sent_at is not None:
            sent.append({**values, "sent_at": sent_at})
        else:
            unsent.append(values)
        log_rows.append(
            {
                "delivery_id": row.id,
                "started_at": attempt.started or now,
                "duration_ms": attempt.duration_ms,
                "status": outcome.status.value,
                "request": attempt.request,
                **text,
            }
        )
    if log_rows:
        db.session.execute(insert(DeliveryAttempt.__table__), log_rows)
    if sent:
        db.session.execute(_RECORD_SENT, sent)
    if unsent:
        db.session.execute(_RECORD_UNSENT, unsent)
    if given_back:
        db.session.execute(_GIVE_BACK, given_back)
    pacing.finish(paces)


def record(delivery: Delivery, outcome: Outcome, started, duration_ms: int, request: str = "") -> None:
    """Record one attempt of an ORM row (a test mail sent outside the outbox) and commit."""
    db.session.flush()
    row = Claimed.of(delivery)
    write([Attempt(row, outcome, started=started, duration_ms=duration_ms, request=request)])
    db.session.commit()
    db.session.expire(delivery)
