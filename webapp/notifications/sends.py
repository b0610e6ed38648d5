"""Delivery's second step: send a job's messages to their provider, touching no database but to record each
attempt (through the caller) before the next send.
"""

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import replace

import requests
from flask import current_app
from flask_babel import lazy_gettext as _l

from webapp.extensions import db
from webapp.models import Robot
from webapp.models._types import utcnow
from webapp.notifications import http, pacing
from webapp.notifications.channels import email as email_channel
from webapp.notifications.channels import registry
from webapp.notifications.channels.masking import scrub
from webapp.notifications.channels.message import settings_secrets
from webapp.notifications.guard import STRICT
from webapp.notifications.jobs import Attempt, Claimed, Job, MailJob, RobotJob, first_row
from webapp.notifications.outcome import Outcome, Status
from webapp.notifications.records import mark_sending
from webapp.notifications.smtp import send_each

INTERNAL_ERROR = _l("Herald hit an unexpected error while sending this message.")
INTERNAL_ERROR_FIX = _l("Herald will try again; if it keeps failing, report it with this message's details.")
log = logging.getLogger(__name__)


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
            reply = http.post(
                request, timeout=robot_timeouts(), proxies=job.proxies, guard=job.guard or STRICT
            )
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
        outcome = internal_error(error)
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
                bugs.append(Attempt(row, internal_error(error), started=utcnow()))
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


def internal_error(error: Exception) -> Outcome:
    return Outcome(Status.RETRY, INTERNAL_ERROR, INTERNAL_ERROR_FIX, "internal", type(error).__name__)


def robot_timeouts() -> tuple[float, float]:
    return current_app.config.get("ROBOT_CONNECT_TIMEOUT", 5), current_app.config.get(
        "ROBOT_READ_TIMEOUT", 10
    )


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
