"""The audit log: who did what to accounts and logins, from where; and the login throttle's counters."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.models._types import NEVER_REUSED, UTCDateTime, utcnow
from webapp.models.users import User


class AuditEvent(db.Model):
    """One thing done to an account or a login (codes and parameters, never a secret value)."""

    __tablename__ = "audit_events"
    __table_args__ = NEVER_REUSED

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Who did it; None for someone not logged in (a failed login) or the command line.
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    client_address: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(40))
    # What it was done to: an account's e-mail address, or the address typed into the login form.
    target: Mapped[str] = mapped_column(String(254), default="")
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    actor: Mapped[User | None] = relationship()


class LoginThrottle(db.Model):
    """Failed logins counted for one account name or one client address, and until when it must wait."""

    __tablename__ = "login_throttles"
    __table_args__ = NEVER_REUSED

    id: Mapped[int] = mapped_column(primary_key=True)
    # "account:<hash of the e-mail typed>" or "address:<client address>".
    key: Mapped[str] = mapped_column(String(80), unique=True)
    failures: Mapped[int] = mapped_column(default=0)
    last_failure_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
