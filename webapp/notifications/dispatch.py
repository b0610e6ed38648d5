"""Running deliveries after the commit, off the request: a small bounded pool of plain threads.

A job claims its rows in one transaction; then the pool's workers take its messages one at a time from a
common lane (a robot that hangs holds one worker, never the others), and the mail of the job goes through one
SMTP session. A worker sends its next message once its last one is recorded; the attempts of the workers that
come in together are written in one transaction.
"""

import logging
import math
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

import click
from flask import Flask
from sqlalchemy.exc import OperationalError

from webapp.extensions import db
from webapp.notifications import pacing
from webapp.notifications.delivery import (
    deliver,
    due_messages,
    next_due,
    prepare_guarded,
    send_in_turn,
    write,
)
from webapp.notifications.outbox import batches

log = logging.getLogger(__name__)


class Dispatcher:
    """Takes the ids of committed deliveries and runs them, inline (tests, CLI) or in a worker pool."""

    def __init__(self, app: Flask):
        self.app = app
        self.mode = app.config.get("NOTIFICATIONS_DISPATCH", "pool")
        self._workers = app.config.get("NOTIFICATIONS_WORKERS", 4)
        self._fresh_threads()
        app.extensions["herald.dispatcher"] = self
        if self.mode == "pool":
            # A server sweeps from the start, so that what a restart left due goes out with no visitor; CLI
            # commands (flask db upgrade) start no thread. The first request starts it otherwise.
            app.before_request(self.start_sweeper)
            if app.config.get("NOTIFICATIONS_SWEEP_AT_START") and serving():
                self.start_sweeper()
            # When the process ends, the pool finishes its jobs first (concurrent.futures sees to that), each
            # attempt written before its worker goes on: nothing sent is left unrecorded.
            # A server that forks its workers after loading the app (gunicorn --preload) leaves the threads
            # behind in the parent: each child starts its own.
            forked = weakref.WeakMethod(self._after_fork)
            os.register_at_fork(after_in_child=lambda: (method := forked()) and method())

    def submit(self, delivery_ids: Iterable[int]) -> None:
        ids = list(delivery_ids)
        if not ids:
            return
        if self.mode == "inline":
            self._deliver_here(ids)
            return
        with self._lock:
            self._queued.update(ids)
        self._submit(self._prepare, ids)

    def _submit(self, work, *args) -> None:
        with self._idle:
            self._work += 1
        try:
            self._pool.submit(self._counted, work, *args)
        except RuntimeError:  # shutting down: no new thread work, so do it in this thread
            self._counted(work, *args)

    def _counted(self, work, *args) -> None:
        try:
            work(*args)
        finally:
            with self._idle:
                self._work -= 1
                if self._work == 0:  # only "idle" is waited for: a wake-up per task would cost the sends
                    self._idle.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until nothing handed on is left to send or to record; False if that took over timeout."""
        deadline = time.monotonic() + timeout
        with self._idle:
            if not self._idle.wait_for(lambda: self._work == 0, timeout):
                return False
        return self.recorder.wait_idle(deadline - time.monotonic())

    @property
    def busy(self) -> int:
        """Pieces of work queued or running, and attempts not written yet."""
        return self._work + self.recorder.pending

    def _deliver_here(self, ids: list[int]) -> None:
        # A fresh app context: its own database session, never the request's.
        with self.app.app_context():
            try:
                deliver(ids)
            except Exception:  # the database may be away; the sweeper retries what is left
                log.exception("delivery of %s failed", ids)

    def _prepare(self, ids: list[int]) -> None:
        try:
            with self.app.app_context():
                prepared = prepare_guarded(ids)
        except Exception:  # the database may be away for a moment: the sweeper tries again
            log.exception("claiming %s failed", ids)
            return
        finally:
            with self._lock:
                self._queued.difference_update(ids)
        if prepared.wake_at is not None:
            self.wake(prepared.wake_at)
        lane = deque(prepared.jobs)
        # This worker sends the first job (marked as on its way when claimed) at once; others join in for the
        # rest, each marking the first job it takes.
        for _ in range(min(self._workers, len(lane)) - 1):
            self._submit(self._send_from, lane, prepared.marked)
        self._send_from(lane, prepared.marked)

    def _send_from(self, lane: deque, marked: set[int]) -> None:
        """Send the batch's jobs one after another until none is left.

        As many workers as there are jobs (at most the pool's size) take from the same lane: a robot that
        hangs holds up the worker that took it, and the others go on with the rest.
        """

        def take():
            try:
                return lane.popleft()
            except IndexError:
                return None

        with self.app.app_context():
            send_in_turn(take, self.recorder.record, marked)

    def sweep(self) -> int:
        """Deliver what is due now: retries whose time has come, rows a dead worker left behind.

        Jobs are cut as after a commit (all mail in one, each robot message alone), so that a robot that hangs
        holds up no other message on a retry either. Returns how many messages were handed on.
        """
        with self.app.app_context():
            due = due_messages()
        with self._lock:
            due = [(channel, i) for channel, i in due if i not in self._queued]
        for batch in batches(due):
            self.submit(batch)
        return len(due)

    def start_sweeper(self) -> None:
        if self._sweeper is not None:
            return
        interval = self.app.config.get("NOTIFICATIONS_SWEEP_SECONDS", 30)
        self._sweeper = threading.Thread(target=self._sweep_forever, args=(interval,), daemon=True)
        self._sweeper.start()

    def _fresh_threads(self) -> None:
        """The pool, the sweeper's place and the locks, as a new process has them."""
        self._pool = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="herald-delivery")
        self.recorder = Recorder(self.app)
        self._sweeper: threading.Thread | None = None
        # Ids handed to the pool and not claimed yet: a tick must not queue them again behind themselves.
        self._queued: set[int] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._work = 0  # tasks handed to the pool and not finished
        self._wake_at: float | None = None  # a sweep sooner than the next tick (monotonic clock)
        self._nudge = threading.Event()
        self._idle = threading.Condition()

    def _after_fork(self) -> None:
        started = self._sweeper is not None
        self._fresh_threads()
        if started:
            self.start_sweeper()

    def wake_in(self, seconds: float) -> None:
        """Sweep in `seconds`, before the next tick if sooner."""
        due = time.monotonic() + seconds
        with self._lock:
            if self._wake_at is None or due < self._wake_at:
                self._wake_at = due
                self._nudge.set()

    def wake(self, at: float) -> None:
        """Sweep again at `at` (pacing's clock), before the next tick if sooner: messages wait for then."""
        self.wake_in(max(at - pacing.clock.now(), 0) + pacing.MARGIN)

    def _sweep_forever(self, interval: float) -> None:
        last = -math.inf  # the first sweep at once: a restart may have left messages due
        while not self._stop.is_set():
            with self._lock:
                deadline = min(last + interval, self._wake_at or math.inf)
            self._nudge.wait(max(deadline - time.monotonic(), 0))
            self._nudge.clear()
            if self._stop.is_set():
                return
            if time.monotonic() < deadline:  # woken for a sooner time: wait for that one instead
                continue
            with self._lock:
                if self._wake_at is not None and self._wake_at <= time.monotonic():
                    self._wake_at = None
            last = time.monotonic()
            try:
                self.sweep()
                self._wake_for_next_due()
            except Exception:  # the database may be away for a moment; try again next tick
                log.exception("sweeping the outbox failed")

    def _wake_for_next_due(self) -> None:
        """Sweep again when the next row falls due, if before the next tick: a held message, a retry, or a
        claim a dead process left goes out on time, whatever wake-ups were missed."""
        with self.app.app_context():
            due = next_due()
        if due is not None:
            self.wake_in(max(due.timestamp() - time.time(), 0) + pacing.MARGIN)

    def shutdown(self) -> None:
        self._stop.set()
        self._nudge.set()
        self._pool.shutdown(wait=True)


def serving() -> bool:
    """Whether this process serves the app: under a WSGI server or `flask run`, not another CLI command."""
    context = click.get_current_context(silent=True)
    return context is None or context.info_name == "run"


class Recorder:
    """Writes the pool's attempts, each batch one transaction, and returns to each sender once its is written.

    A sender waits for its attempt's commit before its next send (see delivery.send_in_turn), so that a
    process killed at any instant has at most one sent-but-unrecorded message per thread. The sender that
    finds no write under way writes, in its own thread, every attempt handed in so far (a group commit):
    the others wait for that transaction, and nothing is handed to another thread on the way. A write the
    database refuses for a moment (locked, away) is tried again until it succeeds: the message has gone, so
    it must never go again for want of its record.
    """

    def __init__(self, app: Flask) -> None:
        self.app = app
        self._attempts: list = []
        self._changed = threading.Condition()
        self._writing = False
        self._handed = 0  # attempts handed in so far, numbered in order
        self._written = 0  # how many of them are written (batches are written in order)
        self.pending = 0  # attempts handed in and not written yet

    def record(self, attempt) -> None:
        """Hand an attempt in and return once it is committed."""
        with self._changed:
            self._attempts.append(attempt)
            self.pending += 1
            self._handed += 1
            number = self._handed
            while self._written < number:
                if self._writing:  # another sender's transaction is under way: it may take this one too
                    self._changed.wait()
                    continue
                batch, self._attempts, self._writing = self._attempts, [], True
                self._changed.release()
                try:
                    self._write(batch)
                finally:
                    self._changed.acquire()
                    self._writing = False
                    self._written += len(batch)
                    self.pending -= len(batch)
                    self._changed.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self.pending == 0, max(timeout, 0))

    def _write(self, attempts: list) -> None:
        delay = 0.05
        while True:
            try:
                with self.app.app_context():
                    write(attempts)
                    db.session.commit()
                return
            except OperationalError:
                log.warning("recording %d attempts failed; trying again", len(attempts), exc_info=True)
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
            except Exception:  # a bug: the rows come back when their lease ends
                log.exception("recording %d attempts failed", len(attempts))
                return
