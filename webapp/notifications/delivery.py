"""Delivery, in one place: claim rows, send them through their channel, read the replies, record the attempts.

Three steps, so that the database is touched twice per batch of messages, not several times per message:

- prepare() claims every due row of a job in one transaction (one UPDATE), gives each robot message its
  place in its robot's pace, and reads what sending needs (settings) once per batch; what a message says
  (title, body, link, @mentions, the event's facts) comes with its row, as it was planned;
- send_robot() and send_mail() talk to the provider and touch no database;
- write() records a batch of attempts in one transaction.

deliver() runs the three in a row (tests, the CLI, Send test message); the dispatcher runs the sends in its
pool and writes attempts as they come, from one recorder thread. A row is only ever sent under its claim's
lease, and only while enough of the lease is left for the send to finish: a dead worker's rows come back to
others, and a row whose lease ran out while it waited is given back unsent rather than risk a second copy.
"""

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import requests
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, func, insert, or_, select, update

from webapp.extensions import db
from webapp.models import Delivery, DeliveryAttempt, Robot
from webapp.models._types import utcnow
from webapp.models.notifications import OPEN, AttemptStatus, DeliveryStatus
from webapp.notifications import http, pacing, sending
from webapp.notifications.channels import email as email_channel
from webapp.notifications.channels import registry
from webapp.notifications.channels.masking import scrub
from webapp.notifications.channels.message import HttpRequest, RobotMessage, RobotSettings, settings_secrets
from webapp.notifications.channels.registry import CHANNELS, KINDS
from webapp.notifications.guard import STRICT
from webapp.notifications.outcome import Outcome, Status
from webapp.notifications.smtp import send_each

# How long a worker may hold a claimed row before another may take it over (a dead worker's rows come back);
# NOTIFICATIONS_LEASE_SECONDS overrides it.
LEASE = timedelta(minutes=2)
DEFAULT_BACKOFF = (30, 120, 600, 3600)
INTERNAL_ERROR = _l("Herald hit an unexpected error while sending this message.")
INTERNAL_ERROR_FIX = _l("Herald will try again; if it keeps failing, report it with this message's details.")
# A message whose robot is gone or disabled is sent nowhere; a test message still goes to a disabled robot
# (an administrator checks its set-up before enabling it). The row's code says why; Resend reads it.
ROBOT_DELETED = _l("Not sent: the robot was deleted.")
ROBOT_DELETED_FIX = _l("Nothing to do: the message is dropped.")
INTERRUPTED = _l(
    "Herald stopped (a crash, a kill or a power cut) while this message was on its way: whether it reached "
    "its recipient is unknown, so it was sent again."
)
INTERRUPTED_FIX = _l(
    "Nothing to do. If it arrived twice, both copies carry the same identity (the mail's Message-ID, the "
    "webhook's X-Herald-Delivery): mail clients and receivers that drop duplicates show it once."
)
ROBOT_DISABLED = _l("Not sent: the robot was disabled.")
ROBOT_DISABLED_FIX = _l(
    "Enable the robot in Project settings → Robots if its group should hear again; then Resend this message "
    "if it is still wanted."
)
NOT_SENT = {
    "robot_deleted": Outcome(Status.FAILED, ROBOT_DELETED, ROBOT_DELETED_FIX, "robot_deleted"),
    "robot_disabled": Outcome(Status.FAILED, ROBOT_DISABLED, ROBOT_DISABLED_FIX, "robot_disabled"),
}
log = logging.getLogger(__name__)


# --- what the steps hand each other -------------------------------------------------------------------------


@dataclass
class Claimed:
    """A row this worker holds until lease_until, with what sending and recording it need."""

    id: int
    channel: str
    target: str
    subject: str
    body_text: str
    body_html: str
    attempts: int
    retries: int
    event_id: int | None
    project_id: int | None
    created_at: datetime
    # Set while a worker had it on its way: a claim that finds it set knows a dead process may have sent it.
    sending_at: datetime | None
    facts: dict | None  # what a robot message says besides title and body, as planned (outbox.robot_facts)
    lease_until: datetime
    send_by: datetime  # a send must start before this, so that it ends within the lease

    @property
    def may_send(self) -> bool:
        return utcnow() < self.send_by

    @classmethod
    def of(cls, delivery: Delivery) -> "Claimed":
        """An ORM row as the steps take it (not claimed: for building or recording outside the outbox)."""
        now = utcnow()
        columns = (getattr(delivery, name) for name in _COLUMNS)
        return cls(*columns, lease_until=now, send_by=now)


# The columns a claim reads, in Claimed's order.
_COLUMNS = (
    "id",
    "channel",
    "target",
    "subject",
    "body_text",
    "body_html",
    "attempts",
    "retries",
    "event_id",
    "project_id",
    "created_at",
    "sending_at",
    "facts",
)


@dataclass
class Attempt:
    """What one try came to, waiting to be written; no outcome: the row was not tried and is given back."""

    row: Claimed
    outcome: Outcome | None
    started: datetime | None = None
    duration_ms: int = 0
    request: str = ""
    robot_id: int | None = None  # a paced robot: its place in the pace is dated by `ended`, or freed
    ended: float | None = None
    # The row the same worker sends next: marked as on its way in the transaction that records this one.
    then: int | None = None


@dataclass
class RobotJob:
    row: Claimed
    robot_id: int
    settings: RobotSettings
    message: RobotMessage
    proxies: dict | None
    guard: object = None  # the outbound guard (guard.Guard); None: no loopback or metadata address allowed
    slot: float | None = None  # when pacing lets it go (pacing's clock); None: the robot is not paced
    # Built (and signed) when prepared, a moment before it goes: a batch is built in one go, and between two
    # posts the worker does as little as it can.
    request: HttpRequest | None = None
    built_at: datetime | None = None
    described: str = ""  # the request as the delivery record shows it, secrets masked

    def build(self) -> None:
        self.built_at = datetime.now(UTC)
        self.request = CHANNELS[self.settings.kind].build_request(self.message, self.settings, self.built_at)
        self.described = describe(self.request.masked())


@dataclass
class MailJob:
    rows: list[Claimed]
    settings: object  # SmtpSettings


Job = MailJob | RobotJob


@dataclass
class Prepared:
    mail: MailJob | None
    robots: list[RobotJob]
    wake_at: float | None = None  # when the first message handed back to wait for its robot's pace may go
    marked: set[int] = field(default_factory=set)  # rows marked as on their way when claimed

    @property
    def jobs(self) -> list[MailJob | RobotJob]:
        return ([self.mail] if self.mail else []) + self.robots


# --- step 1: claim and prepare ------------------------------------------------------------------------------


def _lease() -> timedelta:
    seconds = current_app.config.get("NOTIFICATIONS_LEASE_SECONDS")
    return LEASE if seconds is None else timedelta(seconds=seconds)


def _claim(ids: list[int]) -> list[Claimed]:
    """Take the due rows among ids for this worker, atomically (one UPDATE; safe across processes)."""
    now = utcnow()
    lease = _lease()
    until = now + lease
    # A send may start while the lease has room for the longest send (the robot timeouts), or half of it.
    send_by = until - min(timedelta(seconds=sum(_timeouts())), lease / 2)
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
        .returning(*(table.c[name] for name in _COLUMNS))
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
        .where(_ROW.id == bindparam("row_id"))
        .values(attempts=bindparam("attempts"), sending_at=None),
        [{"row_id": row.id, "attempts": row.attempts + 1} for row in rows],
    )
    for row in rows:
        row.attempts, row.sending_at = row.attempts + 1, None
    log.warning("%d message(s) were on their way when a process stopped; sending them again", len(rows))


def mark_sending(row_ids: list[int]) -> None:
    """Mark rows as on their way (in the caller's transaction): the few each worker is about to send."""
    if row_ids:
        db.session.execute(update(Delivery.__table__).where(_ROW.id.in_(row_ids)).values(sending_at=utcnow()))


def first_row(job: "MailJob | RobotJob | None") -> int | None:
    """The id of the row a job sends first."""
    if job is None:
        return None
    if isinstance(job, MailJob):
        return job.rows[0].id if job.rows else None
    return job.row.id


def prepare(ids: list[int], ahead: int = 1) -> Prepared:
    """Claim the due rows among ids and make them ready to send, in one transaction.

    Rows that need no send (the robot is gone or disabled, a test message the robot cannot take now) are
    recorded here; rows that must wait for their robot's pace, or went into a digest, are left as their row
    says. The first row of each of the first `ahead` jobs (those the workers start at once) is marked as on
    its way.
    """
    if not ids:
        return Prepared(mail=None, robots=[])
    rows = _claim(ids)
    mail = [row for row in rows if row.channel == "email"]
    by_robot: dict[int, list[Claimed]] = defaultdict(list)
    for row in rows:
        if row.channel in KINDS:
            by_robot[int(row.target)].append(row)
    prepared = Prepared(mail=MailJob(mail, _smtp_settings()) if mail else None, robots=[])
    if by_robot:
        done = _prepare_robots(by_robot, prepared)
        write(done)
    prepared.marked = {first_row(job) for job in prepared.jobs[:ahead]} - {None}
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
            done.append(Attempt(row, _internal_error(error), started=utcnow(), **paced))
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


# --- step 2: send (no database) -----------------------------------------------------------------------------


def send_robot(job: RobotJob) -> Attempt | None:
    """Post one robot message at its place in the pace and read the reply; a bug becomes a retried attempt.

    None: nothing to record (the message waits in the outbox for a place in its robot's pace).
    """
    row = job.row
    paced = {"robot_id": job.robot_id} if job.slot is not None else {}
    if not row.may_send:  # it waited in the pool for most of its claim: given back, its place freed
        return Attempt(row, None, **paced)
    while job.slot is not None:
        wait = job.slot - pacing.clock.now()
        if wait >= -pacing.LATE:
            if wait > 0:
                pacing.clock.sleep(wait)
            behind = pacing.starts().go(job.robot_id, pacing.LIMITS[job.settings.kind])
            if not behind:
                break
            _defer(job, pacing.clock.now() + behind)  # this process's own sends leave no room yet
            return None
        if not _new_place(job):  # its place passed long ago while it waited for a thread (a busy pool)
            return None
    started, clock = utcnow(), time.monotonic()
    request = job.request
    try:
        try:
            reply = http.post(request, timeout=_timeouts(), proxies=job.proxies, guard=job.guard or STRICT)
        except requests.RequestException as error:
            outcome = http.network_failure(error, request.url, kind=job.settings.kind, proxies=job.proxies)
            # requests quotes the whole address, token included, in its error text.
            outcome = replace(outcome, raw=scrub(outcome.raw, settings_secrets(job.settings)))
        else:
            outcome = registry.classify(
                job.settings.kind,
                reply.status_code,
                reply.headers,
                reply.text,
                settings=job.settings,
                now=job.built_at,
            )
    except Exception as error:  # a bug in Herald must not leave the row stuck as claimed
        log.exception("sending a robot message failed inside Herald")
        outcome = _internal_error(error)
    return Attempt(
        row,
        outcome,
        started=started,
        duration_ms=int((time.monotonic() - clock) * 1000),
        request=job.described,
        ended=pacing.clock.now(),
        **paced,
    )


def send_mail(job: MailJob) -> Iterator[Attempt]:
    """Send every mail of the job through one SMTP session, yielding each attempt as soon as it is known.

    A mail whose claim no longer leaves time to send it is given back unsent, and the session ends there.
    """
    settings = job.settings
    in_session: list[Claimed] = []  # rows handed to the session, in order, whose outcome has not come yet
    bugs: list[Attempt] = []  # rows whose message could not be composed: a bug in Herald, retried
    given_back: list[Claimed] = []

    firsts: dict[tuple[str, str, str], object] = {}  # per content, the first mail: the others reuse its bytes

    def messages():
        for n, row in enumerate(job.rows):
            if not row.may_send:
                given_back.extend(job.rows[n:])
                return
            content = (row.subject, row.body_text, row.body_html)
            try:
                message = email_channel.compose(
                    subject=row.subject,
                    html=row.body_html,
                    text=row.body_text,
                    sender=settings.sender,
                    recipients=[row.target],
                    like=firsts.get(content),
                    message_id=message_id(row, settings.sender),
                )
                firsts.setdefault(content, message)
            except Exception as error:
                log.exception("composing a mail failed inside Herald")
                bugs.append(Attempt(row, _internal_error(error), started=utcnow()))
                continue
            in_session.append(row)
            yield message

    following = {row.id: after.id for row, after in zip(job.rows, job.rows[1:], strict=False)}
    started, clock = utcnow(), time.monotonic()
    for outcome in send_each(settings, messages()):
        row, now = in_session.pop(0), time.monotonic()
        yield from bugs
        bugs.clear()
        yield Attempt(
            row,
            outcome,
            started=started,
            duration_ms=int((now - clock) * 1000),
            request=f"SMTP {settings.host}:{settings.port} → {row.target}",
            then=following.get(row.id),
        )
        started, clock = utcnow(), now
    yield from bugs
    for row in given_back:  # not sent: the claim was running out
        yield Attempt(row, None)


def message_id(row: Claimed, sender: str | tuple[str, str]) -> str | None:
    """The mail's Message-ID, the same on every send of the row: a copy sent again after a crash is folded
    into the first by mail clients. The row's creation time keeps it unique across installations."""
    address = sender[1] if isinstance(sender, tuple) else sender
    domain = address.rpartition("@")[2]
    if not domain:
        return None
    return f"<herald.{row.id}.{int(row.created_at.timestamp() * 1000)}@{domain}>"


def _new_place(job: RobotJob) -> bool:
    """Take a new place in the pace for a message whose place has passed; False: it waits in the outbox."""
    robot = db.session.get(Robot, job.robot_id)
    admitted, wake_at = pacing.readmit(robot, job.row) if robot is not None else ([], None)
    db.session.commit()
    if wake_at is not None:
        _wake(wake_at)
    for _, admission in admitted:
        job.slot = admission.slot
        if admission.message is not None:  # it now carries a digest
            job.message = admission.message
            job.build()
        return admission.refusal is None
    return False


def _defer(job: RobotJob, until: float) -> None:
    """The message waits in the outbox until `until` (pacing's clock); the sweeper is woken for then."""
    robot = db.session.get(Robot, job.robot_id)
    if robot is not None:
        pacing.defer(robot, job.row, until)
    db.session.commit()
    _wake(until)


def _wake(at: float) -> None:
    """Have the dispatcher sweep at `at` (pacing's clock), for a message handed back to wait until then."""
    dispatcher = current_app.extensions.get("herald.dispatcher")
    if dispatcher is not None and dispatcher.mode == "pool":
        dispatcher.wake(at)


def _internal_error(error: Exception) -> Outcome:
    return Outcome(Status.RETRY, INTERNAL_ERROR, INTERNAL_ERROR_FIX, "internal", type(error).__name__)


def describe(request) -> str:
    """A masked request as text for the delivery record."""
    lines = [f"{request.method} {request.url}"]
    lines += [f"{name}: {value}" for name, value in request.headers.items()]
    return "\n".join(lines) + "\n\n" + request.body_text


def _timeouts() -> tuple[float, float]:
    return current_app.config.get("ROBOT_CONNECT_TIMEOUT", 5), current_app.config.get(
        "ROBOT_READ_TIMEOUT", 10
    )


# --- step 3: record -----------------------------------------------------------------------------------------

_ROW = Delivery.__table__.c


def _record_statement(sent_at):
    return (
        update(Delivery.__table__)
        .where(_ROW.id == bindparam("row_id"))
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
_RECORD_UNSENT = _record_statement(_ROW.sent_at)  # a row sent before keeps its first sent time
# Given back unsent: only if the claim is still this worker's (another may have taken the row over since).
_GIVE_BACK = (
    update(Delivery.__table__)
    .where(_ROW.id == bindparam("row_id"), _ROW.lease_until == bindparam("lease"))
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


def run(job: MailJob | RobotJob) -> Iterator[Attempt]:
    """Send the job, yielding each attempt as soon as it is known (the next send waits until it is taken)."""
    if isinstance(job, MailJob):
        yield from send_mail(job)
    else:
        attempt = send_robot(job)
        if attempt is not None:
            yield attempt


def send_in_turn(
    take: Callable[[], "Job | None"], record: Callable[[Attempt], None], marked: set[int]
) -> None:
    """Send the jobs that take() hands out, one after another, each attempt recorded before the next send.

    `record` returns once the attempt is committed, and the same transaction marks the row sent next as on
    its way: a process that dies then leaves at most one message per thread sent but unrecorded, and a claim
    that finds it marked logs that send as interrupted before sending it again. The next job is taken only
    when the current send is over, so that a robot that hangs holds up no job another thread could take.
    `marked`: rows marked already (the first ones, when the batch was claimed).
    """
    job = take()
    row = _unmarked(first_row(job), marked)
    if row is not None:  # a job claimed a while ago: marked now, as it goes
        mark_sending([row])
        db.session.commit()
    while job is not None:
        following, taken = None, False
        try:
            for attempt in run(job):
                if isinstance(job, RobotJob):
                    following, taken = take(), True
                    attempt.then = _unmarked(first_row(following), marked)
                record(attempt)
        except Exception:  # sends turn their own failures into attempts; this is a last resort
            log.exception("sending failed inside Herald")
            db.session.rollback()
        if not taken:
            following = take()
            row = _unmarked(first_row(following), marked)
            if row is not None:
                mark_sending([row])
                db.session.commit()
        job = following


def _unmarked(row_id: int | None, marked: set[int]) -> int | None:
    return None if row_id is None or row_id in marked else row_id


def deliver(delivery_ids: list[int]) -> None:
    """Send every due row among these ids now, in this thread; e-mail shares one SMTP session."""
    prepared = prepare_guarded(delivery_ids)
    jobs = iter(prepared.jobs)

    def record(attempt: Attempt) -> None:
        write([attempt])
        db.session.commit()

    send_in_turn(lambda: next(jobs, None), record, prepared.marked)


def prepare_guarded(delivery_ids: list[int], ahead: int = 1) -> Prepared:
    """prepare(); a bug in Herald there becomes a recorded, retried attempt of each row, not a stuck row."""
    try:
        return prepare(delivery_ids, ahead)
    except Exception as error:
        log.exception("preparing messages failed inside Herald")
        db.session.rollback()
        write(Attempt(row, _internal_error(error), started=utcnow()) for row in _claim(delivery_ids))
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
