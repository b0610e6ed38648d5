"""Domain events: what happened in a project, recorded with the change that caused it."""

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.crypto import EncryptedText
from webapp.extensions import db
from webapp.models._types import NEVER_REUSED, UTCDateTime, utcnow
from webapp.models.users import User

EVENT_KINDS = ("case.created", "case.updated", "case.deleted")
RECEIVER_KINDS = ("creator", "maintainer", "followers", "members")


class DeliveryStatus(StrEnum):
    """Where a message stands (Delivery.status, stored as these values)."""

    PENDING = "pending"
    SENT = "sent"
    RETRYING = "retrying"
    FAILED = "failed"
    # The message went out inside another one, a digest (see merged_into_id), to respect a rate limit.
    MERGED = "merged"


DELIVERY_STATUSES = tuple(DeliveryStatus)
OPEN = (DeliveryStatus.PENDING, DeliveryStatus.RETRYING)  # still to be sent
SETTLED = (DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.MERGED)


class AttemptStatus(StrEnum):
    """What one try came to (DeliveryAttempt.status, stored as these values): a channel's verdict
    (notifications.outcome.Status is this enum), or a send cut off by the end of its process."""

    SENT = "sent"
    RETRY = "retry"  # temporary: try again later (timeouts, refused connections, 5xx, rate limits, SMTP 4xx)
    FAILED = "failed"  # permanent until someone changes a setting (keyword, signature, token, credentials)
    INTERRUPTED = "interrupted"  # recorded by delivery only: whether it arrived is unknown


class Event(db.Model):
    """One thing that happened, e.g. case.updated with the changed fields."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_project_id_id", "project_id", "id"), NEVER_REUSED)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # The case may be gone (case.deleted), so this is a plain number, not a foreign key.
    case_id: Mapped[int | None]
    # {"case": snapshot}, and for case.updated also "changes": {field: [old, new]}
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    actor: Mapped[User | None] = relationship()


class MessageSetting(db.Model):
    """Project settings → Message settings: for one event, which channels are on and who receives mail."""

    __tablename__ = "message_settings"
    __table_args__ = (
        UniqueConstraint("project_id", "event", name="uq_message_settings_project_event"),
        NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(String(40))
    email: Mapped[bool] = mapped_column(default=False)
    # Receiver kinds from RECEIVER_KINDS, plus members named one by one.
    receivers: Mapped[list[str]] = mapped_column(JSON, default=list)
    named_user_ids: Mapped[list[int]] = mapped_column(JSON, default=list)


class MessageTemplate(db.Model):
    """A project's own wording for one event and channel group; absent means the default."""

    __tablename__ = "message_templates"
    __table_args__ = (
        UniqueConstraint("project_id", "event", "channel", name="uq_message_templates_project_event_channel"),
        NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(String(40))
    channel: Mapped[str] = mapped_column(String(16))  # "email" or "robot"
    subject: Mapped[str] = mapped_column(String(500))
    body: Mapped[str] = mapped_column(Text)


class Delivery(db.Model):
    """One message to send (event × channel × target): the outbox row and, once tried, its record."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "channel", "target", name="uq_deliveries_event_channel_target"),
        Index("ix_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_deliveries_project_id_id", "project_id", "id"),
        NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))  # email, wecom, feishu, lark, dingtalk, webhook
    target: Mapped[str] = mapped_column(String(254))  # an e-mail address, or a robot's id
    recipient: Mapped[str] = mapped_column(String(254), default="")  # as shown: "Mei <mei@example.com>"
    subject: Mapped[str] = mapped_column(String(1000), default="")
    body_text: Mapped[str] = mapped_column(Text, default="")
    body_html: Mapped[str] = mapped_column(Text, default="")
    # What a robot message says besides its title and body, decided when the event was recorded: its link,
    # the mobiles it @mentions, the event's facts (project, case, actor, changes). Retries and Resend send
    # exactly these. None: a mail (subject and bodies say everything) or a test message.
    facts: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    status: Mapped[str] = mapped_column(String(16), default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    # Temporary failures in a row since it was last sent or resent: the step of the back-off it is on.
    retries: Mapped[int] = mapped_column(default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=utcnow)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When a worker took it on its way (marked with the worker's previous record, or with the claim); cleared
    # with its own record. Found set by a later claim: a process died while it was on its way.
    sending_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    code: Mapped[str | None] = mapped_column(String(40))
    cause: Mapped[str] = mapped_column(Text, default="")
    fix: Mapped[str] = mapped_column(Text, default="")
    reply: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The digest this message was merged into (status merged): its fate is that delivery's.
    merged_into_id: Mapped[int | None] = mapped_column(
        ForeignKey("deliveries.id", ondelete="SET NULL"), index=True
    )

    event: Mapped[Event | None] = relationship()
    attempt_log: Mapped[list["DeliveryAttempt"]] = relationship(
        back_populates="delivery", cascade="all, delete-orphan", order_by="DeliveryAttempt.id"
    )


class DeliveryAttempt(db.Model):
    """One try at sending a delivery: what was sent (secrets masked), what came back, what it means."""

    __tablename__ = "delivery_attempts"
    __table_args__ = NEVER_REUSED

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id", ondelete="CASCADE"), index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    duration_ms: Mapped[int] = mapped_column(default=0)
    status: Mapped[str] = mapped_column(String(16))
    code: Mapped[str | None] = mapped_column(String(40))
    cause: Mapped[str] = mapped_column(Text, default="")
    fix: Mapped[str] = mapped_column(Text, default="")
    request: Mapped[str] = mapped_column(Text, default="")
    reply: Mapped[str] = mapped_column(Text, default="")

    delivery: Mapped[Delivery] = relationship(back_populates="attempt_log")


class Robot(db.Model):
    """Project settings → Robots: a chat group robot (or a generic webhook) that messages go to."""

    __tablename__ = "robots"
    __table_args__ = NEVER_REUSED

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # wecom, feishu, lark, dingtalk, webhook
    name: Mapped[str] = mapped_column(String(100))
    # The address holds the robot's token (or is an nginx forward's address): encrypted at rest.
    webhook_url: Mapped[str] = mapped_column(EncryptedText)
    keywords: Mapped[list[str]] = mapped_column(JSON, default=list)
    secret: Mapped[str] = mapped_column(EncryptedText, default="")
    style: Mapped[str] = mapped_column(String(16), default="text")
    at_all: Mapped[bool] = mapped_column(default=False)
    # The parts of the address that are secret besides those Herald recognises: "/" for the whole path,
    # or names of query parameters (a generic webhook's own credential).
    secret_parts: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    enabled: Mapped[bool] = mapped_column(default=True)
    # The events this robot posts to its group (Message settings switches them per event).
    events: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RobotPacing(db.Model):
    """A robot's recent sends, shared by every process so that together they keep within its rate limit.

    The row doubles as the robot's lock: pacing opens each decision with a write to it (an UPDATE, the
    transaction's first statement), which holds the row on PostgreSQL and the database on SQLite until
    the commit. Reading the sends, choosing, folding a digest and writing back are then one step, without
    the race a SELECT-then-UPDATE would have; the lock is held for a few statements, never during a send.
    """

    __tablename__ = "robot_pacing"

    robot_id: Mapped[int] = mapped_column(ForeignKey("robots.id", ondelete="CASCADE"), primary_key=True)
    # [[epoch milliseconds, delivery id], ...]: the sends within the longest window, each dated by its end
    # ([..., 0] while it has not ended).
    sends: Mapped[list[list[int]]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
