"""The audit log: what was done to accounts and logins, by whom, from which client address."""

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from webapp.extensions import db
from webapp.models import AuditEvent

MAX_TARGET = 254

ACTION_LABELS = {
    "login": _l("Logged in"),
    "login.failed": _l("Login failed"),
    "login.throttled": _l("Login refused: too many failures"),
    "logout": _l("Logged out"),
    "logout.everywhere": _l("Logged out everywhere"),
    "password.changed": _l("Changed own password"),
    "user.created": _l("User created"),
    "user.changed": _l("User changed"),
    "user.password_reset": _l("Password reset"),
    "user.disabled": _l("User disabled"),
    "settings.mail": _l("Mail settings changed"),
    "settings.network": _l("Network settings changed"),
    "robot.created": _l("Robot added"),
    "robot.changed": _l("Robot changed"),
    "robot.deleted": _l("Robot deleted"),
    "robot.enabled": _l("Robot enabled"),
    "robot.disabled": _l("Robot disabled"),
    "messages.settings": _l("Message settings changed"),
    "messages.template": _l("Message template changed"),
    "messages.template_reset": _l("Message template reset"),
    "member.added": _l("Member added"),
    "member.removed": _l("Member removed"),
}

PARAM_LABELS = {
    "fields": _l("Fields"),
    "retry_after": _l("Wait (seconds)"),
    "role": _l("Role"),
    "user_id": _l("User id"),
    "project_id": _l("Project id"),
    "robot_id": _l("Robot id"),
    "kind": _l("Kind"),
    "channel": _l("Channel"),
}


@dataclass(frozen=True)
class Actor:
    """Who is acting, as the audit log records it: a user id (None if nobody is logged in) and a client
    address (None from the command line)."""

    user_id: int | None = None
    address: str | None = None


NOBODY = Actor()


def record(action: str, by: Actor | None, target: str = "", **params) -> AuditEvent:
    """Add an entry to the current transaction; it is kept if and when the caller commits.

    Parameters are codes and values to show, never a password or other secret."""
    by = by or NOBODY
    entry = AuditEvent(
        action=action,
        actor_id=by.user_id,
        client_address=(by.address or None) and by.address[:64],
        target=(target or "")[:MAX_TARGET],
        params=params,
    )
    db.session.add(entry)
    return entry


def entries(page: int = 1, per_page: int = 50):
    """The log, newest first, one page at a time."""
    stmt = select(AuditEvent).options(selectinload(AuditEvent.actor)).order_by(AuditEvent.id.desc())
    return db.paginate(stmt, page=page, per_page=per_page, error_out=False)
