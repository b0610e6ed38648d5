"""The real app served on a loopback port, for the browser tests and the screenshot script."""

import os
import threading
from pathlib import Path

from flask import Flask
from flask_migrate import upgrade
from werkzeug.serving import WSGIRequestHandler, make_server

from webapp import create_app
from webapp.config import TestConfig
from webapp.extensions import db

# Chromium flags for a headless run in a container: no sandbox, no GPU, no calls home.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class LiveConfig(TestConfig):
    """The test configuration with CSRF protection on, as in production."""

    WTF_CSRF_ENABLED = True


class _QuietHandler(WSGIRequestHandler):
    """Errors still go to the log; one line per request would only bury them."""

    def log_request(self, code="-", size="-"):
        pass


class LiveServer:
    """The app on its own migrated SQLite database, served by a threaded werkzeug server."""

    def __init__(self, folder: Path):
        self.app = _build_app(folder)
        with self.app.app_context():
            upgrade()
        self._server = make_server("127.0.0.1", 0, self.app, threaded=True, request_handler=_QuietHandler)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self.app.config["BASE_URL"] = self.url
        self._thread = threading.Thread(target=self._server.serve_forever, name="live-server", daemon=True)

    def start(self) -> "LiveServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=10)
        self._server.server_close()
        with self.app.app_context():
            db.engine.dispose()


def _build_app(folder: Path) -> Flask:
    """create_app reads the instance folder from the environment; keep the change to this call."""
    previous = os.environ.get("HERALD_INSTANCE_PATH")
    os.environ["HERALD_INSTANCE_PATH"] = str(folder / "instance")
    try:
        return create_app(LiveConfig, SQLALCHEMY_DATABASE_URI=f"sqlite:///{folder / 'herald.db'}")
    finally:
        if previous is None:
            del os.environ["HERALD_INSTANCE_PATH"]
        else:
            os.environ["HERALD_INSTANCE_PATH"] = previous
