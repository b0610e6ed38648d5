"""deliveries keep what a robot message says

Revision ID: 29bca0939b59
Revises: a4f2dfaa9f8f
Create Date: 2026-12-05 10:00:00.000000

A robot message's link, @mentions and event facts were worked out again at each send, so a retry could mention
other people than the first attempt. They are now decided when the event is recorded and kept with the row.
Robot messages written before (open ones, and settled ones that may be resent) get them here, once, as a send
at this moment would have worked them out; from then on they are read, never worked out again.
"""
from alembic import op
from flask import current_app
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '29bca0939b59'
down_revision = 'a4f2dfaa9f8f'
branch_labels = None
depends_on = None

# The tables as this revision reads them (the models may have moved on since).
deliveries = sa.table(
    "deliveries",
    sa.column("id", sa.Integer),
    sa.column("event_id", sa.Integer),
    sa.column("channel", sa.String),
    sa.column("facts", sa.JSON),
)
events = sa.table(
    "events",
    sa.column("id", sa.Integer),
    sa.column("kind", sa.String),
    sa.column("project_id", sa.Integer),
    sa.column("actor_id", sa.Integer),
    sa.column("case_id", sa.Integer),
    sa.column("data", sa.JSON),
)
users = sa.table(
    "users",
    sa.column("id", sa.Integer),
    sa.column("name", sa.String),
    sa.column("email", sa.String),
    sa.column("mobile", sa.String),
    sa.column("active", sa.Boolean),
    sa.column("mail_own_changes", sa.Boolean),
)
memberships = sa.table("memberships", sa.column("project_id", sa.Integer), sa.column("user_id", sa.Integer))
projects = sa.table("projects", sa.column("id", sa.Integer), sa.column("name", sa.String))
settings = sa.table(
    "message_settings",
    sa.column("project_id", sa.Integer),
    sa.column("event", sa.String),
    sa.column("receivers", sa.JSON),
    sa.column("named_user_ids", sa.JSON),
)
DEFAULT_RECEIVERS = ["maintainer", "followers"]  # a message setting never saved


def upgrade():
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('facts', sa.JSON(none_as_null=True), nullable=True))
    _backfill(op.get_bind())


def downgrade():
    # Rebuilt on SQLite: keep AUTOINCREMENT (revision a4f2dfaa9f8f), or deleted rows' ids would come back.
    with op.batch_alter_table('deliveries', schema=None, table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.drop_column('facts')


def _backfill(connection):
    """Each robot message of an event: its facts as the send of this moment would have worked them out."""
    rows = connection.execute(
        sa.select(deliveries.c.id, deliveries.c.event_id).where(
            deliveries.c.event_id.is_not(None), deliveries.c.channel != "email", deliveries.c.facts.is_(None)
        )
    ).all()
    if not rows:
        return
    base_url = current_app.config["BASE_URL"].rstrip("/")
    people = {row.id: row for row in connection.execute(sa.select(users))}
    members: dict[int, set[int]] = {}
    for project_id, user_id in connection.execute(sa.select(memberships.c.project_id, memberships.c.user_id)):
        members.setdefault(project_id, set()).add(user_id)
    names = dict(connection.execute(sa.select(projects.c.id, projects.c.name)).all())
    chosen = {
        (row.project_id, row.event): (row.receivers or [], row.named_user_ids or [])
        for row in connection.execute(sa.select(settings))
    }
    facts = {}
    for event_id in sorted({event_id for _, event_id in rows}):
        event = connection.execute(sa.select(events).where(events.c.id == event_id)).first()
        if event is not None:
            receivers = chosen.get((event.project_id, event.kind), (DEFAULT_RECEIVERS, []))
            facts[event_id] = _facts(event, base_url, names, members.get(event.project_id, set()), people, receivers)
    update = (
        sa.update(deliveries)
        .where(deliveries.c.id == sa.bindparam("row_id"))
        .values(facts=sa.bindparam("row_facts", type_=sa.JSON))
    )
    values = [{"row_id": row_id, "row_facts": facts[event_id]} for row_id, event_id in rows if event_id in facts]
    if values:
        connection.execute(update, values)


def _facts(event, base_url, names, members, people, receivers) -> dict:
    data = event.data or {}
    case = data.get("case", {})
    activity = f"{base_url}/projects/{event.project_id}/activity"
    link = activity if event.kind == "case.deleted" else f"{base_url}/projects/{event.project_id}/cases/{event.case_id}"
    actor = people.get(event.actor_id)
    return {
        "link": link,
        "mention_mobiles": [
            people[uid].mobile for uid in _receivers(event, case, members, people, *receivers) if people[uid].mobile
        ],
        "event": event.kind,
        "project": {"id": event.project_id, "name": names.get(event.project_id, "")},
        "case": {"id": event.case_id, "title": case.get("title", ""), "link": link},
        "actor": {"id": event.actor_id, "name": actor.name if actor else ""},
        "changes": [{"field": name, "old": old, "new": new} for name, (old, new) in data.get("changes", {}).items()],
        "activity_link": activity,
    }


def _receivers(event, case, members, people, receivers, named_user_ids) -> list[int]:
    """The members the event's mail goes to, each once, as the rules of this revision choose them."""
    wanted = []
    if "creator" in receivers and case.get("created_by_id"):
        wanted.append(case["created_by_id"])
    if "maintainer" in receivers and case.get("maintainer_id"):
        wanted.append(case["maintainer_id"])
    if "followers" in receivers:
        wanted.extend(case.get("follower_ids", []))
    if "members" in receivers:
        wanted.extend(sorted(members))
    wanted.extend(named_user_ids or [])
    chosen = []
    for uid in dict.fromkeys(wanted):
        user = people.get(uid)
        if uid not in members or user is None or not user.active or not user.email:
            continue
        if uid == event.actor_id and not user.mail_own_changes:
            continue
        chosen.append(uid)
    return chosen
