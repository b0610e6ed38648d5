"""Login throttling: after a few failed logins for one account name, or many from one client address, each
further try must wait, twice as long each time. The counters live in the database, so every worker process
of every server sees the same ones.

Keys are built from what was typed, whether or not such an account exists, so the answer never tells
whether it does."""

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from webapp.extensions import db
from webapp.models import LoginThrottle
from webapp.models._types import utcnow


@dataclass(frozen=True)
class Limit:
    free: int  # failures allowed before the first wait
    first_wait: timedelta  # the wait after the `free`-th failure; doubled after each further one
    longest_wait: timedelta


# One account: a person who mistypes a few times is not held up; a guesser gets about 100 tries a day.
ACCOUNT = Limit(free=5, first_wait=timedelta(seconds=30), longest_wait=timedelta(minutes=15))
# One client address: many people may share it (an office behind one NAT), so more room.
ADDRESS = Limit(free=20, first_wait=timedelta(seconds=30), longest_wait=timedelta(minutes=15))
# A key whose last failure is this old starts again from nothing.
FORGET_AFTER = timedelta(hours=1)


def _account_key(email: str) -> str:
    # Hashed: what was typed may be long, and need not be an address at all.
    typed = (email or "").strip().lower()
    return "account:" + hashlib.sha256(typed.encode()).hexdigest()[:40]


def _address_key(address: str | None) -> str | None:
    return f"address:{address[:64]}" if address else None


def _keys(email: str, address: str | None) -> list[tuple[str, Limit]]:
    keys = [(_account_key(email), ACCOUNT)]
    if address_key := _address_key(address):
        keys.append((address_key, ADDRESS))
    return keys


def _wait(limit: Limit, failures: int) -> timedelta | None:
    if failures < limit.free:
        return None
    return min(limit.first_wait * 2 ** min(failures - limit.free, 20), limit.longest_wait)


def seconds_to_wait(email: str, address: str | None, now: datetime | None = None) -> int:
    """How long a login with this account name from this address must wait, in whole seconds (0: none)."""
    now = now or utcnow()
    keys = [key for key, _ in _keys(email, address)]
    locked = select(LoginThrottle.locked_until).where(
        LoginThrottle.key.in_(keys), LoginThrottle.locked_until > now
    )
    until = db.session.scalars(locked).all()
    return max((_whole_seconds(end - now) for end in until), default=0)


def record_failure(email: str, address: str | None, now: datetime | None = None) -> int:
    """Count a failed login (in the caller's transaction); returns the seconds to wait now (0: none)."""
    now = now or utcnow()
    longest = 0
    for key, limit in _keys(email, address):
        failures = _count(key, now)
        wait = _wait(limit, failures)
        if wait is not None:
            db.session.execute(
                update(LoginThrottle).where(LoginThrottle.key == key).values(locked_until=now + wait)
            )
            longest = max(longest, _whole_seconds(wait))
    return longest


def record_success(email: str) -> None:
    """A right password clears the account's count (not the address's: one good account must not let a
    guesser try others from the same place)."""
    db.session.execute(delete(LoginThrottle).where(LoginThrottle.key == _account_key(email)))


def _count(key: str, now: datetime) -> int:
    """Add one failure to the key in a single statement (two processes counting at once both count), and
    return the new number; a key unused for FORGET_AFTER starts again at one."""
    stale = LoginThrottle.last_failure_at < now - FORGET_AFTER
    counted = db.session.execute(
        update(LoginThrottle)
        .where(LoginThrottle.key == key)
        .values(failures=case((stale, 1), else_=LoginThrottle.failures + 1), last_failure_at=now)
        .returning(LoginThrottle.failures)
    ).scalar_one_or_none()
    if counted is not None:
        return counted
    try:
        with db.session.begin_nested():
            db.session.execute(insert(LoginThrottle).values(key=key, failures=1, last_failure_at=now))
    except IntegrityError:  # another process counted this key's first failure meanwhile
        return _count(key, now)
    return 1


def _whole_seconds(delta: timedelta) -> int:
    return max(1, math.ceil(delta.total_seconds()))
