"""Pacing: each robot keeps within its provider's rate limit, and a burst beyond it goes out as one digest.

Providers count a robot's messages in a sliding window and answer the one too many with a rate-limit error
(DingTalk then refuses the robot for ten minutes). Herald counts first: a message that would exceed a window
waits for a free slot (a short wait in the worker, a long one deferred to the sweeper), and when more
messages wait for a robot than its window allows, the last free slot carries all of them as one digest.
The count lives in the database (RobotPacing), so every worker and every process shares it.
"""

import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, update
from sqlalchemy.dialects import postgresql, sqlite

from webapp.extensions import db
from webapp.models import Delivery, Robot
from webapp.models.notifications import RobotPacing
from webapp.notifications.channels.message import RobotMessage
from webapp.notifications.channels.registry import CHANNELS
from webapp.notifications.channels.spec import Window
from webapp.notifications.digests import digest_message, fold, is_digest
from webapp.notifications.outcome import Outcome, Status
from webapp.notifications.windows import (
    MARGIN,  # noqa: F401  (part of pacing's interface: the dispatcher wakes this long after a place)
    counted,
    first_in_window,
    prune,
    room_left,
    wait_for_slot,
)

# Per robot, as each channel declares its provider's limits (PROVIDERS.md). A kind without any is not paced.
LIMITS: dict[str, tuple[Window, ...]] = {
    kind: channel.rate_windows for kind, channel in CHANNELS.items() if channel.rate_windows
}
# A send that could not start within this many seconds of its place (the pool was busy) takes a new one.
LATE = 1.0
# Waits up to this many seconds happen in the worker (Feishu's one-second window); longer ones are deferred.
DEFAULT_MAX_WAIT = 2.0


class Clock:
    """Real time in epoch seconds; tests put one they move by hand in its place (`pacing.clock`)."""

    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


clock = Clock()


class Starts:
    """When this process's sends to each robot started.

    Places in the pace are taken for a whole batch at once; a send that starts late (its thread was busy)
    could then reach the provider close behind a later one. Before each send, the process's own starts are
    counted too, without asking the database: a robot's sends leave one process within its limits whatever
    the threads' timing.
    """

    def __init__(self) -> None:
        self._times: dict[int, list[float]] = defaultdict(list)
        self._lock = threading.Lock()

    def go(self, robot_id: int, windows: tuple[Window, ...]) -> float:
        """Wait until one more send to the robot keeps within its windows, then count it as started.

        Returns 0 once started; or at once the seconds to wait, when that is longer than LATE: the place
        pacing gave the message is not one this process can keep (its threads fell behind), and the message
        waits in the outbox instead. A worker never sleeps on it for a whole window.
        """
        longest = max(windows, key=lambda w: w.seconds)
        while True:
            with self._lock:
                now = clock.now()
                times = self._times[robot_id]
                times = times[first_in_window(times, longest, now) :]
                wait = wait_for_slot(times, windows, now)
                if wait <= 0:
                    self._times[robot_id] = [*times, now]
                    return 0.0
            if wait > LATE:
                return wait
            clock.sleep(wait)


def starts() -> Starts:
    """The app's record of its sends' starts (one per app: tests make many apps in one process)."""
    found = current_app.extensions.get("herald.pace_starts")
    return found if found is not None else current_app.extensions.setdefault("herald.pace_starts", Starts())


# --- deciding -----------------------------------------------------------------------------------------------


@dataclass
class Admission:
    """A robot message may go at `slot` (pacing's clock; None: not paced), as itself or as a digest."""

    slot: float | None = None
    message: RobotMessage | None = None
    refusal: Outcome | None = None  # a test message the robot cannot take now: record this instead


def admit(batch: list[tuple[Robot, list]]) -> tuple[list[tuple[object, Admission]], float | None]:
    """Give each robot's claimed rows their places in its pace, in order, within the caller's transaction.

    A row whose place comes within PACING_MAX_WAIT seconds gets it (its send waits until then). A row that
    would wait longer is handed back to the outbox until its place comes (not listed); a test message is
    refused instead. A row that takes the last place of the robot's longest window carries every message
    waiting for the robot as one digest; those are merged into it (not listed either). Also returns when the
    first row handed back may go (None: none was).
    """
    now = clock.now()
    paces = take([robot.id for robot, _ in batch if robot.kind in LIMITS], now)
    admitted: list[tuple[object, Admission]] = []
    wakes: list[float] = []
    for robot, rows in batch:
        if robot.id in paces:
            admitted += _admit(robot, rows, paces, now, wakes)
        else:
            admitted += [(row, Admission()) for row in rows]
    put(paces)
    return admitted, min(wakes, default=None)


def _admit(
    robot: Robot, rows: list, paces: dict[int, list], now: float, wakes: list[float]
) -> list[tuple[object, Admission]]:
    windows = LIMITS[robot.kind]
    horizon = current_app.config.get("PACING_MAX_WAIT", DEFAULT_MAX_WAIT)
    sends = paces[robot.id] = prune(paces[robot.id], windows, now)
    admitted: list[tuple[object, Admission]] = []
    merged: set[int] = set()
    held: list = []
    held_until: float | None = None  # once a row must wait beyond the horizon, so must every later one
    for row in rows:
        if row.id in merged:
            continue
        times = counted(sends, now)
        at = max(now, times[-1]) if times else now
        at += wait_for_slot(times, windows, at)
        if held_until is None and at - now > horizon:
            held_until = at
        if held_until is not None:
            if row.event_id is None:
                admitted.append((row, Admission(refusal=_refusal(robot, windows, held_until - now))))
            else:
                held.append(row)
            continue
        message = None
        if row.event_id is not None:
            folded: set[int] = set()
            if room_left(times, windows, at, horizon) == 1:  # the window's last place: it carries all waiting
                folded = fold(row, robot, windows[-1], {int(send[1]) for send in sends})
                merged |= folded
            if folded or (row.attempts and is_digest(row.id)):
                message = digest_message(row)
        sends.append([at, row.id, 0])  # not finished: finish() dates it by its end
        admitted.append((row, Admission(slot=at, message=message)))
    if held:
        _hold(held, robot, windows, held_until)
        wakes.append(held_until)
    return admitted


def readmit(robot: Robot, row) -> tuple[list[tuple[object, Admission]], float | None]:
    """Give up the row's place (it passed unused) and take a new one, as admit() does."""
    finish({robot.id: {row.id: None}})
    return admit([(robot, [row])])


def defer(robot: Robot, row, until: float) -> None:
    """Give up the row's place and let it wait in the outbox until `until` (this clock)."""
    finish({robot.id: {row.id: None}})
    _hold([row], robot, LIMITS[robot.kind], until)


def finish(ends: dict[int, dict[int, float | None]]) -> None:
    """Per robot, date each finished send by its end (the provider got it no later), or free its place."""
    paces = take(list(ends), clock.now())
    for robot_id, sends in paces.items():
        mine, kept = ends[robot_id], []
        for send in sends:
            delivery_id = int(send[1])
            if delivery_id not in mine:
                kept.append(send)
            elif mine[delivery_id] is not None:
                kept.append([mine[delivery_id], delivery_id])
        paces[robot_id] = kept
    put(paces)


_PACING = RobotPacing.__table__
WAITING_FIX = _l(
    "Nothing to do: Herald sends it when the robot may post again, merged with others if many wait."
)
_PUT = (
    update(_PACING)
    .where(_PACING.c.robot_id == bindparam("pacing_robot"))
    .values(sends=bindparam("new_sends"))
)


def take(robot_ids: list[int], now: float) -> dict[int, list[list[float]]]:
    """The robots' recent sends; their rows are held until the transaction ends, by the write that reads them.

    On PostgreSQL the UPDATE holds the rows, on SQLite the database: reading the sends, choosing and writing
    back are one step, without the race a SELECT-then-UPDATE would have. The lock is never held during a send.
    """
    if not robot_ids:
        return {}
    stamp = datetime.fromtimestamp(now, UTC)
    ids = sorted(set(robot_ids))
    for _ in range(2):
        paces = dict(
            db.session.execute(
                update(_PACING)
                .where(_PACING.c.robot_id.in_(ids))
                .values(updated_at=stamp)
                .returning(_PACING.c.robot_id, _PACING.c.sends)
            ).all()
        )
        missing = [robot_id for robot_id in ids if robot_id not in paces]
        if not missing:
            return {robot_id: _seconds(sends or []) for robot_id, sends in paces.items()}
        # The robots' first messages: create their rows (another worker may be doing the same: no error).
        dialect = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
        first = dialect.insert(_PACING).on_conflict_do_nothing()
        db.session.execute(first, [{"robot_id": i, "sends": [], "updated_at": stamp} for i in missing])
    raise RuntimeError(f"no pacing rows for robots {missing}")


def put(paces: dict[int, list[list[float]]]) -> None:
    if paces:
        rows = [{"pacing_robot": robot_id, "new_sends": _millis(sends)} for robot_id, sends in paces.items()]
        db.session.execute(_PUT, rows)


# The row keeps times as whole milliseconds: JSON reads and writes integers several times faster than floats,
# and pacing reads and writes every robot's sends twice per batch of messages.
def _seconds(stored: list[list[int]]) -> list[list[float]]:
    return [[send[0] / 1000, *send[1:]] for send in stored]


def _millis(sends: list[list[float]]) -> list[list[int]]:
    return [[round(send[0] * 1000), *send[1:]] for send in sends]


def _refusal(robot: Robot, windows: tuple[Window, ...], wait: float) -> Outcome:
    window = windows[-1]
    cause = _l(
        "This robot has posted as many messages as %(provider)s allows: %(limit)d in %(window)d seconds.",
        provider=CHANNELS[robot.kind].label,
        limit=window.limit,
        window=window.seconds,
    )
    fix = _l("Try again in %(seconds)d seconds.", seconds=max(1, round(wait)))
    return Outcome(Status.RETRY, cause, fix)


def _hold(rows: list, robot: Robot, windows: tuple[Window, ...], until: float) -> None:
    """No place before `until`: the rows wait in the outbox for it (not an attempt), their claim given up."""
    window = windows[-1]
    provider = CHANNELS[robot.kind].label
    db.session.execute(
        update(Delivery)
        .where(Delivery.id.in_([row.id for row in rows]))
        .values(
            next_attempt_at=datetime.fromtimestamp(until, UTC),
            lease_until=None,
            sending_at=None,
            cause=str(
                _l(
                    "Waiting for a free slot: %(provider)s takes %(limit)d messages in %(window)d seconds.",
                    provider=provider,
                    limit=window.limit,
                    window=window.seconds,
                )
            ),
            fix=str(WAITING_FIX),
        )
        .execution_options(synchronize_session=False)
    )
