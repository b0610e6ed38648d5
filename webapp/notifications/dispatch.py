"""Running deliveries after the commit, off the request: a small bounded pool of plain threads."""

import logging
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
        app.extensions["herald.dispatcher"] = self

    def submit(self, delivery_ids: Iterable[int]) -> None:
        ids = list(delivery_ids)
        if self.mode == "inline":
            self._run(ids)
        else:
            self._pool.submit(self._run, ids)

    def _run(self, ids: list[int]) -> None:
        from webapp.notifications.delivery import deliver

        # A fresh app context: its own database session, never the request's.
        with self.app.app_context():
            try:
                deliver(ids)
            except Exception:  # a bug here must not kill the worker; the sweeper retries what is left
                log.exception("delivery of %s failed", ids)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True)
