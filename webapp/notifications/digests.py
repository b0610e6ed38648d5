"""Digests: when more messages wait for a robot than its window allows, the last free place carries them
all as one message."""

from flask_babel import force_locale, gettext, ngettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import exists, or_, select, update
from sqlalchemy.orm import aliased

from webapp.extensions import db
from webapp.models import Delivery, Robot
from webapp.models._types import utcnow
from webapp.models.notifications import OPEN, DeliveryStatus
from webapp.notifications.channels.message import RobotMessage
from webapp.notifications.channels.registry import CHANNELS
from webapp.notifications.channels.spec import Window
from webapp.notifications.outbox import mail_language

# The most messages one digest takes; more waiting go into the next one (its text is cut to size anyway).
DIGEST_MAX = 500


def fold(carrier, robot: Robot, window: Window, granted: set[int]) -> set[int]:
    """Merge the messages waiting for this robot into the carrier, which becomes their digest; their ids."""
    digest = aliased(Delivery)
    now = utcnow()  # leases are real time, whatever clock pacing runs on
    waiting = set(
        db.session.scalars(
            select(Delivery.id)
            .where(
                Delivery.channel == carrier.channel,
                Delivery.target == carrier.target,
                Delivery.status.in_(OPEN),
                Delivery.event_id.is_not(None),
                Delivery.id != carrier.id,
                Delivery.id.not_in(granted),  # sent or on their way already
                # Rows another worker holds are on their way too; the carrier's own batch is not.
                or_(
                    Delivery.lease_until.is_(None),
                    Delivery.lease_until < now,
                    Delivery.lease_until == carrier.lease_until,
                ),
                # A digest waiting for its retry stays whole.
                ~exists().where(digest.merged_into_id == Delivery.id),
            )
            .order_by(Delivery.id)
            .limit(DIGEST_MAX)
        )
    )
    if not waiting:
        return waiting
    provider = CHANNELS[robot.kind].label
    db.session.execute(
        update(Delivery)
        .where(Delivery.id.in_(waiting), Delivery.status.in_(OPEN))
        .values(
            status=DeliveryStatus.MERGED,
            merged_into_id=carrier.id,
            lease_until=None,
            next_attempt_at=None,
            code=None,
            cause=str(
                _l(
                    "Merged into message #%(id)d: %(provider)s takes %(limit)d messages a minute.",
                    id=carrier.id,
                    provider=provider,
                    limit=window.limit,
                )
            ),
            fix=str(_l("Its fate is that message's: see it for whether the group received it.")),
        )
        .execution_options(synchronize_session=False)
    )
    titles = db.session.execute(
        select(Delivery.id, Delivery.subject).where(
            (Delivery.merged_into_id == carrier.id) | (Delivery.id == carrier.id)
        )
    ).all()
    carrier.subject, carrier.body_text = digest_text(
        [subject for _, subject in sorted(titles)], _project(carrier).get("name", ""), provider, window.limit
    )
    db.session.execute(
        update(Delivery)
        .where(Delivery.id == carrier.id)
        .values(subject=carrier.subject, body_text=carrier.body_text)
        .execution_options(synchronize_session=False)
    )
    return waiting


def digest_text(titles: list[str], project_name: str, provider: str, limit: int) -> tuple[str, str]:
    """A digest's title and body, in the language of the robot messages: the count, then each title."""
    with force_locale(mail_language()):
        title = ngettext(
            "And %(num)d more change in %(project)s",
            "And %(num)d more changes in %(project)s",
            len(titles),
            project=project_name,
        )
        reason = gettext(
            "Sent as one message: %(provider)s takes %(limit)d messages a minute from a robot.",
            provider=provider,
            limit=limit,
        )
    return title, "\n".join([reason, *(f"• {t}" for t in titles)])


def is_digest(delivery_id: int) -> bool:
    return bool(db.session.scalar(select(exists().where(Delivery.merged_into_id == delivery_id))))


def _project(row) -> dict:
    """The project as the row's message was planned with it (outbox.robot_facts)."""
    return dict((row.facts or {}).get("project") or {"id": row.project_id, "name": ""})


def digest_message(row) -> RobotMessage:
    """A digest as the channel takes it: its text, and the project's activity for the details, as stored."""
    return RobotMessage(
        title=row.subject,
        body=row.body_text,
        link=(row.facts or {}).get("activity_link", ""),
        event="digest",
        project=_project(row),
        delivery_id=str(row.id),
    )
