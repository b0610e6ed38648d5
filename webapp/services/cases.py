"""Functional test cases: the rules for changing them, and the events each change records."""

from dataclasses import dataclass, field
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload

from webapp.extensions import db
from webapp.models import Case, Project, User
from webapp.models._types import utcnow
from webapp.notifications import record_event
from webapp.notifications.events import case_snapshot
from webapp.services import ServiceError
from webapp.services.projects import is_member

TEXT_FIELDS = ("title", "module", "priority", "precondition", "steps", "expected")


@dataclass
class CaseInput:
    """What a user can set on a case."""

    title: str
    module: str = ""
    priority: str = "P2"
    precondition: str = ""
    steps: str = ""
    expected: str = ""
    tags: list[str] = field(default_factory=list)
    maintainer_id: int | None = None
    follower_ids: list[int] = field(default_factory=list)


def parse_tags(text: str) -> list[str]:
    """Tags from "smoke, login ,smoke" to ["smoke", "login"]: trimmed, unique, in order."""
    seen: dict[str, None] = {}
    for tag in text.replace("，", ",").split(","):
        tag = tag.strip()
        if tag:
            seen.setdefault(tag, None)
    return list(seen)


def normalise_module(text: str) -> str:
    """A module path such as "Login / SSO/" becomes "Login/SSO"."""
    return "/".join(part.strip() for part in text.split("/") if part.strip())


def _member(project: Project, user_id: int | None, field_name: str) -> User | None:
    if user_id is None:
        return None
    user = db.session.get(User, user_id)
    if user is None or not is_member(project, user):
        raise ServiceError(_l("Choose a member of this project."), field=field_name)
    return user


def _apply(case: Case, project: Project, data: CaseInput) -> None:
    title = data.title.strip()
    if not title:
        raise ServiceError(_l("A case needs a title."), field="title")
    maintainer = _member(project, data.maintainer_id, "maintainer_id")
    followers = [_member(project, uid, "follower_ids") for uid in dict.fromkeys(data.follower_ids)]
    case.title = title
    case.module = normalise_module(data.module)
    case.priority = data.priority
    case.precondition = data.precondition.strip()
    case.steps = data.steps.strip()
    case.expected = data.expected.strip()
    tags = [t.replace(",", " ").strip() for t in data.tags if t.strip()]
    case.tags = f",{','.join(tags)}," if tags else ""
    case.maintainer = maintainer
    case.followers = followers


def create_case(project: Project, actor: User, data: CaseInput) -> Case:
    """Create a case and record case.created, in one transaction."""
    case = Case(project_id=project.id, created_by=actor, updated_by=actor)
    try:
        _apply(case, project, data)
        db.session.add(case)
        db.session.flush()
        record_event("case.created", project, actor, case, case=case_snapshot(case))
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return case


def _changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    shown = (*TEXT_FIELDS, "tags", "maintainer", "followers")
    return {key: [before[key], after[key]] for key in shown if before[key] != after[key]}


def update_case(case: Case, actor: User, data: CaseInput) -> dict[str, list[Any]]:
    """Apply the changes and record case.updated with each changed field's old and new value.

    Saving without a change records nothing and returns an empty dict.
    """
    project = db.session.get(Project, case.project_id)
    before = case_snapshot(case)
    try:
        _apply(case, project, data)
        after = case_snapshot(case)
        changes = _changes(before, after)
        if changes:
            case.updated_by = actor
            case.updated_at = utcnow()
            record_event("case.updated", project, actor, case, case=after, changes=changes)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return changes


def delete_case(case: Case, actor: User) -> None:
    """Delete a case and record case.deleted with a snapshot of what it was."""
    project = db.session.get(Project, case.project_id)
    try:
        record_event("case.deleted", project, actor, case, case=case_snapshot(case))
        db.session.delete(case)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise


def get_case(project: Project, case_id: int) -> Case | None:
    case = db.session.get(Case, case_id)
    return case if case is not None and case.project_id == project.id else None


def search_cases(project: Project, query: str = "", priority: str = "", page: int = 1, per_page: int = 25):
    """One page of a project's cases, newest first, matching the words in title, module or tags."""
    stmt = select(Case).where(Case.project_id == project.id)
    for word in query.split():
        pattern = f"%{_escape_like(word)}%"
        stmt = stmt.where(
            or_(
                Case.title.ilike(pattern, escape="\\"),
                Case.module.ilike(pattern, escape="\\"),
                Case.tags.ilike(pattern, escape="\\"),
            )
        )
    if priority:
        stmt = stmt.where(Case.priority == priority)
    stmt = stmt.options(selectinload(Case.maintainer)).order_by(Case.id.desc())
    return db.paginate(stmt, page=page, per_page=per_page, error_out=False)


def _escape_like(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
