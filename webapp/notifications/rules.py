"""Message settings: which channels an event goes to, and who receives it."""

from sqlalchemy import Row, bindparam, select

from webapp.extensions import db
from webapp.models import Event, Membership, MessageSetting, Robot, User
from webapp.models.notifications import EVENT_KINDS

DEFAULT_RECEIVERS = ["maintainer", "followers"]


def message_setting(project_id: int, event: str) -> MessageSetting:
    """The project's setting for an event; a default one (mail off) when never saved."""
    setting = db.session.scalar(
        select(MessageSetting).where(MessageSetting.project_id == project_id, MessageSetting.event == event)
    )
    if setting is None:
        setting = MessageSetting(
            project_id=project_id,
            event=event,
            email=False,
            receivers=list(DEFAULT_RECEIVERS),
            named_user_ids=[],
        )
    return setting


def message_settings(project_id: int) -> dict[str, MessageSetting]:
    return {kind: message_setting(project_id, kind) for kind in EVENT_KINDS}


def mail_receivers(event: Event, setting: MessageSetting) -> list[User]:
    """The active project members who get this event by mail, each once.

    The actor is left out only if their profile says "don't mail me about my own changes".
    """
    return _receivers(event, setting.receivers, setting.named_user_ids, _member_users)


def mail_recipients(event: Event, receivers: list[str], named_user_ids: list[int]) -> list[Row]:
    """The people mail_receivers() gives, as rows (id, name, email): cheaper, for planning inside a save."""
    return _receivers(event, receivers, named_user_ids, _member_rows)


def _receivers(event: Event, receivers: list[str], named_user_ids: list[int] | None, members_of) -> list:
    """Whom the receiver choices name, in order, each once; members_of(project_id, ids) loads the members."""
    case = event.data.get("case", {})
    wanted: list[int] = []
    if "creator" in receivers and case.get("created_by_id"):
        wanted.append(case["created_by_id"])
    if "maintainer" in receivers and case.get("maintainer_id"):
        wanted.append(case["maintainer_id"])
    if "followers" in receivers:
        wanted.extend(case.get("follower_ids", []))
    everyone = "members" in receivers
    named = list(named_user_ids or [])
    among = None if everyone else wanted + named
    members = members_of(event.project_id, among) if among is None or among else {}
    if everyone:
        wanted.extend(sorted(members))
    wanted.extend(named)
    chosen = []
    for uid in dict.fromkeys(wanted):
        user = members.get(uid)
        if user is None or not user.active or not user.email:
            continue
        if uid == event.actor_id and not user.mail_own_changes:
            continue
        chosen.append(user)
    return chosen


def _member_users(project_id: int, among: list[int] | None) -> dict[int, User]:
    """The project's members by id (only those among the given ids, unless None): one query."""
    query = (
        select(User)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.project_id == project_id)
    )
    if among is not None:
        query = query.where(User.id.in_(set(among)))
    return {user.id: user for user in db.session.scalars(query)}


# Built once: planning runs inside every save, and building a statement costs about as much as running it.
_users, _memberships = User.__table__, Membership.__table__
_MEMBERS = (
    select(
        _users.c.id,
        _users.c.name,
        _users.c.email,
        _users.c.mobile,
        _users.c.active,
        _users.c.mail_own_changes,
    )
    .join(_memberships, _memberships.c.user_id == _users.c.id)
    .where(_memberships.c.project_id == bindparam("project_id"))
)
_MEMBERS_AMONG = _MEMBERS.where(_users.c.id.in_(bindparam("ids", expanding=True)))


def _member_rows(project_id: int, among: list[int] | None) -> dict[int, Row]:
    """As _member_users(), as plain rows."""
    if among is None:
        rows = db.session.execute(_MEMBERS, {"project_id": project_id})
    else:
        rows = db.session.execute(
            _MEMBERS_AMONG, {"project_id": project_id, "ids": list(dict.fromkeys(among))}
        )
    return {row.id: row for row in rows}


def project_robots(project_id: int) -> list[Robot]:
    return list(db.session.scalars(select(Robot).where(Robot.project_id == project_id).order_by(Robot.id)))
