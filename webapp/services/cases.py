"""Functional test cases: the rules for changing them, and the events each change records."""

import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select, update
from sqlalchemy.orm import selectinload

from webapp.extensions import db
from webapp.models import Case, Event, Project, User
from webapp.models._types import utcnow
from webapp.models.cases import PRIORITIES
from webapp.notifications.events import case_snapshot, record_event
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
    # The version of the case these values were made on; None overwrites whatever is there (scripts only).
    version: int | None = None

    @classmethod
    def of(cls, case: Case, **changes: Any) -> "CaseInput":
        """The case's current values, with some changed: what an edit form posts back."""
        values = {
            "version": case.version,
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

    Saving without a change records nothing and returns an empty dict. Values made on an older version of
    the case than the stored one are refused with StaleCase, and nothing is saved.
    """
    project = db.session.get(Project, case.project_id)
    _check_writable(project)
    values = _clean(project, data, case)
    case_id = case.id
    try:
        if not _take(case, data.version):
            db.session.rollback()
            raise _stale(case_id, data, values)
        # Read under the guard, in the transaction that writes: the old values are the stored ones.
        before = case_snapshot(case)
        _store(case, values)
        db.session.flush()  # so maintainer_id follows the new maintainer before the snapshot
        after = case_snapshot(case)
        changes = _changes(before, after)
        if not changes:
            db.session.rollback()  # the version stays as it was
            return {}
        case.updated_by = actor
        case.updated_at = utcnow()
        _record("case.updated", project, actor, case, case=after, changes=changes)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return changes


def _take(case: Case, version: int | None) -> bool:
    """Move the case to its next version if it is still at `version`; False when it has moved on or is gone.

    One conditional UPDATE, the first write of the transaction: it waits for any other save of the case to
    end, and holds the row (PostgreSQL) or the database (SQLite) until this transaction ends, so two saves
    made on the same version cannot both pass.
    """
    stmt = update(Case).where(Case.id == case.id).values(version=Case.version + 1)
    if version is not None:
        stmt = stmt.where(Case.version == version)
    taken = db.session.execute(stmt, execution_options={"synchronize_session": False}).rowcount == 1
    db.session.expire(case)  # everything read from here on is what the guard holds
    return taken


class CaseGone(ServiceError):
    """The case was deleted while someone was editing it."""


@dataclass
class Meanwhile:
    """A field someone else changed after the user loaded the case, beside what the user sent."""

    field: str  # a key of FIELD_LABELS: "title", ..., "maintainer", "followers"
    input_name: str  # the same field as CaseInput names it: "maintainer_id" for "maintainer"
    theirs: Any  # the stored value, as people read it (names for people)
    yours: Any
    # "taken": the user had left the field alone, so `merged` holds the stored value;
    # "same": the user sent the stored value; "clash": both changed it, `merged` keeps the user's value.
    outcome: str
    by: str | None  # who changed it last; None when that user has been removed
    at: datetime


@dataclass
class Save:
    """One save by someone else since the user loaded the case."""

    by: str | None
    at: datetime
    fields: list[str]


class StaleCase(ServiceError):
    """The values were made on an older version of the case than the stored one: nothing is saved.

    `merged` is what the user should see next: their values, except for the fields only someone else
    changed (`taken`, named as in CaseInput), which hold the stored value; its version is the stored one,
    so saving it again is accepted unless yet another save comes first.
    """

    def __init__(self, merged: CaseInput, taken: list[str], fields: list[Meanwhile], saves: list[Save]):
        super().__init__(
            _l("Someone else saved this case while you were editing it. Your changes are not saved yet.")
        )
        self.merged = merged
        self.taken = taken
        self.fields = fields
        self.saves = saves


# A field as an event's changes name it, the snapshot key it is compared by, and its name in CaseInput.
_FIELDS = [(name, name, name) for name in COMPARED_FIELDS] + [
    ("maintainer", "maintainer_id", "maintainer_id"),
    ("followers", "follower_ids", "follower_ids"),
]


def _stale(case_id: int, data: CaseInput, values: dict[str, Any]) -> ServiceError:
    """What to tell a user whose values were made on an older version: the saves since, field by field."""
    for _attempt in range(3):  # another save may land while these are read; then read them again
        current = db.session.execute(
            select(Case).where(Case.id == case_id).execution_options(populate_existing=True)
        ).scalar_one_or_none()
        if current is None:
            return CaseGone(_l("Someone deleted this case while you were editing it: nothing was saved."))
        now = case_snapshot(current)
        base, events = _since(current, data.version)
        if db.session.scalar(select(Case.version).where(Case.id == case_id)) == current.version:
            break
        db.session.expire(current)
    yours = _snapshot_of(values)
    merged = replace(data, version=current.version)
    fields: list[Meanwhile] = []
    taken: list[str] = []
    for name, key, input_name in _FIELDS:
        touched = [e for e in events if name in e.data.get("changes", {})]
        if not touched or (base is not None and _comparable(key, base) == _comparable(key, now)):
            continue  # nobody else changed it, or it was changed back
        theirs, mine = _comparable(key, now), _comparable(key, yours)
        if mine == theirs:
            outcome = "same"
        elif base is not None and key in base and mine == _comparable(key, base):
            outcome = "taken"
            setattr(merged, input_name, _copy(now[key]))
            taken.append(input_name)
        else:
            outcome = "clash"
        last = touched[-1]
        fields.append(
            Meanwhile(name, input_name, now[name], yours[name], outcome, _name(last), last.created_at)
        )
    saves = [Save(_name(e), e.created_at, list(e.data.get("changes", {}))) for e in events]
    return StaleCase(merged, taken, fields, saves)


def _since(case: Case, loaded: int | None) -> tuple[dict[str, Any] | None, list[Event]]:
    """The case as it was at version `loaded` (None if unknown) and the case.updated since, oldest first.

    Every version after the first was made by exactly one case.updated, so they are the newest ones; the
    event before them made version `loaded`, and its snapshot is what the user saw.
    """
    count = case.version - loaded if loaded is not None and 0 < loaded < case.version else 0
    if not count:
        return None, []
    stmt = (
        select(Event)
        .where(Event.project_id == case.project_id, Event.case_id == case.id)
        .where(Event.kind.in_(("case.created", "case.updated")))
        .options(selectinload(Event.actor))
        .order_by(Event.id.desc())
        .limit(count + 1)
    )
    rows = list(reversed(db.session.scalars(stmt).all()))
    events = [e for e in rows[-count:] if e.kind == "case.updated"]
    base = rows[0].data.get("case") if len(rows) == count + 1 else None
    return base, events


def _snapshot_of(values: dict[str, Any]) -> dict[str, Any]:
    """Cleaned values (see _clean) in the shape of a case snapshot."""
    snapshot = {name: values[name] for name in TEXT_FIELDS}
    snapshot["tags"] = [t for t in values["tags"].split(",") if t]
    maintainer = values["maintainer"]
    snapshot["maintainer"] = maintainer.name if maintainer else None
    snapshot["maintainer_id"] = maintainer.id if maintainer else None
    snapshot["followers"] = [u.name for u in values["followers"]]
    snapshot["follower_ids"] = [u.id for u in values["followers"]]
    return snapshot


def _comparable(key: str, snapshot: dict[str, Any]) -> Any:
    value = snapshot.get(key)
    return sorted(value) if key == "follower_ids" else value


def _copy(value: Any) -> Any:
    return list(value) if isinstance(value, list) else value


def _name(event: Event) -> str | None:
    return event.actor.name if event.actor else None


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
