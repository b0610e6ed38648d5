"""Message settings and templates of a project."""

from sqlalchemy import select

from webapp.extensions import db
from webapp.models import MessageTemplate
from webapp.notifications import rendering
from webapp.notifications.outbox import mail_language, template_for


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


def save_template(project_id: int, event: str, subject: str, body: str, channel: str = "email") -> None:
    template = _own_template(project_id, event, channel) or MessageTemplate(
        project_id=project_id, event=event, channel=channel
    )
    template.subject, template.body = subject, body
    db.session.add(template)
    db.session.commit()


def reset_template(project_id: int, event: str, channel: str = "email") -> None:
    template = _own_template(project_id, event, channel)
    if template is not None:
        db.session.delete(template)
        db.session.commit()


def preview(subject: str, body: str) -> rendering.Rendered:
    """The message as it would be sent, with sample values."""
    return rendering.render(subject, body, rendering.sample_context())
