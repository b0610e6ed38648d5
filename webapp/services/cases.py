"""Functional test cases: the rules for changing them, and the events each change records."""

import re
from dataclasses import dataclass, field
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload

from webapp.extensions import db
from webapp.models import Case, Event, Project, User
from webapp.models._types import utcnow
from webapp.models.cases import PRIORITIES
from webapp.notifications import record_event
from webapp.notifications.events import case_snapshot
from webapp.services import ServiceError
from webapp.services.projects import is_member

TEXT_FIELDS = ("title", "module", "priority", "precondition", "steps", "expected")
# Fields compared by value between two snapshots; maintainer and followers are compared by id.
COMPARED_FIELDS = (*TEXT_FIELDS, "tags")
MAX_TITLE = 200
MAX_MODULE = 200
MAX_TAGS = 500  # the stored form, ",a,b,", must fit the column
MAX_TEXT = 20_000
# The largest id a database integer holds; a bigger number from a URL or a form cannot name a row.
MAX_ID = 2**63 - 1
# Control characters other than tab and newline: invisible, and PostgreSQL refuses NUL outright.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


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

    @classmethod
    def of(cls, case: Case, **changes: Any) -> "CaseInput":
        """The case's current values, with some changed: what an edit form posts back."""
        values = {
            "title": case.title,
            "module": case.module,
            "priority": case.priority,
            "precondition": case.precondition,
            "steps": case.steps,
            "expected": case.expected,
            "tags": case.tag_list,
            "maintainer_id": case.maintainer_id,
            "follower_ids": [u.id for u in case.followers],
        }
        return cls(**{**values, **changes})


def parse_tags(text: str) -> list[str]:
    """Tags from "smoke, login ,smoke" to ["smoke", "login"]: trimmed, unique, in order."""
    seen: dict[str, None] = {}
    for tag in text.replace("，", ",").split(","):
        tag = " ".join(_clean_line(tag).split())
        if tag:
            seen.setdefault(tag, None)
    return list(seen)


def normalise_module(text: str) -> str:
    """A module path such as "Login / SSO/" becomes "Login/SSO"."""
    parts = (" ".join(_clean_line(part).split()) for part in text.split("/"))
    return "/".join(part for part in parts if part)


def _clean_line(text: str) -> str:
    """One line of text: control characters and line breaks become spaces."""
    return _CONTROL.sub(" ", text.replace("\r", " ").replace("\n", " "))


def _clean_text(text: str) -> str:
    """Several lines: browsers send CRLF; one kind of line end keeps an unchanged edit unchanged."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", text).strip()


def _valid_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_ID


def _person(project: Project, user_id: Any, field_name: str, kept: set[int]) -> User:
    """A member of the project, or someone already on the case (they may stay after leaving the project)."""
    user = db.session.get(User, user_id) if _valid_id(user_id) else None
    if user is None or not (user.id in kept or is_member(project, user)):
        raise ServiceError(_l("Choose a member of this project."), field=field_name)
    return user


def grouped(number: int) -> str:
    """20000 as "20,000", for messages about limits."""
    return format(number, ",")


def _check_length(value: str, limit: int, field_name: str) -> None:
    if len(value) > limit:
        raise ServiceError(
            _l("At most %(limit)s characters.", limit=grouped(limit)),
            field=field_name,
        )


def _clean(project: Project, data: CaseInput, case: Case | None = None) -> dict[str, Any]:
    """Check every field and return the values to store; raises ServiceError before anything changes."""
    title = " ".join(_clean_line(data.title or "").split())
    if not title:
        raise ServiceError(_l("A case needs a title."), field="title")
    _check_length(title, MAX_TITLE, "title")
    module = normalise_module(data.module or "")
    _check_length(module, MAX_MODULE, "module")
    if data.priority not in PRIORITIES:
        raise ServiceError(_l("Choose a priority from P0 to P3."), field="priority")
    values: dict[str, Any] = {"title": title, "module": module, "priority": data.priority}
    for name in ("precondition", "steps", "expected"):
        values[name] = _clean_text(getattr(data, name) or "")
        _check_length(values[name], MAX_TEXT, name)
    tags = parse_tags(",".join(data.tags))
    values["tags"] = f",{','.join(tags)}," if tags else ""
    if len(values["tags"]) > MAX_TAGS:
        raise ServiceError(_l("Too many or too long tags."), field="tags")
    values.update(_people(project, data, case))
    return values


def _people(project: Project, data: CaseInput, case: Case | None) -> dict[str, Any]:
    """The maintainer and followers to store, each checked."""
    kept_maintainer = {case.maintainer_id} if case is not None and case.maintainer_id else set()
    kept_followers = {u.id for u in case.followers} if case is not None else set()
    maintainer = None
    if data.maintainer_id is not None:
        maintainer = _person(project, data.maintainer_id, "maintainer_id", kept_maintainer)
    followers = [
        _person(project, uid, "follower_ids", kept_followers) for uid in dict.fromkeys(data.follower_ids)
    ]
    # The order the relationship loads them in, so a snapshot reads the same before and after a reload.
    return {"maintainer": maintainer, "followers": sorted(followers, key=lambda u: (u.name, u.id))}


def _check_writable(project: Project) -> None:
    if project.archived:
        raise ServiceError(_l("This project is archived: its cases are read-only."))


def _store(case: Case, values: dict[str, Any]) -> None:
    for name, value in values.items():
        setattr(case, name, value)


def _record(kind: str, project: Project, actor: User, case: Case, /, **data: Any) -> None:
    """Record a domain event about a case, its data holding a "case" snapshot, in the current transaction."""
    record_event(kind, project, actor, case, **data)


def create_case(project: Project, actor: User, data: CaseInput) -> Case:
    """Create a case and record case.created, in one transaction."""
    # Checked before anything is added to the session, so a refusal leaves nothing to roll back.
    _check_writable(project)
    values = _clean(project, data)
    try:
        now = utcnow()
        case = Case(project_id=project.id, created_by=actor, updated_by=actor, created_at=now, updated_at=now)
        _store(case, values)
        db.session.add(case)
        db.session.flush()
        _record("case.created", project, actor, case, case=case_snapshot(case))
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return case


def _changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    """Each changed field with [old, new]; people are compared by id, shown by name."""
    changes = {key: [before[key], after[key]] for key in COMPARED_FIELDS if before[key] != after[key]}
    if before["maintainer_id"] != after["maintainer_id"]:
        changes["maintainer"] = [before["maintainer"], after["maintainer"]]
    if sorted(before["follower_ids"]) != sorted(after["follower_ids"]):
        changes["followers"] = [before["followers"], after["followers"]]
    return changes


def update_case(case: Case, actor: User, data: CaseInput) -> dict[str, list[Any]]:
    """Apply the changes and record case.updated with each changed field's old and new value.

    Saving without a change records nothing and returns an empty dict.
    """
    project = db.session.get(Project, case.project_id)
    _check_writable(project)
    values = _clean(project, data, case)
    before = case_snapshot(case)
    try:
        _store(case, values)
        db.session.flush()  # so maintainer_id follows the new maintainer before the snapshot
        after = case_snapshot(case)
        changes = _changes(before, after)
        if changes:
            case.updated_by = actor
            case.updated_at = utcnow()
            _record("case.updated", project, actor, case, case=after, changes=changes)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return changes


def delete_case(case: Case, actor: User) -> None:
    """Delete a case and record case.deleted with a snapshot of what it was."""
    project = db.session.get(Project, case.project_id)
    _check_writable(project)
    try:
        _record("case.deleted", project, actor, case, case=case_snapshot(case))
        db.session.delete(case)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise


def get_case(project: Project, case_id: int) -> Case | None:
    """The project's case with this id, else None (also for another project's case)."""
    if not _valid_id(case_id):
        return None
    case = db.session.get(Case, case_id)
    return case if case is not None and case.project_id == project.id else None


def deletion(project: Project, case_id: int) -> Event | None:
    """The case.deleted event of this project's case with this id, or None if no such case was deleted."""
    if not _valid_id(case_id):
        return None
    return db.session.scalar(
        select(Event)
        .where(Event.project_id == project.id, Event.kind == "case.deleted", Event.case_id == case_id)
        .order_by(Event.id.desc())
        .limit(1)
    )


def search_cases(project: Project, query: str = "", priority: str = "", page: int = 1, per_page: int = 25):
    """One page of a project's cases, newest first, matching the words in title, module or tags.

    A page past the end shows the last page, so a stale link never lands on an empty list.
    """
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
    page = min(max(page, 1), 10**9)
    pagination = db.paginate(stmt, page=page, per_page=per_page, error_out=False)
    if not pagination.items and pagination.page > 1 and pagination.total:
        pagination = db.paginate(stmt, page=pagination.pages, per_page=per_page, error_out=False)
    return pagination


def _escape_like(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def existing_case_ids(project: Project, case_ids: set[int | None]) -> set[int]:
    """Which of these cases still exist, so that pages link only to those."""
    wanted = [i for i in case_ids if i is not None]
    if not wanted:
        return set()
    return set(db.session.scalars(select(Case.id).where(Case.project_id == project.id, Case.id.in_(wanted))))
