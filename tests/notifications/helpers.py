"""Set-up shared by the delivery tests: mail through a test server, robots, time passing for the outbox."""

import time
from datetime import timedelta

from tests import smtp_server as servers
from webapp.extensions import db
from webapp.models import Delivery, Robot
from webapp.models._types import utcnow
from webapp.notifications.delivery import OPEN
from webapp.notifications.rules import save_message_setting
from webapp.services.settings import save_mail_settings

SENDER = "herald@example.com"


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
