"""Projects and their members."""

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from webapp.extensions import db
from webapp.models import Event, Membership, Project, User
from webapp.models._types import utcnow
from webapp.services import ServiceError, audit


def _check_name_free(name: str, project: Project | None = None) -> None:
    other = db.session.scalar(select(Project).where(func.lower(Project.name) == name.strip().lower()))
    if other is not None and other is not project:
        raise ServiceError(_l("A project with this name already exists."), field="name")


def create_project(name: str, description: str = "", creator: User | None = None) -> Project:
    """Create a project; its creator becomes its first member."""
    _check_name_free(name)
    project = Project(name=name.strip(), description=(description or "").strip())
    db.session.add(project)
    if creator is not None:
        project.memberships.append(Membership(user=creator))
    db.session.commit()
    return project


def update_project(project: Project, name: str, description: str = "") -> Project:
    _check_name_free(name, project)
    project.name = name.strip()
    project.description = (description or "").strip()
    db.session.commit()
    return project


def set_archived(project: Project, archived: bool) -> None:
    project.archived_at = utcnow() if archived else None
    db.session.commit()


def is_member(project: Project, user: User) -> bool:
    return any(m.user_id == user.id for m in project.memberships)


def visible_projects(user: User, include_archived: bool = False) -> list[Project]:
    """The projects a user may see: all for administrators, their own for members."""
    query = select(Project).order_by(func.lower(Project.name))
    if not user.is_admin:
        query = query.join(Membership).where(Membership.user_id == user.id)
    if not include_archived:
        query = query.where(Project.archived_at.is_(None))
    return list(db.session.scalars(query))


def project_for(user: User, project_id: int) -> Project | None:
    """The project if this user may see it, else None (the view answers 404: no hint that it exists)."""
    if not 0 < project_id < 2**63:  # beyond what a database integer holds: no such project
        return None
    project = db.session.get(Project, project_id)
    if project is None or not (user.is_admin or is_member(project, user)):
        return None
    return project


def add_member(project: Project, user: User, by: audit.Actor | None = None) -> None:
    if not is_member(project, user):
        project.memberships.append(Membership(user=user))
        audit.record("member.added", by, user.email, project_id=project.id, user_id=user.id)
        db.session.commit()


def remove_member(project: Project, user: User, by: audit.Actor | None = None) -> None:
    for membership in list(project.memberships):
        if membership.user_id == user.id:
            project.memberships.remove(membership)
            audit.record("member.removed", by, user.email, project_id=project.id, user_id=user.id)
    db.session.commit()


def non_members(project: Project) -> list[User]:
    """Active users who could be added to the project."""
    member_ids = {m.user_id for m in project.memberships}
    users = db.session.scalars(select(User).where(User.active).order_by(func.lower(User.name)))
    return [u for u in users if u.id not in member_ids]


def activity(project: Project, page: int = 1, per_page: int = 50):
    """A project's events, newest first, one page at a time."""
    stmt = (
        select(Event)
        .where(Event.project_id == project.id)
        .options(selectinload(Event.actor))
        .order_by(Event.id.desc())
    )
    return db.paginate(stmt, page=page, per_page=per_page, error_out=False)
