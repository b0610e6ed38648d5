"""Pacing: each robot keeps within its provider's rate limit, and a burst beyond it goes out as one digest.

Providers count a robot's messages in a sliding window and answer the one too many with a rate-limit error
(DingTalk then refuses the robot for ten minutes). Herald counts first: a message that would exceed a window
waits for a free slot (a short wait in the worker, a long one deferred to the sweeper), and when more
messages wait for a robot than its window allows, the last free slot carries all of them as one digest.
The count lives in the database (RobotPacing), so every worker and every process shares it.
"""

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from flask import current_app
from flask_babel import force_locale, gettext, ngettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import exists, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from webapp.extensions import db
from webapp.models import Delivery, Project, Robot
from webapp.models.notifications import RobotPacing
from webapp.notifications.channels.base import CHANNELS, RobotMessage
from webapp.notifications.outbox import mail_language
from webapp.notifications.outcome import Outcome, Status

OPEN = ("pending", "retrying")  # as in delivery, which imports this module


@dataclass(frozen=True)
class Window:
    """At most `limit` messages within any `seconds`."""

    limit: int
    seconds: float


# Per robot, as the providers document them (PROVIDERS.md). The generic webhook is not paced.
LIMITS: dict[str, tuple[Window, ...]] = {
    "wecom": (Window(20, 60),),
    "dingtalk": (Window(20, 60),),
    "feishu": (Window(5, 1), Window(100, 60)),
    "lark": (Window(5, 1), Window(100, 60)),
}
# A send counts a little longer than its window, so that rounding never lets one slip in at the edge.
MARGIN = 0.01
# Waits up to this many seconds happen in the worker (Feishu's one-second window); longer ones are deferred.
DEFAULT_MAX_WAIT = 2.0
# The most messages one digest takes; more waiting go into the next one (its text is cut to size anyway).
DIGEST_MAX = 500


class Clock:
    """Real time in epoch seconds; tests put one they move by hand in its place (`pacing.clock`)."""

    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


clock = Clock()


# --- counting (pure) --------------------------------------------------------------------------------------


def in_window(sent_at: float, window: Window, now: float) -> bool:
    return now - sent_at < window.seconds + MARGIN


def wait_for_slot(times: list[float], windows: tuple[Window, ...], now: float) -> float:
    """Seconds until one more send keeps every window within its limit; 0 when it may go now."""
    wait = 0.0
    for window in windows:
        recent = sorted(t for t in times if in_window(t, window, now))
        excess = len(recent) - window.limit
        if excess >= 0:  # the oldest excess + 1 sends must leave the window first
            wait = max(wait, recent[excess] + window.seconds + MARGIN - now)
    return wait


def room_left(times: list[float], windows: tuple[Window, ...], now: float, horizon: float) -> int | None:
    """Sends left in the windows longer than horizon (the ones a message is deferred for); None: no such."""
    rooms = [
        window.limit - sum(1 for t in times if in_window(t, window, now))
        for window in windows
        if window.seconds > horizon
    ]
    return min(rooms) if rooms else None


def prune(sends: list[list[float]], windows: tuple[Window, ...], now: float) -> list[list[float]]:
    """The sends that still count in some window, oldest first."""
    longest = max(windows, key=lambda w: w.seconds)
    return sorted(([t, i] for t, i in sends if in_window(t, longest, now)), key=lambda s: s[0])


# --- deciding -----------------------------------------------------------------------------------------------


@dataclass
class Admission:
    """A robot message may go now: as itself, or (message set) as the digest it carries."""

    message: RobotMessage | None = None
    refusal: Outcome | None = None  # a test message the robot cannot take now: record this instead
    robot_id: int | None = None
    delivery_id: int | None = None
    taken_at: float | None = None

    def finish(self) -> None:
        """Date the send by its end: the provider got it no later, so its window counts from here.

        Written in the caller's transaction: the attempt's record commits it.
        """
        if self.taken_at is None:
            return
        now = clock.now()
        state = lock(self.robot_id, now)
        state.sends = [
            [now, i] if (i == self.delivery_id and t == self.taken_at) else [t, i] for t, i in state.sends
        ]


def admit(delivery: Delivery, robot: Robot) -> Admission | None:
    """Take a slot for this message; None when it waits (deferred) or went into a digest, as its row says."""
    windows = LIMITS.get(robot.kind)
    if not windows:
        return Admission()
    horizon = current_app.config.get("PACING_MAX_WAIT", DEFAULT_MAX_WAIT)
    while True:
        now = clock.now()
        state = lock(robot.id, now)
        db.session.refresh(delivery)
        if delivery.status not in OPEN:  # another worker merged it into a digest while this one waited
            db.session.commit()
            return None
        sends = prune(state.sends, windows, now)
        wait = wait_for_slot([t for t, _ in sends], windows, now)
        if wait <= 0:
            break
        if wait > horizon:
            return _hold(delivery, robot, windows, now + wait)
        db.session.commit()  # free the lock for the others while this one waits
        clock.sleep(max(wait, MARGIN))
    message = None
    if delivery.event_id is not None:
        room = room_left([t for t, _ in sends], windows, now, horizon)
        if room == 1:  # the window's last slot: if others wait, it carries them all
            _fold(delivery, robot, windows[-1], {int(i) for _, i in sends})
        if _is_digest(delivery):
            message = digest_message(delivery)
    state.sends = [*sends, [now, delivery.id]]
    db.session.commit()
    return Admission(message=message, robot_id=robot.id, delivery_id=delivery.id, taken_at=now)


def lock(robot_id: int, now: float) -> RobotPacing:
    """The robot's pacing row, held until the transaction ends by a write, its first statement."""
    db.session.commit()
    stamp = datetime.fromtimestamp(now, UTC)
    while True:
        held = db.session.execute(
            update(RobotPacing)
            .where(RobotPacing.robot_id == robot_id)
            .values(updated_at=stamp)
            .execution_options(synchronize_session=False)
        )
        if held.rowcount == 1:
            return db.session.get(RobotPacing, robot_id, populate_existing=True)
        state = RobotPacing(robot_id=robot_id, sends=[], updated_at=stamp)
        db.session.add(state)
        try:
            db.session.flush()
        except IntegrityError:  # another worker created it first: take theirs
            db.session.rollback()
        else:
            return state


def _hold(delivery: Delivery, robot: Robot, windows: tuple[Window, ...], until: float) -> Admission | None:
    """No slot before `until`: a message waits for it (not an attempt); a test message is refused now."""
    window = windows[-1]
    provider, seconds = CHANNELS[robot.kind].LABEL, max(1, round(until - clock.now()))
    if delivery.event_id is None:
        db.session.commit()
        cause = _l(
            "This robot has posted as many messages as %(provider)s allows: %(limit)d in %(window)d seconds.",
            provider=provider,
            limit=window.limit,
            window=window.seconds,
        )
        fix = _l("Try again in %(seconds)d seconds.", seconds=seconds)
        return Admission(refusal=Outcome(Status.RETRY, cause, fix))
    delivery.next_attempt_at = datetime.fromtimestamp(until, UTC)
    delivery.lease_until = None
    delivery.cause = str(
        _l(
            "Waiting for a free slot: %(provider)s takes %(limit)d messages in %(window)d seconds.",
            provider=provider,
            limit=window.limit,
            window=window.seconds,
        )
    )
    delivery.fix = str(
        _l("Nothing to do: Herald sends it when the robot may post again, merged with others if many wait.")
    )
    db.session.commit()
    return None


def _fold(carrier: Delivery, robot: Robot, window: Window, granted: set[int]) -> None:
    """Merge the messages waiting for this robot into the carrier, which becomes their digest."""
    digest = aliased(Delivery)
    waiting = list(
        db.session.scalars(
            select(Delivery.id)
            .where(
                Delivery.channel == carrier.channel,
                Delivery.target == carrier.target,
                Delivery.status.in_(OPEN),
                Delivery.event_id.is_not(None),
                Delivery.id != carrier.id,
                Delivery.id.not_in(granted),  # sent or on their way already
                # A digest waiting for its retry stays whole.
                ~exists().where(digest.merged_into_id == Delivery.id),
            )
            .order_by(Delivery.id)
            .limit(DIGEST_MAX)
        )
    )
    if not waiting:
        return
    provider = CHANNELS[robot.kind].LABEL
    db.session.execute(
        update(Delivery)
        .where(Delivery.id.in_(waiting), Delivery.status.in_(OPEN))
        .values(
            status="merged",
            merged_into_id=carrier.id,
            lease_until=None,
            next_attempt_at=None,
            code=None,
            cause=str(
                _l(
                    "Merged into message #%(id)d: %(provider)s takes %(limit)d messages a minute.",
                    id=carrier.id,
                    provider=provider,
                    limit=window.limit,
                )
            ),
            fix=str(_l("Its fate is that message's: see it for whether the group received it.")),
        )
        .execution_options(synchronize_session=False)
    )
    titles = db.session.execute(
        select(Delivery.id, Delivery.subject).where(
            (Delivery.merged_into_id == carrier.id) | (Delivery.id == carrier.id)
        )
    ).all()
    project = db.session.get(Project, carrier.project_id)
    carrier.subject, carrier.body_text = digest_text(
        [subject for _, subject in sorted(titles)], project.name if project else "", provider, window.limit
    )


def digest_text(titles: list[str], project_name: str, provider: str, limit: int) -> tuple[str, str]:
    """A digest's title and body, in the language of the robot messages: the count, then each title."""
    with force_locale(mail_language()):
        title = ngettext(
            "And %(num)d more change in %(project)s",
            "And %(num)d more changes in %(project)s",
            len(titles),
            project=project_name,
        )
        reason = gettext(
            "Sent as one message: %(provider)s takes %(limit)d messages a minute from a robot.",
            provider=provider,
            limit=limit,
        )
    return title, "\n".join([reason, *(f"• {t}" for t in titles)])


def _is_digest(delivery: Delivery) -> bool:
    return bool(db.session.scalar(select(exists().where(Delivery.merged_into_id == delivery.id))))


def digest_message(delivery: Delivery) -> RobotMessage:
    """A digest as the channel takes it: its text, and the project's activity for the details."""
    base_url = current_app.config["BASE_URL"].rstrip("/")
    project = db.session.get(Project, delivery.project_id)
    return RobotMessage(
        title=delivery.subject,
        body=delivery.body_text,
        link=f"{base_url}/projects/{delivery.project_id}/activity",
        event="digest",
        project={"id": delivery.project_id, "name": project.name if project else ""},
        delivery_id=str(delivery.id),
    )
