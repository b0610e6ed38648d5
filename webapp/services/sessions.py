"""Logins kept on the server: each is a record whose token the browser's session and remember cookies carry,
so that logging out ends that copy of the cookies and no other."""

import hashlib
import secrets
from datetime import datetime

from flask import current_app
from sqlalchemy import delete, select

from webapp.extensions import db
from webapp.models import User, UserSession
from webapp.models._types import utcnow
from webapp.services import audit


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _lifetime():
    """As long as a remember cookie lasts; a login older than that is forgotten."""
    return current_app.config["REMEMBER_COOKIE_DURATION"]


def start_session(user: User, now: datetime | None = None) -> str:
    """Record a new login of this user and return its token (also kept on `user.login_token`)."""
    now = now or utcnow()
    db.session.execute(
        delete(UserSession).where(UserSession.user_id == user.id, UserSession.created_at < now - _lifetime())
    )
    token = secrets.token_urlsafe(32)
    db.session.add(UserSession(user_id=user.id, token_hash=_digest(token), created_at=now))
    db.session.commit()
    user.login_token = token
    return token


def user_for(session_id: str, now: datetime | None = None) -> User | None:
    """The active user whose login this is ("<user id>:<token>", from a cookie); None if it has ended."""
    user_id, _, token = (session_id or "").partition(":")
    if not (token and user_id.isascii() and user_id.isdigit() and len(user_id) < 20):
        return None
    found = db.session.execute(
        select(User, UserSession.created_at)
        .join(UserSession, UserSession.user_id == User.id)
        .where(User.id == int(user_id), UserSession.token_hash == _digest(token))
    ).first()
    if found is None:
        return None
    user, started = found
    if not user.active or started < (now or utcnow()) - _lifetime():
        return None
    user.login_token = token
    return user


def end_session(user: User, by: audit.Actor | None = None) -> None:
    """End the login `user` was loaded for; the user's other logins go on."""
    if user.login_token:
        db.session.execute(delete(UserSession).where(UserSession.token_hash == _digest(user.login_token)))
        audit.record("logout", by, user.email)
        db.session.commit()
    user.login_token = None


def end_all_sessions(user: User, by: audit.Actor | None = None) -> None:
    """End every login of this user: every browser, every remember cookie."""
    user.end_sessions()
    audit.record("logout.everywhere", by, user.email)
    db.session.commit()
    user.login_token = None


def session_count(user: User) -> int:
    """How many logins of this user are open (for the profile page)."""
    return len(db.session.scalars(select(UserSession.id).where(UserSession.user_id == user.id)).all())
