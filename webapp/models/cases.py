"""Functional test cases."""

from datetime import datetime

from sqlalchemy import Column, ForeignKey, Index, String, Table, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.models._types import NEVER_REUSED, UTCDateTime, utcnow
from webapp.models.users import User

PRIORITIES = ("P0", "P1", "P2", "P3")

case_followers = Table(
    "case_followers",
    db.metadata,
    Column("case_id", ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
)


class Case(db.Model):
    """A functional test case of a project."""

    __tablename__ = "cases"
    __table_args__ = (Index("ix_cases_project_id_id", "project_id", "id"), NEVER_REUSED)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    module: Mapped[str] = mapped_column(String(200), default="")
    priority: Mapped[str] = mapped_column(String(2), default="P2")
    precondition: Mapped[str] = mapped_column(Text, default="")
    steps: Mapped[str] = mapped_column(Text, default="")
    expected: Mapped[str] = mapped_column(Text, default="")
    # Comma-separated, stored with a leading and trailing comma (",smoke,login,") so a tag matches exactly.
    tags: Mapped[str] = mapped_column(String(500), default="")
    maintainer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Goes up by one with every saved change (each records one case.updated). An edit names the version it
    # was made on, and is refused when the case has moved on since: no one's change is silently replaced.
    version: Mapped[int] = mapped_column(default=1, server_default=text("1"))

    maintainer: Mapped[User | None] = relationship(foreign_keys=[maintainer_id])
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])
    updated_by: Mapped[User | None] = relationship(foreign_keys=[updated_by_id])
    followers: Mapped[list[User]] = relationship(secondary=case_followers, order_by=User.name)

    @property
    def tag_list(self) -> list[str]:
        return [t for t in self.tags.split(",") if t]
