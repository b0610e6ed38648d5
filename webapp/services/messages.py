"""Message settings and templates of a project."""

from dataclasses import dataclass

from sqlalchemy import select

from webapp.extensions import db
from webapp.models import MessageSetting, MessageTemplate, Robot
from webapp.models.notifications import EVENT_KINDS
from webapp.notifications import rendering
from webapp.notifications.outbox import mail_language, template_for
from webapp.notifications.rules import message_setting, message_settings, project_robots
from webapp.services import audit

# The variables a template may use, with what each means.
VARIABLES = rendering.VARIABLES


def saved_settings(project_id: int) -> dict[str, MessageSetting]:
    """Each event's stored mail choices (defaults where never saved)."""
    return message_settings(project_id)


def robots(project_id: int) -> list[Robot]:
    """The project's robots, in the order they were added."""
    return project_robots(project_id)


@dataclass(frozen=True)
class EventChoice:
    """What the Message settings form says for one event: mail on or off, its receivers, and the robots."""

    email: bool
    receivers: list[str]
    named_user_ids: list[int]
    robot_ids: list[int]


def save_settings(project_id: int, choices: dict[str, EventChoice], by: audit.Actor | None = None) -> None:
    """Save the whole Message settings form in one transaction: all of it, or (on any error) none of it."""
    try:
        for kind, choice in choices.items():
            _set_message_setting(project_id, kind, choice.email, choice.receivers, choice.named_user_ids)
        _set_robot_events(project_id, {kind: choice.robot_ids for kind, choice in choices.items()})
        audit.record("messages.settings", by, project_id=project_id)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise


def save_message_setting(
    project_id: int, event: str, email: bool, receivers: list[str], named_user_ids: list[int]
) -> MessageSetting:
    """Save one event's mail choices."""
    setting = _set_message_setting(project_id, event, email, receivers, named_user_ids)
    db.session.commit()
    return setting


def _set_message_setting(
    project_id: int, event: str, email: bool, receivers: list[str], named_user_ids: list[int]
) -> MessageSetting:
    setting = message_setting(project_id, event)
    setting.email = email
    setting.receivers = list(receivers or [])
    setting.named_user_ids = list(named_user_ids or [])
    db.session.add(setting)
    return setting


def _set_robot_events(project_id: int, robot_ids_by_event: dict[str, list[int]]) -> list[Robot]:
    """Switch each robot of the project on for exactly the events that list it."""
    robots = project_robots(project_id)
    for robot in robots:
        robot.events = [kind for kind in EVENT_KINDS if robot.id in (robot_ids_by_event.get(kind) or [])]
    return robots


def template_problem(source: str) -> str | None:
    """Why a template does not render (with sample values, within its budget); None when it does."""
    return rendering.check_template(source)


def _own_template(project_id: int, event: str, channel: str) -> MessageTemplate | None:
    return db.session.scalar(
        select(MessageTemplate).where(
            MessageTemplate.project_id == project_id,
            MessageTemplate.event == event,
            MessageTemplate.channel == channel,
        )
    )


def current_template(project_id: int, event: str, channel: str = "email") -> tuple[str, str, bool]:
    """Subject, body, and whether it is the built-in default."""
    subject, body = template_for(project_id, event, channel, mail_language())
    return subject, body, _own_template(project_id, event, channel) is None


def save_template(
    project_id: int,
    event: str,
    subject: str,
    body: str,
    channel: str = "email",
    by: audit.Actor | None = None,
) -> None:
    template = _own_template(project_id, event, channel) or MessageTemplate(
        project_id=project_id, event=event, channel=channel
    )
    template.subject, template.body = subject, body
    db.session.add(template)
    audit.record("messages.template", by, event, project_id=project_id, channel=channel)
    db.session.commit()


def reset_template(
    project_id: int, event: str, channel: str = "email", by: audit.Actor | None = None
) -> None:
    template = _own_template(project_id, event, channel)
    if template is not None:
        db.session.delete(template)
        audit.record("messages.template_reset", by, event, project_id=project_id, channel=channel)
        db.session.commit()


def preview(subject: str, body: str) -> rendering.Rendered:
    """The message as it would be sent, with sample values."""
    return rendering.render(subject, body, rendering.sample_context())
