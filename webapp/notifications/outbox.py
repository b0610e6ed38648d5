"""The outbox: one row per message to send, written in the same transaction as the event."""

from flask import Response, after_this_request, current_app, g, has_request_context
from flask_babel import force_locale
from sqlalchemy import bindparam, insert, select
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

from webapp.extensions import db
from webapp.models import Delivery, Event, MailSettings, MessageSetting, MessageTemplate, Project, Robot, User
from webapp.models.notifications import DeliveryStatus
from webapp.notifications import links, rendering
from webapp.notifications.channels.registry import CHANNELS
from webapp.notifications.rules import DEFAULT_RECEIVERS, mail_recipients

# Session.info key under which the ids of deliveries planned in the current transaction wait for the commit.
_PLANNED = "herald.planned_deliveries"
# flask.g attribute under which a request's committed jobs wait for its response to be sent.
_HELD = "herald_held_jobs"

# Planning runs inside every save: its statements are built once (building one costs about as much as
# running it) and read columns, not whole rows (a robot's or the mail server's row would decrypt secrets).
_settings, _robots, _templates, _deliveries = (
    MessageSetting.__table__,
    Robot.__table__,
    MessageTemplate.__table__,
    Delivery.__table__,
)
_SETTING = select(_settings.c.email, _settings.c.receivers, _settings.c.named_user_ids).where(
    _settings.c.project_id == bindparam("project_id"), _settings.c.event == bindparam("event")
)
_ROBOTS = select(_robots.c.id, _robots.c.kind, _robots.c.name, _robots.c.events).where(
    _robots.c.project_id == bindparam("project_id"), _robots.c.enabled
)
_TEMPLATES = select(_templates.c.channel, _templates.c.subject, _templates.c.body).where(
    _templates.c.project_id == bindparam("project_id"), _templates.c.event == bindparam("event")
)
_LANGUAGE = select(MailSettings.__table__.c.language).where(MailSettings.__table__.c.id == 1)
# Many rows in one INSERT ... RETURNING: the ORM's flush inserts them one at a time on SQLite (it cannot match
# returned ids to rows there). The ids are matched here by (channel, target), unique within an event.
_INSERT = insert(_deliveries).returning(_deliveries.c.id, _deliveries.c.channel, _deliveries.c.target)


def mail_language() -> str:
    """The language of the default templates (Mail settings); Chinese before they are first saved."""
    language = db.session.scalar(_LANGUAGE)
    return language if language is not None else "zh"


def template_for(project_id: int, event_kind: str, channel: str, language: str) -> tuple[str, str]:
    """The project's own template for this event and channel, else the default."""
    return templates_for(project_id, event_kind, [channel], language)[channel]


def templates_for(
    project_id: int, event_kind: str, channels: list[str], language: str
) -> dict[str, tuple[str, str]]:
    """Subject and body per channel ("email", "robot"): the project's own, else the default; one query."""
    own = {
        channel: (subject, body)
        for channel, subject, body in db.session.execute(
            _TEMPLATES, {"project_id": project_id, "event": event_kind}
        )
    }
    return {
        channel: own.get(channel) or rendering.default_template(language, channel, event_kind)
        for channel in channels
    }


def context_for(event: Event, language: str, project_name: str, actor_name: str | None, link: str) -> dict:
    with force_locale(language):
        return rendering.event_context(
            event, project_name=project_name, operator=actor_name or "Herald", link=link
        )


def plan(event: Event) -> list[tuple[str, int]]:
    """Write the outbox rows an event calls for, in the session's transaction; they go out after the commit.

    Returns (channel, id) of each row. Each thing is read once per event (the setting, the members, the
    robots, both templates in one query, the language), one rendering context serves mail and robots, and
    the rows go in with one INSERT. Everything a message says is decided here and stored with its row
    (subject and bodies; a robot message's link, @mentions and event facts too): a retry or a Resend sends
    exactly what the first attempt sent.
    """
    db.session.flush()  # the event needs its id
    keys = {"project_id": event.project_id, "event": event.kind}
    setting = db.session.execute(_SETTING, keys).first()  # none saved: mail is off
    receivers = (
        mail_recipients(event, setting.receivers, setting.named_user_ids) if setting and setting.email else []
    )
    robots = _robot_targets(event)
    if not receivers and not robots:
        return []
    channels = (["email"] if receivers else []) + (["robot"] if robots else [])
    language = mail_language()
    templates = templates_for(event.project_id, event.kind, channels, language)
    # Both are in the session already when a service records an event: get() answers without a query.
    project = db.session.get(Project, event.project_id)
    actor = db.session.get(User, event.actor_id) if event.actor_id else None
    link = links.event_link(current_app.config["BASE_URL"], event.kind, event.project_id, event.case_id)
    context = context_for(event, language, project.name, actor.name if actor else None, link)
    rows = []
    if receivers:
        mail = _rendered(templates["email"], context, rendering.as_is)
        rows += [_row(event, "email", user.email, f"{user.name} <{user.email}>", mail) for user in receivers]
    facts = None
    if robots:
        mentioned = _mentioned(event, setting, receivers)
        facts = robot_facts(event, project.name, actor.name if actor else "", link, mentioned)
    # Each kind escapes what members wrote for its own format: rendered once per way of escaping.
    chats: dict = {}
    for robot_id, kind, name in robots:
        escape = CHANNELS[kind].escape_text
        if escape not in chats:
            chats[escape] = _rendered(templates["robot"], context, escape)
        rows.append(_row(event, kind, str(robot_id), name, chats[escape], html=False, facts=facts))
    return _insert(rows)


def _mentioned(event: Event, setting, receivers: list) -> list:
    """Whom robot messages @mention: the people the event's mail goes to, whether or not mail is on."""
    if setting is not None and setting.email:
        return receivers
    if setting is None:
        return mail_recipients(event, DEFAULT_RECEIVERS, [])
    return mail_recipients(event, setting.receivers, setting.named_user_ids)


def robot_facts(event: Event, project_name: str, actor_name: str, link: str, mentioned: list) -> dict:
    """What a robot message says besides its title and body, as stored with its row (RobotMessage's fields,
    and the project's Activity page for a digest the message may end up in)."""
    base_url = current_app.config["BASE_URL"]
    case = event.data.get("case", {})
    return {
        "link": link,
        "mention_mobiles": [user.mobile for user in mentioned if user.mobile],
        "event": event.kind,
        "project": {"id": event.project_id, "name": project_name},
        "case": {"id": event.case_id, "title": case.get("title", ""), "link": link},
        "actor": {"id": event.actor_id, "name": actor_name},
        "changes": [
            {"field": name, "old": old, "new": new}
            for name, (old, new) in event.data.get("changes", {}).items()
        ],
        "activity_link": links.activity_link(base_url, event.project_id),
    }


def _rendered(template: tuple[str, str], context: dict, escape):
    """The rendered message, or the template's failure (over its budget, or broken) as an outcome."""
    try:
        return rendering.render(*template, context, escape)
    except Exception as error:  # a template that cannot render must not stop the save that triggered it
        return rendering.failure(error)


def _row(
    event: Event,
    channel: str,
    target: str,
    recipient: str,
    message,
    html: bool = True,
    facts: dict | None = None,
) -> dict:
    """One outbox row's values (every row has the same keys, so that they go in as one INSERT).

    A message whose template failed is written as failed for good, with cause and fix, and not sent.
    """
    failed = isinstance(message, rendering.Failure)
    return {
        "event_id": event.id,
        "project_id": event.project_id,
        "channel": channel,
        "target": target,
        "recipient": recipient,
        "subject": "" if failed else message.subject,
        "body_text": "" if failed else message.text,
        "body_html": message.html if html and not failed else "",
        "status": DeliveryStatus.FAILED if failed else DeliveryStatus.PENDING,
        "code": message.code if failed else None,
        "cause": message.cause if failed else "",
        "fix": message.fix if failed else "",
        "facts": facts,
    }


def _insert(rows: list[dict]) -> list[tuple[str, int]]:
    """Insert the rows with one statement; note (channel, id) of each, in the order given, for the commit."""
    ids = {
        (channel, target): delivery_id for delivery_id, channel, target in db.session.execute(_INSERT, rows)
    }
    pending = [row for row in rows if row["status"] == DeliveryStatus.PENDING]
    planned = [(row["channel"], ids[row["channel"], row["target"]]) for row in pending]
    db.session.info.setdefault(_PLANNED, []).extend(planned)
    return planned


def _robot_targets(event: Event) -> list[tuple[int, str, str]]:
    """Id, kind and name of the project's enabled robots switched on for this event."""
    rows = db.session.execute(_ROBOTS, {"project_id": event.project_id})
    return [(robot_id, kind, name) for robot_id, kind, name, events in rows if event.kind in (events or [])]


def _after_commit(session: Session) -> None:
    planned = session.info.pop(_PLANNED, None)
    if not planned:
        return
    dispatcher = current_app.extensions["herald.dispatcher"]
    if has_request_context() and getattr(dispatcher, "mode", "inline") == "pool":
        # One job: claimed at once; the pool's workers take its messages one at a time.
        _hold_until_sent(dispatcher, [[delivery_id for _, delivery_id in planned]])
        return
    # Outside a request (CLI, the sweeper, a worker) nothing else waits: hand them on now. Inline dispatch
    # (the tests) sends them here as well, so that a request's messages are out when its response is.
    _submit(dispatcher, batches(planned))


def _hold_until_sent(dispatcher, jobs: list[list[int]]) -> None:
    """Keep a request's jobs until its response has been sent, then hand them to the pool.

    Started at the commit, the workers would claim rows, take locks and hold the GIL while the request still
    reloads, flashes and renders, and the user would wait for them. The rows are committed and pending, so
    nothing is lost if the jobs never get handed on (the response is never closed, the request fails after
    the commit, a commit comes too late in the request): the sweeper, woken for a moment later, finds the
    rows still pending and sends them then. A row is sent once either way: sending claims it first.
    """
    held = g.get(_HELD)
    if held is None:
        held = []
        setattr(g, _HELD, held)
        # Should the response never be closed (a client that drops the connection under a server that then
        # skips close(), as the development server does), a sweep shortly after finds the rows still pending.
        dispatcher.wake_in(current_app.config.get("NOTIFICATIONS_HANDOFF_FALLBACK_SECONDS", 2.0))

        @after_this_request
        def hand_on_when_closed(response: Response) -> Response:
            # Taken out of g now: a request that shares its app context with the next one (a test holding
            # one open) must not leave the next request's jobs in a list that was handed on already.
            jobs = g.pop(_HELD, [])
            # The WSGI server calls this after the last byte has gone out (Flask's own error page included:
            # the commit stands, so its messages are due as well).
            response.call_on_close(lambda: _submit(dispatcher, jobs))
            return response

    held.extend(jobs)


def _submit(dispatcher, jobs: list[list[int]]) -> None:
    for batch in jobs:
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
