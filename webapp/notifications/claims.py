"""Delivery's first step: claim due rows under a lease and make them ready to send (robot settings, pace,
request built and signed), logging the sends a dead process left on their way.
"""

import logging
from collections import defaultdict
from datetime import timedelta

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, insert, or_, select, update

from webapp.extensions import db
from webapp.models import Delivery, DeliveryAttempt, Robot
from webapp.models._types import utcnow
from webapp.models.notifications import OPEN, AttemptStatus
from webapp.notifications import pacing, sending
from webapp.notifications.channels.message import RobotMessage, RobotSettings
from webapp.notifications.channels.registry import KINDS
from webapp.notifications.jobs import COLUMNS, Attempt, Claimed, MailJob, Prepared, RobotJob, first_row
from webapp.notifications.outcome import Outcome, Status
from webapp.notifications.records import ROW, mark_sending, write
from webapp.notifications.sends import internal_error, robot_timeouts

# How long a worker may hold a claimed row before another may take it over (a dead worker's rows come back);
# NOTIFICATIONS_LEASE_SECONDS overrides it.
LEASE = timedelta(minutes=2)
# A message whose robot is gone or disabled is sent nowhere; a test message still goes to a disabled robot
# (an administrator checks its set-up before enabling it). The row's code says why; Resend reads it.
# A message whose robot is gone or disabled is sent nowhere; a test message still goes to a disabled robot
# (an administrator checks its set-up before enabling it). The row's code says why; Resend reads it.
ROBOT_DELETED = _l("Not sent: the robot was deleted.")
ROBOT_DELETED_FIX = _l("Nothing to do: the message is dropped.")
ROBOT_DISABLED = _l("Not sent: the robot was disabled.")
ROBOT_DISABLED_FIX = _l(
    "Enable the robot in Project settings → Robots if its group should hear again; then Resend this message "
    "if it is still wanted."
)
NOT_SENT = {
    "robot_deleted": Outcome(Status.FAILED, ROBOT_DELETED, ROBOT_DELETED_FIX, "robot_deleted"),
    "robot_disabled": Outcome(Status.FAILED, ROBOT_DISABLED, ROBOT_DISABLED_FIX, "robot_disabled"),
}
INTERRUPTED = _l(
    "Herald stopped (a crash, a kill or a power cut) while this message was on its way: whether it reached "
    "its recipient is unknown, so it was sent again."
)
INTERRUPTED_FIX = _l(
    "Nothing to do. If it arrived twice, both copies carry the same identity (the mail's Message-ID, the "
    "webhook's X-Herald-Delivery): mail clients and receivers that drop duplicates show it once."
)
log = logging.getLogger(__name__)


def _lease() -> timedelta:
    seconds = current_app.config.get("NOTIFICATIONS_LEASE_SECONDS")
    return LEASE if seconds is None else timedelta(seconds=seconds)


def claim(ids: list[int]) -> list[Claimed]:
    """Take the due rows among ids for this worker, atomically (one UPDATE; safe across processes)."""
    now = utcnow()
    lease = _lease()
    until = now + lease
    # A send may start while the lease has room for the longest send (the robot timeouts), or half of it.
    send_by = until - min(timedelta(seconds=sum(robot_timeouts())), lease / 2)
    table = Delivery.__table__
    rows = db.session.execute(
        update(table)
        .where(
            table.c.id.in_(ids),
            table.c.status.in_(OPEN),
            or_(table.c.lease_until.is_(None), table.c.lease_until < now),
            or_(table.c.next_attempt_at.is_(None), table.c.next_attempt_at <= now),
        )
        .values(lease_until=until)
        .returning(*(table.c[name] for name in COLUMNS))
    ).all()
    order = {delivery_id: n for n, delivery_id in enumerate(ids)}
    claimed = [Claimed(*row, lease_until=until, send_by=send_by) for row in rows]
    _log_interrupted([row for row in claimed if row.sending_at is not None])
    return sorted(claimed, key=lambda row: order[row.id])


def _log_interrupted(rows: list[Claimed]) -> None:
    """Rows a dead process had on their way: log the send it may have made, as an attempt of unknown outcome.

    The provider cannot be asked whether it got the message, so it goes again (with the same identity); the
    log shows both sends.
    """
    if not rows:
        return
    db.session.execute(
        insert(DeliveryAttempt.__table__),
        [
            {
                "delivery_id": row.id,
                "started_at": row.sending_at,
                "duration_ms": 0,
                "status": AttemptStatus.INTERRUPTED,
                "code": "interrupted",
                "cause": str(INTERRUPTED),
                "fix": str(INTERRUPTED_FIX),
                "request": "",
                "reply": "",
            }
            for row in rows
        ],
    )
    db.session.execute(
        update(Delivery.__table__)
        .where(ROW.id == bindparam("row_id"))
        .values(attempts=bindparam("attempts"), sending_at=None),
        [{"row_id": row.id, "attempts": row.attempts + 1} for row in rows],
    )
    for row in rows:
        row.attempts, row.sending_at = row.attempts + 1, None
    log.warning("%d message(s) were on their way when a process stopped; sending them again", len(rows))


def prepare(ids: list[int]) -> Prepared:
    """Claim the due rows among ids and make them ready to send, in one transaction.

    Rows that need no send (the robot is gone or disabled, a test message the robot cannot take now) are
    recorded here; rows that must wait for their robot's pace, or went into a digest, are left as their row
    says. The first job's first row, which the worker that claimed them sends at once, is marked as on its
    way.
    """
    if not ids:
        return Prepared(mail=None, robots=[])
    rows = claim(ids)
    mail = [row for row in rows if row.channel == "email"]
    by_robot: dict[int, list[Claimed]] = defaultdict(list)
    for row in rows:
        if row.channel in KINDS:
            by_robot[int(row.target)].append(row)
    prepared = Prepared(mail=MailJob(mail, _smtp_settings()) if mail else None, robots=[])
    if by_robot:
        done = _prepare_robots(by_robot, prepared)
        write(done)
    prepared.marked = {first_row(job) for job in prepared.jobs[:1]} - {None}
    mark_sending(sorted(prepared.marked))
    db.session.commit()
    return prepared


def _prepare_robots(by_robot: dict[int, list[Claimed]], prepared: Prepared) -> list[Attempt]:
    # What sending needs of each robot, as plain rows: loading ORM objects costs more than the rest here.
    robots = {
        robot.id: robot
        for robot in db.session.execute(
            select(*(getattr(Robot, name) for name in _ROBOT_COLUMNS)).where(Robot.id.in_(list(by_robot)))
        )
    }
    network, guard = _proxy_settings(), _outbound_guard()
    done: list[Attempt] = []
    batch = []
    for robot_id in sorted(by_robot):  # pacing rows are locked in one order by everyone
        robot, rows = robots.get(robot_id), []
        for row in by_robot[robot_id]:
            if (refused := _not_sent(robot, row)) is not None:
                done.append(Attempt(row, refused, started=utcnow()))
            else:
                rows.append(row)
        if rows:
            batch.append((robot, rows))
    settings = {robot.id: robot_settings(robot) for robot, _ in batch}
    admitted, prepared.wake_at = pacing.admit(batch)
    for row, admission in admitted:
        if admission.refusal is not None:
            done.append(Attempt(row, admission.refusal, started=utcnow()))
            continue
        robot = robots[int(row.target)]
        job = RobotJob(
            row=row,
            robot_id=robot.id,
            settings=settings[robot.id],
            message=admission.message or message_of(row),
            proxies=_proxies_for(robot.webhook_url, network),
            guard=guard,
            slot=admission.slot,
        )
        try:
            job.build()
        except Exception as error:  # a bug in Herald: recorded and retried; its place in the pace is freed
            log.exception("building a robot message failed inside Herald")
            paced = {"robot_id": robot.id} if admission.slot is not None else {}
            done.append(Attempt(row, internal_error(error), started=utcnow(), **paced))
            continue
        prepared.robots.append(job)
    return done


def _not_sent(robot, row: Claimed) -> Outcome | None:
    """Why a robot message goes nowhere: its robot was deleted, or is disabled; None: it may go."""
    if robot is None:
        return NOT_SENT["robot_deleted"]
    if not robot.enabled and row.event_id is not None:
        return NOT_SENT["robot_disabled"]
    return None


_ROBOT_COLUMNS = (
    "id",
    "kind",
    "webhook_url",
    "keywords",
    "secret",
    "style",
    "at_all",
    "secret_parts",
    "enabled",
)


def _smtp_settings():
    return sending.readers().smtp()


def _proxy_settings():
    return sending.readers().proxy()


def _outbound_guard():
    return sending.readers().guard()


def _proxies_for(url: str, network) -> dict | None:
    return sending.readers().proxies_for(url, network)


# The stored facts the channel takes as they are (the others serve Herald: a digest's link).
MESSAGE_FACTS = ("link", "mention_mobiles", "event", "project", "case", "actor", "changes")


def message_of(row: Claimed) -> RobotMessage:
    """A robot message as its row says it: the title, body, link, @mentions and facts stored when it was
    planned, never worked out again (a retry an hour later @mentions whom the first attempt did)."""
    facts = row.facts or {}  # a test message has none
    return RobotMessage(
        title=row.subject,
        body=row.body_text,
        delivery_id=str(row.id),
        **{name: facts[name] for name in MESSAGE_FACTS if name in facts},
    )


def robot_message(delivery: Delivery) -> RobotMessage:
    """The message as the channel takes it, from an outbox row."""
    return message_of(Claimed.of(delivery))


def robot_settings(robot: Robot) -> RobotSettings:
    return RobotSettings(
        kind=robot.kind,
        webhook_url=robot.webhook_url,
        keywords=tuple(robot.keywords or ()),
        secret=robot.secret,
        style=robot.style,
        at_all=robot.at_all,
        secret_parts=tuple(robot.secret_parts or ()),
    )
