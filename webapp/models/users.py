"""People who log in to Herald."""

import secrets
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import String
from sqlalchemy import true as sa_true
from sqlalchemy.orm import Mapped, mapped_column

from webapp.extensions import db
from webapp.models._types import NEVER_REUSED, UTCDateTime, utcnow

ROLES = ("admin", "member")


def new_session_token() -> str:
    """A fresh random token; replacing a user's token ends every session and remember cookie they hold."""
    return secrets.token_urlsafe(32)


class User(UserMixin, db.Model):
    """An account: administrators manage the system, members work in their projects."""

    __tablename__ = "users"
    __table_args__ = NEVER_REUSED

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    # Stored lower-cased, so the unique index is case-insensitive on every database.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    mobile: Mapped[str | None] = mapped_column(String(32))
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16), default="member")
    active: Mapped[bool] = mapped_column(default=True)
    locale: Mapped[str | None] = mapped_column(String(8))
    # False: "don't mail me about my own changes".
    mail_own_changes: Mapped[bool] = mapped_column(default=True, server_default=sa_true())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Part of the id Flask-Login keeps in the session and the remember cookie: a new token logs out every
    # browser that holds the old one.
    session_token: Mapped[str] = mapped_column(String(64), default=new_session_token)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.active

    def get_id(self) -> str:
        """What Flask-Login stores for this login: the id and the current session token."""
        return f"{self.id}:{self.session_token}"

    def holds_session_token(self, token: str) -> bool:
        """True when `token` is this user's current session token (compared in constant time)."""
        return bool(self.session_token) and secrets.compare_digest(
            self.session_token.encode(), token.encode()
        )

    def end_sessions(self) -> None:
        """Invalidate every session and remember cookie of this user (takes effect when committed)."""
        self.session_token = new_session_token()

    def __repr__(self) -> str:
        return f"<User {self.email}>"
