"""What delivery's steps hand each other: a claimed row, a job to send, an attempt to record."""

from dataclasses import dataclass, field
from datetime import UTC, datetime

from webapp.models import Delivery
from webapp.models._types import utcnow
from webapp.notifications.channels.message import HttpRequest, RobotMessage, RobotSettings
from webapp.notifications.channels.registry import CHANNELS
from webapp.notifications.outcome import Outcome


@dataclass
class Claimed:
    """A row this worker holds until lease_until, with what sending and recording it need."""

    id: int
    channel: str
    target: str
    subject: str
    body_text: str
    body_html: str
    attempts: int
    retries: int
    event_id: int | None
    project_id: int | None
    created_at: datetime
    # Set while a worker had it on its way: a claim that finds it set knows a dead process may have sent it.
    sending_at: datetime | None
    facts: dict | None  # what a robot message says besides title and body, as planned (outbox.robot_facts)
    lease_until: datetime
    send_by: datetime  # a send must start before this, so that it ends within the lease

    @property
    def may_send(self) -> bool:
        return utcnow() < self.send_by

    @classmethod
    def of(cls, delivery: Delivery) -> "Claimed":
        """An ORM row as the steps take it (not claimed: for building or recording outside the outbox)."""
        now = utcnow()
        columns = (getattr(delivery, name) for name in COLUMNS)
        return cls(*columns, lease_until=now, send_by=now)


# The columns a claim reads, in Claimed's order.
COLUMNS = (
    "id",
    "channel",
    "target",
    "subject",
    "body_text",
    "body_html",
    "attempts",
    "retries",
    "event_id",
    "project_id",
    "created_at",
    "sending_at",
    "facts",
)


@dataclass
class Attempt:
    """What one try came to, waiting to be written; no outcome: the row was not tried and is given back."""

    row: Claimed
    outcome: Outcome | None
    started: datetime | None = None
    duration_ms: int = 0
    request: str = ""
    robot_id: int | None = None  # a paced robot: its place in the pace is dated by `ended`, or freed
    ended: float | None = None
    # The row the same worker sends next: marked as on its way in the transaction that records this one.
    then: int | None = None


@dataclass
class RobotJob:
    row: Claimed
    robot_id: int
    settings: RobotSettings
    message: RobotMessage
    proxies: dict | None
    guard: object = None  # the outbound guard (guard.Guard); None: no loopback or metadata address allowed
    slot: float | None = None  # when pacing lets it go (pacing's clock); None: the robot is not paced
    # Built (and signed) when prepared, a moment before it goes: a batch is built in one go, and between two
    # posts the worker does as little as it can.
    request: HttpRequest | None = None
    built_at: datetime | None = None
    described: str = ""  # the request as the delivery record shows it, secrets masked

    def build(self) -> None:
        self.built_at = datetime.now(UTC)
        self.request = CHANNELS[self.settings.kind].build_request(self.message, self.settings, self.built_at)
        self.described = describe(self.request.masked())


@dataclass
class MailJob:
    rows: list[Claimed]
    settings: object  # SmtpSettings


Job = MailJob | RobotJob


@dataclass
class Prepared:
    mail: MailJob | None
    robots: list[RobotJob]
    wake_at: float | None = None  # when the first message handed back to wait for its robot's pace may go
    marked: set[int] = field(default_factory=set)  # the row marked as on its way when claimed

    @property
    def jobs(self) -> list[MailJob | RobotJob]:
        return ([self.mail] if self.mail else []) + self.robots


def first_row(job: "MailJob | RobotJob | None") -> int | None:
    """The id of the row a job sends first."""
    if job is None:
        return None
    if isinstance(job, MailJob):
        return job.rows[0].id if job.rows else None
    return job.row.id


def describe(request) -> str:
    """A masked request as text for the delivery record."""
    lines = [f"{request.method} {request.url}"]
    lines += [f"{name}: {value}" for name, value in request.headers.items()]
    return "\n".join(lines) + "\n\n" + request.body_text
