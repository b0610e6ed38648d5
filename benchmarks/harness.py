"""What every benchmark needs: apps on migrated SQLite copies, people and projects, clocks and medians."""

import logging
import re
import shutil
import statistics
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade
from sqlalchemy import func, select
from werkzeug.security import generate_password_hash

from webapp import create_app
from webapp.config import Config
from webapp.extensions import db
from webapp.models import Delivery, Membership, Robot, User
from webapp.models.notifications import SETTLED
from webapp.services import projects as project_service
from webapp.services import users as user_service
from webapp.services.messages import save_message_setting
from webapp.services.settings import save_mail_settings

PASSWORD = "benchmark password 1"
_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


@dataclass
class Result:
    """One line of the summary: a measurement beside its floor or baseline, and the target it is held to."""

    name: str
    value: float  # the measured median (seconds unless `unit` says otherwise)
    floor: float | None = None
    floor_name: str = ""
    target: float | None = None  # the highest acceptable value / floor
    unit: str = "s"
    note: str = ""
    runs: list[float] = field(default_factory=list)
    met: bool | None = None  # for pass/fail checks without a ratio

    @property
    def ratio(self) -> float | None:
        return self.value / self.floor if self.floor else None

    @property
    def passed(self) -> bool | None:
        if self.met is not None:
            return self.met
        if self.target is None or self.ratio is None:
            return None
        return self.ratio <= self.target


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


class Errors(logging.Handler):
    """The errors Herald logs (a send that raised inside Herald, for one), kept for the report."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def summary(self, since: int = 0) -> list[str]:
        """'3 × OperationalError: database is locked (in webapp/notifications/pacing.py:171 lock)', ..."""
        seen: dict[str, int] = {}
        for record in self.records[since:]:
            seen[_describe(record)] = seen.get(_describe(record), 0) + 1
        return [f"{count} × {text}" for text, count in seen.items()]


def _describe(record: logging.LogRecord) -> str:
    if not record.exc_info or record.exc_info[1] is None:
        return record.getMessage()
    error = record.exc_info[1]
    frames = [f for f in traceback.extract_tb(error.__traceback__) if "/webapp/" in f.filename]
    where = ""
    if frames:
        frame = frames[-1]
        where = f" (last in Herald: {frame.filename.split('/webapp/', 1)[1]}:{frame.lineno} {frame.name})"
    first_line = str(error).splitlines()[0] if str(error) else ""
    return f"{record.getMessage()}: {type(error).__name__}: {first_line}{where}"


def catch_errors() -> Errors:
    """Collect what Herald logs at ERROR (Alembic's logging set-up disables loggers that exist before it)."""
    errors = Errors()
    for name, logger in logging.Logger.manager.loggerDict.items():
        if name.startswith("webapp") and isinstance(logger, logging.Logger):
            logger.disabled = False
    herald = logging.getLogger("webapp")
    herald.addHandler(errors)
    herald.propagate = False  # counted and summarised in the report rather than printed mid-table
    return errors


class Workspace:
    """A folder of databases, all copies of one database upgraded by the real migrations."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.template = folder / "template.db"
        app = create_app(Config, SQLALCHEMY_DATABASE_URI=f"sqlite:///{self.template}")
        with app.app_context():
            upgrade()
            db.engine.dispose()
        self.errors = catch_errors()
        self.apps: list[Flask] = []

    def app(self, name: str, **overrides) -> Flask:
        """The production configuration (pool dispatch, CSRF on) on a fresh copy of the database."""
        path = self.folder / f"{name}.db"
        shutil.copy(self.template, path)
        # The emulators and SMTP servers listen on loopback, which the outbound guard refuses unless allowed.
        overrides.setdefault("OUTBOUND_ALLOW", "127.0.0.1")
        app = create_app(Config, SQLALCHEMY_DATABASE_URI=f"sqlite:///{path}", **overrides)
        app.test_client_class = Client
        self.apps.append(app)
        return app

    def close(self) -> None:
        """Stop every app made so far: its sweeper, and its pool once the jobs in hand are done."""
        for app in self.apps:
            app.extensions["herald.dispatcher"].shutdown()
            with app.app_context():
                db.engine.dispose()
        self.apps.clear()


def jobs(app: Flask) -> int:
    """Delivery work the app's pool has queued or running, and attempts not written yet."""
    return app.extensions["herald.dispatcher"].busy


def settle(app: Flask, timeout: float) -> bool:
    """Wait until the app's dispatcher has sent and recorded everything handed to it."""
    return app.extensions["herald.dispatcher"].wait_idle(timeout)


class Client(FlaskClient):
    """A test client whose every request has its own app context and database session, as in production."""

    csrf_token = ""

    def open(self, *args, **kwargs):
        with self.application.app_context():
            return super().open(*args, **kwargs)

    def login(self, email: str, password: str = PASSWORD) -> "Client":
        self.csrf_token = _CSRF.search(self.get("/login").get_data(as_text=True))[1]
        response = self.post(
            "/login", data={"email": email, "password": password, "csrf_token": self.csrf_token}
        )
        assert response.status_code == 303, response.status_code
        return self

    def form_token(self, url: str) -> str:
        """The CSRF token of the form at url (the same for the whole login session)."""
        page = self.get(url)
        assert page.status_code == 200, (url, page.status_code)
        self.csrf_token = _CSRF.search(page.get_data(as_text=True))[1]
        return self.csrf_token


_FAST_HASH = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")


def people(count: int, prefix: str) -> list[User]:
    """Members in bulk (set-up only): one shared password hash, mobiles for @mentions."""
    users = [
        User(
            name=f"{prefix.title()} {i:04d}",
            email=f"{prefix}{i:04d}@example.com",
            mobile=f"139{i:08d}",
            password_hash=_FAST_HASH,
        )
        for i in range(count)
    ]
    db.session.add_all(users)
    db.session.commit()
    return users


def admin() -> User:
    return user_service.create_user("Bench Admin", "bench.admin@example.com", PASSWORD, role="admin")


def project(name: str, creator: User, members: list[User] = ()):
    created = project_service.create_project(name, creator=creator)
    db.session.add_all(Membership(project_id=created.id, user_id=user.id) for user in members)
    db.session.commit()
    return created


def robot(project_id: int, kind: str, url: str, name: str, events=("case.created",)) -> Robot:
    """A robot switched on for the given events (the fields as the Robots page stores them)."""
    added = Robot(project_id=project_id, kind=kind, name=name, webhook_url=url, events=list(events))
    db.session.add(added)
    db.session.commit()
    return added


def mail_through(server: dict, timeout: float = 10) -> None:
    """Mail settings for a server from the benchmark host, saved through the real service."""
    account = server["account"] or ("", "")
    save_mail_settings(
        {
            "host": server["host"],
            "port": server["port"],
            "security": server["mode"],
            "username": account[0],
            "sender_address": account[0] or "herald@example.com",
            "sender_name": "Herald",
            "timeout": timeout,
            "verify_tls": True,
            "ca_bundle": server["ca_pem"],
            "language": "en",
        },
        new_password=account[1],
    )


def mail_on(project_id: int, receivers=("maintainer", "followers")) -> None:
    save_message_setting(project_id, "case.created", True, list(receivers), [])


def open_deliveries(app: Flask) -> int:
    """How many outbox rows are not settled yet (pending, retrying, or claimed by a worker)."""
    with app.app_context():
        return db.session.scalar(select(func.count()).where(Delivery.status.not_in(SETTLED))) or 0


def count_status(app: Flask, ids: list[int], status: str) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).where(Delivery.id.in_(ids), Delivery.status == status))


def statuses(app: Flask, project_ids=None) -> dict[str, int]:
    with app.app_context():
        query = select(Delivery.status, func.count()).group_by(Delivery.status)
        if project_ids is not None:
            query = query.where(Delivery.project_id.in_(list(project_ids)))
        return dict(db.session.execute(query).all())


def wait_until(condition: Callable[[], bool], timeout: float, poll: float = 0.02) -> float | None:
    """Seconds until condition() held, or None when it did not within timeout."""
    started = time.perf_counter()
    while True:
        if condition():
            return time.perf_counter() - started
        if time.perf_counter() - started > timeout:
            return None
        time.sleep(poll)


class Collector:
    """Stands in for the dispatcher while rows are planned, so that only sending is timed afterwards."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    def submit(self, ids) -> None:
        self.batches.append(list(ids))


@contextmanager
def collecting(app: Flask) -> Iterator[Collector]:
    """Plan deliveries without sending them: the committed batches land in the collector."""
    real = app.extensions["herald.dispatcher"]
    collector = app.extensions["herald.dispatcher"] = Collector()
    try:
        yield collector
    finally:
        app.extensions["herald.dispatcher"] = real
