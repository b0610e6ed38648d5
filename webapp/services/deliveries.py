"""The Delivery log: every message Herald sends, found, filtered and paged; Resend."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from webapp.extensions import db
from webapp.models import Case, Delivery, Event, Project
from webapp.models._types import utcnow
from webapp.models.notifications import DELIVERY_STATUSES, EVENT_KINDS, SETTLED, AttemptStatus, DeliveryStatus
from webapp.notifications import delivery as delivery_engine
from webapp.notifications.channels.registry import CHANNELS, KINDS, label
from webapp.notifications.labels import EVENT_LABELS
from webapp.services import ServiceError
from webapp.services.users import is_administrator

CHANNEL_KINDS = ("email", *KINDS)
# The event filter's value for test messages (Send test mail, Send test message): they have no event.
TEST_MESSAGES = "test"
# What Resend may send again: a message that went out, or failed for good (a merged one: its digest).
RESENDABLE = (DeliveryStatus.SENT, DeliveryStatus.FAILED)
STATUS_LABELS = {
    DeliveryStatus.PENDING: _l("Pending"),
    DeliveryStatus.SENT: _l("Sent"),
    DeliveryStatus.RETRYING: _l("Retrying"),
    DeliveryStatus.FAILED: _l("Failed"),
    DeliveryStatus.MERGED: _l("Merged"),
}
# What one attempt came to (an Outcome's status), as the attempts list shows it.
ATTEMPT_LABELS = {
    AttemptStatus.SENT: _l("Sent"),
    AttemptStatus.RETRY: _l("Temporary failure"),
    AttemptStatus.FAILED: _l("Failed"),
    AttemptStatus.INTERRUPTED: _l("Interrupted: outcome unknown"),
}
# A row waiting for a retry far ahead asks less often; one about to be tried asks every 2 seconds.
POLL_SOON = 2
POLL_LATER = 15
SOON = timedelta(seconds=30)


def channel_label(kind: str) -> str:
    """The channel's name as people read it."""
    if kind == "email":
        return str(_l("E-mail"))
    return label(kind)


def event_labels() -> list[tuple[str, str]]:
    """Each kind of event with its name as people read it, in the order the filter lists them."""
    return [(kind, EVENT_LABELS[kind]) for kind in EVENT_KINDS]


@dataclass(frozen=True)
class DeliveryFilter:
    """What the log shows; empty values filter nothing. Times are UTC: since inclusive, until exclusive."""

    status: str = ""
    channel: str = ""
    event: str = ""  # an event kind, or TEST_MESSAGES
    since: datetime | None = None
    until: datetime | None = None


def search_deliveries(
    filters: DeliveryFilter, project_id: int | None = None, page: int = 1, per_page: int = 50
):
    """Deliveries newest first, one page at a time; of one project, or of all (project_id None)."""
    stmt = select(Delivery).options(selectinload(Delivery.event)).order_by(Delivery.id.desc())
    if project_id is not None:
        stmt = stmt.where(Delivery.project_id == project_id)
    if filters.status in DELIVERY_STATUSES:
        stmt = stmt.where(Delivery.status == filters.status)
    if filters.channel in CHANNEL_KINDS:
        stmt = stmt.where(Delivery.channel == filters.channel)
    if filters.event == TEST_MESSAGES:
        stmt = stmt.where(Delivery.event_id.is_(None))
    elif filters.event:
        stmt = stmt.where(Delivery.event_id.in_(select(Event.id).where(Event.kind == filters.event)))
    if filters.since is not None:
        stmt = stmt.where(Delivery.created_at >= filters.since)
    if filters.until is not None:
        stmt = stmt.where(Delivery.created_at < filters.until)
    return db.paginate(stmt, page=page, per_page=per_page, error_out=False)


def get_delivery(delivery_id: int, project_id: int | None = None) -> Delivery | None:
    """One delivery; with a project, only if it belongs to that project."""
    if not 0 < delivery_id < 2**63:
        return None
    delivery = db.session.get(Delivery, delivery_id)
    if delivery is None or (project_id is not None and delivery.project_id != project_id):
        return None
    return delivery


def project_names(deliveries: list[Delivery]) -> dict[int, str]:
    """The names of the projects these deliveries belong to, for the system-wide log."""
    ids = {d.project_id for d in deliveries if d.project_id is not None}
    if not ids:
        return {}
    return dict(db.session.execute(select(Project.id, Project.name).where(Project.id.in_(ids))).all())


def case_still_exists(delivery: Delivery) -> bool:
    """Whether the case the message is about can still be opened (a link to a deleted case would 404)."""
    event = delivery.event
    if event is None or event.case_id is None or event.kind == "case.deleted":
        return False
    return db.session.get(Case, event.case_id) is not None


def short_cause(cause: str, limit: int = 50) -> str:
    """The gist of a cause for the list: its first clause ("Keyword missing"), at most limit characters."""
    cause = " ".join(cause.split())
    for stop in (": ", ". ", "; ", "：", "。", "；"):
        head = cause.split(stop, 1)[0]
        if 2 <= len(head) < len(cause):
            cause = head
    return cause if len(cause) <= limit else cause[: limit - 1].rstrip() + "…"


def reply_source(request: str) -> str:
    """The host an attempt's request went to (its first line: "POST https://host/..."), or ""."""
    first = (request or "").partition("\n")[0]
    try:
        return (urlsplit(first.partition(" ")[2].strip()).hostname or "").lower()
    except ValueError:
        return ""


def reply_from_provider(channel: str, request: str) -> bool:
    """Whether a reply came from the channel's official provider host. Any other host's (a generic webhook,
    an nginx gateway, an SMTP server) may be a service inside the organisation: administrators only see it."""
    hosts = CHANNELS[channel].official_hosts if channel in KINDS else ()
    return bool(hosts) and reply_source(request) in hosts


def poll_seconds(delivery: Delivery, now: datetime | None = None) -> int | None:
    """How often a page showing this delivery should ask for news; None once it is settled."""
    if delivery.status in SETTLED:
        return None
    due = delivery.next_attempt_at
    if delivery.status == DeliveryStatus.RETRYING and due is not None and due - (now or utcnow()) > SOON:
        return POLL_LATER
    return POLL_SOON


def can_resend(delivery: Delivery, user) -> bool:
    """Whether this user may resend this message now: an administrator, once it was sent or failed."""
    return is_administrator(user) and delivery.status in RESENDABLE


@dataclass(frozen=True)
class State:
    """What a delivery's badge shows: its status, and a note on what it waits for or went into.

    note: "in_digest" (merged into digest `digest_id`), "paced" (waits for a place in its robot's pace until
    `at`), "next_try" (retried at `at`), or None.
    """

    status: str
    note: str | None = None
    at: datetime | None = None
    digest_id: int | None = None


def state(delivery: Delivery) -> State:
    """The delivery's state for its badge."""
    status, due = delivery.status, delivery.next_attempt_at
    if status == "merged" and delivery.merged_into_id:
        return State(status, "in_digest", digest_id=delivery.merged_into_id)
    # Held back by its robot's pace before any attempt: pacing gives the row its time and says why.
    if status == "pending" and due and delivery.attempts == 0 and delivery.cause:
        return State(status, "paced", at=due)
    if status == "retrying" and due:
        return State(status, "next_try", at=due)
    return State(status)


def why_not_sent(delivery: Delivery) -> str | None:
    """Why the latest attempt went nowhere on purpose (its robot was deleted or disabled); else None."""
    outcome = delivery_engine.NOT_SENT.get(delivery.code or "")
    return str(outcome.cause) if outcome is not None and delivery.status == DeliveryStatus.FAILED else None


def resend(delivery: Delivery) -> Delivery:
    """Send a sent or failed message again, as a new attempt; returns it as it stands afterwards."""
    if delivery.status == DeliveryStatus.MERGED:
        raise ServiceError(_l("It went out in digest #%(id)s: resend that one.", id=delivery.merged_into_id))
    if delivery.status not in RESENDABLE:
        raise ServiceError(_l("This message is still being delivered; wait for the current attempt."))
    delivery_engine.resend(delivery)
    # Delivery ran in its own session (inline) or is running in a worker: read what it wrote.
    db.session.expire(delivery)
    return delivery
