"""Set-up shared by the delivery tests: mail through a test server, robots, time passing for the outbox."""

import time
from datetime import timedelta

import pytest
from flask_migrate import upgrade

from tests import smtp_server as servers
from tests.conftest import PASSWORD
from tests.notifications.processes import postgres_binary, postgres_server
from webapp import config, create_app
from webapp.extensions import db
from webapp.models import Delivery, Robot
from webapp.models._types import utcnow
from webapp.notifications.delivery import OPEN
from webapp.services import cases as case_service
from webapp.services import projects as project_service
from webapp.services import users as user_service
from webapp.services.cases import CaseInput
from webapp.services.messages import save_message_setting
from webapp.services.settings import save_mail_settings

SENDER = "herald@example.com"


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path, monkeypatch):
    """The test's app (its app context open) on a SQLite file, or on a PostgreSQL server of its own."""
    if request.param == "sqlite":
        yield request.getfixturevalue("app")
        return
    if postgres_binary("initdb") is None:
        pytest.skip("PostgreSQL is not installed (Debian's postgresql package)")
    monkeypatch.setenv("HERALD_INSTANCE_PATH", str(tmp_path / "instance"))
    with postgres_server() as url:
        app = create_app(config.TestConfig, SQLALCHEMY_DATABASE_URI=url)
        with app.app_context():
            upgrade()
            yield app
            db.session.remove()
            db.engine.dispose()


def team():
    """The conftest's people on whatever database is current: Ada (admin) and Mei in the project Checkout."""
    admin = user_service.create_user("Ada Admin", "ada@example.com", PASSWORD, role="admin")
    member = user_service.create_user("Mei Member", "mei@example.com", PASSWORD, mobile="13800138000")
    project = project_service.create_project("Checkout", "The web shop's checkout", creator=admin)
    project_service.add_member(project, member)
    return project, admin


def mail_members(project, server, certificate=None, **changes) -> None:
    """Mail every member on case.created, through `server` (any mode of tests.smtp_server)."""
    values = {
        "host": servers.HOST,
        "port": server.port,
        "security": "none" if server.mode == "plain" else server.mode,
        "username": server.account[0] if server.account else "",
        "sender_address": server.account[0] if server.account else SENDER,
        "sender_name": "Herald",
        "timeout": 2,
        "ca_bundle": certificate.pem if certificate else "",
        "language": "en",
    }
    save_mail_settings(values | changes, new_password=server.account[1] if server.account else None)
    save_message_setting(project.id, "case.created", True, ["members"], [])


def add_robot(project, kind: str, url: str, **fields) -> Robot:
    """A robot of the project that posts case.created to its group."""
    fields.setdefault("events", ["case.created"])
    robot = Robot(
        project_id=project.id, kind=kind, name=f"{kind} group {url[-6:]}", webhook_url=url, **fields
    )
    db.session.add(robot)
    db.session.commit()
    return robot


def outbox_left_behind(app, project, actor, count: int, title: str = "Case") -> None:
    """Commit `count` case changes whose messages no worker ever took: what a crashed process leaves."""
    dispatcher = app.extensions["herald.dispatcher"]
    submit, dispatcher.submit = dispatcher.submit, lambda ids: None
    try:
        for number in range(count):
            case_service.create_case(project, actor, CaseInput(title=f"{title} {number:03}"))
    finally:
        dispatcher.submit = submit


def until(condition, timeout: float = 10) -> bool:
    """Wait for condition() to hold; False if it still did not after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def deliveries() -> list[Delivery]:
    """Every outbox row as the database has it now (other processes and threads write it)."""
    db.session.expire_all()
    return db.session.scalars(db.select(Delivery).order_by(Delivery.id)).all()


def come_due() -> None:
    """Time passes until every waiting retry is due."""
    past = utcnow() - timedelta(seconds=1)
    for delivery in deliveries():
        if delivery.status in OPEN and delivery.next_attempt_at and delivery.next_attempt_at > past:
            delivery.next_attempt_at = past
    db.session.commit()


def wait_out_lease(delivery: Delivery) -> None:
    """Sleep until the lease on a claimed row has run out (a dead worker's lease is not renewed)."""
    if delivery.lease_until is not None:
        time.sleep(max(0.0, (delivery.lease_until - utcnow()).total_seconds()) + 0.2)


def pool_app_on(app, **overrides):
    """Another app on the test's database, delivering in a pool of two workers as in production."""
    return create_app(
        config.TestConfig,
        SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"],
        NOTIFICATIONS_DISPATCH="pool",
        NOTIFICATIONS_WORKERS=2,
        **overrides,
    )
