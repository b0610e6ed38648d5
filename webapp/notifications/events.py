"""Recording domain events, in the caller's transaction."""

from typing import Any

from webapp.extensions import db
from webapp.models import Case, Event, Project, User
from webapp.notifications import outbox


def case_snapshot(case: Case) -> dict[str, Any]:
    """The fields of a case as plain data, for events and messages."""
    return {
        "id": case.id,
        "title": case.title,
        "module": case.module,
        "priority": case.priority,
        "precondition": case.precondition,
        "steps": case.steps,
        "expected": case.expected,
        "tags": case.tag_list,
        "maintainer": case.maintainer.name if case.maintainer else None,
        "maintainer_id": case.maintainer_id,
        "followers": [u.name for u in case.followers],
        "follower_ids": [u.id for u in case.followers],
        "created_by_id": case.created_by_id,
    }


def record_event(
    kind: str, project: Project, actor: User | None, case: Case | None = None, /, **data: Any
) -> Event:
    """Add a domain event, and the messages it calls for, to the current transaction.

    They commit (or roll back) with the change; the messages go out after the commit.
    """
    event = Event(
        kind=kind,
        project_id=project.id,
        actor_id=actor.id if actor else None,
        case_id=case.id if case else None,
        data=data,
    )
    db.session.add(event)
    outbox.plan(event)
    return event
