"""A login attempt from start to end: the throttle, the password check, the audit log."""

from dataclasses import dataclass
from datetime import datetime

from webapp.extensions import db
from webapp.models import User
from webapp.services import audit, throttle
from webapp.services import users as user_service


@dataclass(frozen=True)
class Attempt:
    """The user if the login succeeded; else how many seconds the next try must wait (0: none)."""

    user: User | None = None
    retry_after: int = 0


def attempt_login(email: str, password: str, address: str | None, now: datetime | None = None) -> Attempt:
    """Check a login typed at `address`; every failure counts, and while it must wait nothing is checked.

    The same answers whether or not the account exists."""
    email = (email or "").strip()
    wait = throttle.seconds_to_wait(email, address, now)
    if wait:
        audit.record("login.throttled", audit.Actor(None, address), email, retry_after=wait)
        db.session.commit()
        return Attempt(retry_after=wait)
    user = user_service.authenticate(email, password)
    if user is None:
        wait = throttle.record_failure(email, address, now)
        params = {"retry_after": wait} if wait else {}
        audit.record("login.failed", audit.Actor(None, address), email, **params)
        db.session.commit()
        return Attempt(retry_after=wait)
    throttle.record_success(email)
    audit.record("login", audit.Actor(user.id, address), user.email)
    db.session.commit()
    return Attempt(user=user)
