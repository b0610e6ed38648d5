"""The outbox: one row per message to send, written in the same transaction as the event."""

from flask import current_app
from flask_babel import force_locale
from sqlalchemy import event as sa_event
from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.extensions import db
from webapp.models import Delivery, Event, MailSettings, MessageTemplate, Project, Robot, User
from webapp.notifications import rendering
from webapp.notifications.rules import mail_receivers, message_setting

# Session.info key under which the ids of deliveries planned in the current transaction wait for the commit.
_PLANNED = "herald.planned_deliveries"


def mail_language() -> str:
    settings = db.session.get(MailSettings, 1)
    return settings.language if settings else "zh"


def template_for(project_id: int, event_kind: str, channel: str, language: str) -> tuple[str, str]:
    """The project's own template for this event and channel, else the default."""
    own = db.session.scalar(
        select(MessageTemplate).where(
            MessageTemplate.project_id == project_id,
            MessageTemplate.event == event_kind,
            MessageTemplate.channel == channel,
        )
    )
    if own is not None:
        return own.subject, own.body
    return rendering.default_template(language, channel, event_kind)


def context_for(event: Event, language: str) -> dict:
    project = db.session.get(Project, event.project_id)
    actor = db.session.get(User, event.actor_id) if event.actor_id else None
    with force_locale(language):
        return rendering.event_context(
            event,
            project_name=project.name,
            operator=actor.name if actor else "Herald",
            base_url=current_app.config["BASE_URL"].rstrip("/"),
        )


def plan(event: Event) -> list[Delivery]:
    """Add the deliveries an event calls for to the session; they go out after the commit."""
    db.session.flush()  # the event needs its id
    setting = message_setting(event.project_id, event.kind)
    deliveries: list[Delivery] = []
    if setting.email:
        language = mail_language()
        subject, body = template_for(event.project_id, event.kind, "email", language)
        message = rendering.render(subject, body, context_for(event, language))
        for user in mail_receivers(event, setting):
            deliveries.append(
                Delivery(
                    event_id=event.id,
                    project_id=event.project_id,
                    channel="email",
                    target=user.email,
                    recipient=f"{user.name} <{user.email}>",
                    subject=message.subject,
                    body_text=message.text,
                    body_html=message.html,
                )
            )
    deliveries.extend(_robot_deliveries(event))
    if deliveries:
        db.session.add_all(deliveries)
        db.session.flush()
        db.session.info.setdefault(_PLANNED, []).extend((d.channel, d.id) for d in deliveries)
    return deliveries


def robots_for(event: Event) -> list[Robot]:
    """The project's enabled robots switched on for this event."""
    robots = db.session.scalars(select(Robot).where(Robot.project_id == event.project_id, Robot.enabled))
    return [robot for robot in robots if event.kind in (robot.events or [])]


def _robot_deliveries(event: Event) -> list[Delivery]:
    """One message per robot: a robot posts to its group whatever the receiver list says."""
    robots = robots_for(event)
    if not robots:
        return []
    language = mail_language()
    title, body = template_for(event.project_id, event.kind, "robot", language)
    message = rendering.render(title, body, context_for(event, language))
    return [
        Delivery(
            event_id=event.id,
            project_id=event.project_id,
            channel=robot.kind,
            target=str(robot.id),
            recipient=robot.name,
            subject=message.subject,
            body_text=message.text,
        )
        for robot in robots
    ]


def _after_commit(session: Session) -> None:
    planned = session.info.pop(_PLANNED, None)
    if planned:
        dispatcher = current_app.extensions["herald.dispatcher"]
        for batch in batches(planned):
            dispatcher.submit(batch)


def batches(planned: list[tuple[str, int]]) -> list[list[int]]:
    """Pool jobs: all mail in one SMTP session; each robot message alone, so a hung robot stalls no one."""
    mail = [i for channel, i in planned if channel == "email"]
    robots = [[i] for channel, i in planned if channel != "email"]
    return ([mail] if mail else []) + robots


def _after_rollback(session: Session, _transaction) -> None:
    session.info.pop(_PLANNED, None)


def listen() -> None:
    """Hand the deliveries of each committed transaction to the dispatcher (called once, at start-up)."""
    if not sa_event.contains(Session, "after_commit", _after_commit):
        sa_event.listen(Session, "after_commit", _after_commit)
        sa_event.listen(Session, "after_soft_rollback", _after_rollback)
