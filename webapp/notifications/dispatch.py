"""Running deliveries after the commit, off the request: a small bounded pool of plain threads."""

import logging
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

from flask import Flask

log = logging.getLogger(__name__)


class Dispatcher:
    """Takes the ids of committed deliveries and runs them, inline (tests, CLI) or in a worker pool."""

    def __init__(self, app: Flask):
        self.app = app
        self.mode = app.config.get("NOTIFICATIONS_DISPATCH", "pool")
        workers = app.config.get("NOTIFICATIONS_WORKERS", 4)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="herald-delivery")
        self._sweeper: threading.Thread | None = None
        # Ids handed to the pool and not finished yet: a tick must not queue them again behind themselves.
        self._queued: set[int] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        app.extensions["herald.dispatcher"] = self
        if self.mode == "pool":
            # Started by the first request, so that CLI commands (flask db upgrade) start no thread.
            app.before_request(self.start_sweeper)

    def submit(self, delivery_ids: Iterable[int]) -> None:
        ids = list(delivery_ids)
        if self.mode == "inline":
            self._run(ids)
            return
        with self._lock:
            self._queued.update(ids)
        self._pool.submit(self._run, ids)

    def _run(self, ids: list[int]) -> None:
        from webapp.notifications.delivery import deliver

        # A fresh app context: its own database session, never the request's.
        with self.app.app_context():
            try:
                deliver(ids)
            except Exception:  # a bug here must not kill the worker; the sweeper retries what is left
                log.exception("delivery of %s failed", ids)
            finally:
                with self._lock:
                    self._queued.difference_update(ids)

    def sweep(self) -> int:
        """Deliver what is due now: retries whose time has come, rows a dead worker left behind.

        Jobs are cut as after a commit (all mail in one, each robot message alone), so that a robot that hangs
        holds up no other message on a retry either. Returns how many messages were handed on.
        """
        from webapp.notifications.delivery import due_messages
        from webapp.notifications.outbox import batches

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

    def _sweep_forever(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                self.sweep()
            except Exception:  # the database may be away for a moment; try again next tick
                log.exception("sweeping the outbox failed")

    def shutdown(self) -> None:
        self._stop.set()
        self._pool.shutdown(wait=True)
