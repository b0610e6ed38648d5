"""People who log in to Herald."""

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import ForeignKey, String, delete
from sqlalchemy import true as sa_true
from sqlalchemy.orm import Mapped, mapped_column

from webapp.extensions import db
from webapp.models._types import NEVER_REUSED, UTCDateTime, utcnow

ROLES = ("admin", "member")


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
    # The token of the login this object was loaded for (set by the login and the user loader; not stored).
    login_token = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.active

    def get_id(self) -> str:
        """What Flask-Login keeps in the session and the remember cookie: the id and this login's token."""
        return f"{self.id}:{self.login_token or ''}"

    def end_sessions(self) -> None:
        """End every login of this user, so every session and remember cookie is refused (when committed)."""
        db.session.execute(delete(UserSession).where(UserSession.user_id == self.id))

    def __repr__(self) -> str:
        return f"<User {self.email}>"


class UserSession(db.Model):
    """One login: the browser's session and remember cookies carry its token; logging out deletes it."""

    __tablename__ = "user_sessions"
    __table_args__ = NEVER_REUSED

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # SHA-256 of the token: what the database holds cannot be put in a cookie.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
