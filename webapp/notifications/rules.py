"""Message settings: which channels an event goes to, and who receives it."""

from sqlalchemy import select

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


def save_message_setting(
    project_id: int, event: str, email: bool, receivers: list[str], named_user_ids: list[int]
) -> MessageSetting:
    setting = message_setting(project_id, event)
    setting.email = email
    setting.receivers = list(receivers or [])
    setting.named_user_ids = list(named_user_ids or [])
    db.session.add(setting)
    db.session.commit()
    return setting


def mail_receivers(event: Event, setting: MessageSetting) -> list[User]:
    """The active project members who get this event by mail, each once.

    The actor is left out only if their profile says "don't mail me about my own changes".
    """
    case = event.data.get("case", {})
    member_ids = set(
        db.session.scalars(select(Membership.user_id).where(Membership.project_id == event.project_id))
    )
    wanted: list[int] = []
    if "creator" in setting.receivers and case.get("created_by_id"):
        wanted.append(case["created_by_id"])
    if "maintainer" in setting.receivers and case.get("maintainer_id"):
        wanted.append(case["maintainer_id"])
    if "followers" in setting.receivers:
        wanted.extend(case.get("follower_ids", []))
    if "members" in setting.receivers:
        wanted.extend(sorted(member_ids))
    wanted.extend(setting.named_user_ids or [])
    ordered = [uid for uid in dict.fromkeys(wanted) if uid in member_ids]
    users = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(ordered)))}
    receivers = []
    for uid in ordered:
        user = users.get(uid)
        if user is None or not user.active or not user.email:
            continue
        if uid == event.actor_id and not user.mail_own_changes:
            continue
        receivers.append(user)
    return receivers


def project_robots(project_id: int) -> list[Robot]:
    return list(db.session.scalars(select(Robot).where(Robot.project_id == project_id).order_by(Robot.id)))


def save_robot_events(project_id: int, robot_ids_by_event: dict[str, list[int]]) -> None:
    """Switch each robot of the project on for exactly the events that list it."""
    for robot in project_robots(project_id):
        robot.events = [kind for kind in EVENT_KINDS if robot.id in (robot_ids_by_event.get(kind) or [])]
    db.session.commit()
