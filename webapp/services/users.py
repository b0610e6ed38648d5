"""Accounts: creating, editing, authenticating."""

import secrets

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from werkzeug.security import check_password_hash, generate_password_hash

from webapp.extensions import db
from webapp.models import User
from webapp.services import ServiceError

# A hash to compare against when the account does not exist, so both paths take the same time.
_DUMMY_HASH = generate_password_hash("herald-timing-equaliser")


def normalise_email(email: str) -> str:
    return email.strip().lower()


def _hash(password: str) -> str:
    return generate_password_hash(password, method=current_app.config.get("PASSWORD_HASH_METHOD", "scrypt"))


def find_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == normalise_email(email)))


def _check_email_free(email: str, user: User | None = None) -> None:
    other = find_by_email(email)
    if other is not None and other is not user:
        raise ServiceError(_l("Another user already has this e-mail address."), field="email")


def create_user(
    name: str, email: str, password: str, role: str = "member", mobile: str | None = None
) -> User:
    """Create an active user; the e-mail address must be free (case-insensitively)."""
    _check_email_free(email)
    user = User(
        name=name.strip(),
        email=normalise_email(email),
        mobile=(mobile or "").strip() or None,
        role=role,
        password_hash=_hash(password),
    )
    db.session.add(user)
    db.session.commit()
    return user


def update_user(user: User, **fields) -> User:
    """Change the given fields of a user (name, email, mobile, role, active, locale)."""
    if "email" in fields:
        _check_email_free(fields["email"], user)
        fields["email"] = normalise_email(fields["email"])
    if "mobile" in fields:
        fields["mobile"] = (fields["mobile"] or "").strip() or None
    if "name" in fields:
        fields["name"] = fields["name"].strip()
    for key, value in fields.items():
        setattr(user, key, value)
    db.session.commit()
    return user


def set_password(user: User, password: str) -> None:
    user.password_hash = _hash(password)
    db.session.commit()


def check_password(user: User, password: str) -> bool:
    return check_password_hash(user.password_hash, password)


def authenticate(email: str, password: str) -> User | None:
    """The active user with this e-mail and password, else None (no hint as to which part was wrong)."""
    user = find_by_email(email)
    if user is None:
        check_password_hash(_DUMMY_HASH, password)
        return None
    if not check_password(user, password) or not user.active:
        return None
    return user


def ensure_first_admin(email: str, password: str | None) -> tuple[User, str | None] | None:
    """Create the first administrator when there is no user yet; returns it and a generated password."""
    if db.session.scalar(select(func.count(User.id))):
        return None
    generated = None
    if not password:
        password = generated = secrets.token_urlsafe(12)
    user = create_user("Administrator", email, password, role="admin")
    return user, generated


def list_users() -> list[User]:
    return list(db.session.scalars(select(User).order_by(func.lower(User.name))))
