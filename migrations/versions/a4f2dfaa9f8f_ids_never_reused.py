"""ids never reused

Revision ID: a4f2dfaa9f8f
Revises: 7d4f1a2c9e60
Create Date: 2026-12-03 19:21:07.402217

SQLite gives the id of a deleted newest row to the next row unless the table is declared AUTOINCREMENT: old
links, events and messages then name a stranger (a deleted case's link opens the new case, a deleted robot's
message is resent to the new robot's group). Each table with a numeric id is rebuilt with AUTOINCREMENT, its
rows kept, and its counter set above the highest id that was ever used as far as the database still tells:
its own rows, and every place that keeps a number of it after the row is gone (case.deleted events keep the
case's, messages keep their robot's). PostgreSQL's sequences never go back: there only the same counters are
raised, in case a row was ever written with an id of its own.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a4f2dfaa9f8f'
down_revision = '7d4f1a2c9e60'
branch_labels = None
depends_on = None

# Each table with a numeric id, and the (table, column) pairs that hold its ids, kept when its row is gone.
REFERENCES = {
    "users": [
        ("events", "actor_id"),
        ("cases", "maintainer_id"),
        ("cases", "created_by_id"),
        ("cases", "updated_by_id"),
        ("memberships", "user_id"),
        ("case_followers", "user_id"),
    ],
    "projects": [
        ("cases", "project_id"),
        ("events", "project_id"),
        ("deliveries", "project_id"),
        ("robots", "project_id"),
        ("memberships", "project_id"),
        ("message_settings", "project_id"),
        ("message_templates", "project_id"),
    ],
    "cases": [("events", "case_id"), ("case_followers", "case_id")],
    "events": [("deliveries", "event_id")],
    "robots": [("robot_pacing", "robot_id")],  # and the targets of robot messages: see _highest_id
    "deliveries": [("deliveries", "merged_into_id"), ("delivery_attempts", "delivery_id")],
    "delivery_attempts": [],
    "message_settings": [],
    "message_templates": [],
    "mail_settings": [],
    "network_settings": [],
    "user_sessions": [],
    "audit_events": [],
    "login_throttles": [],
}


def _highest_id(connection, table):
    """The highest id of the table that the database still knows of: in its rows or kept elsewhere."""
    found = [connection.execute(sa.text(f"SELECT MAX(id) FROM {table}")).scalar()]
    for other, column in REFERENCES[table]:
        found.append(connection.execute(sa.text(f"SELECT MAX({column}) FROM {other}")).scalar())
    if table == "robots":  # a robot message's target is its robot's id, as text
        targets = connection.execute(
            sa.text("SELECT DISTINCT target FROM deliveries WHERE channel <> 'email'")
        )
        found += [int(target) for (target,) in targets if target.isascii() and target.isdigit()]
    return max((int(value) for value in found if value is not None), default=0)


def _raise_sqlite_counter(connection, table, highest):
    """Make the next id of an AUTOINCREMENT table come after `highest`."""
    seq = connection.execute(
        sa.text("SELECT seq FROM sqlite_sequence WHERE name = :name"), {"name": table}
    ).scalar()
    values = {"name": table, "seq": highest}
    if seq is None:
        connection.execute(sa.text("INSERT INTO sqlite_sequence (name, seq) VALUES (:name, :seq)"), values)
    elif seq < highest:
        connection.execute(sa.text("UPDATE sqlite_sequence SET seq = :seq WHERE name = :name"), values)


def _raise_postgresql_sequence(connection, table, highest):
    """Make the next id of a table whose ids come from a sequence come after `highest`."""
    sequence = connection.execute(
        sa.text("SELECT pg_get_serial_sequence(:table, 'id')"), {"table": table}
    ).scalar()
    if sequence is None:
        return
    last, called = connection.execute(sa.text(f"SELECT last_value, is_called FROM {sequence}")).one()
    following = last + 1 if called else last
    if highest >= following:
        connection.execute(
            sa.text("SELECT setval(CAST(:sequence AS regclass), :value, true)"),
            {"sequence": sequence, "value": highest},
        )


def upgrade():
    connection = op.get_bind()
    sqlite = connection.dialect.name == "sqlite"
    for table in REFERENCES:
        highest = _highest_id(connection, table)
        if sqlite:
            # Rebuilt as AUTOINCREMENT (a new table, the rows copied with their ids, the old one dropped).
            with op.batch_alter_table(table, recreate="always", table_kwargs={"sqlite_autoincrement": True}):
                pass
            _raise_sqlite_counter(connection, table, highest)
        elif connection.dialect.name == "postgresql":
            _raise_postgresql_sequence(connection, table, highest)


def downgrade():
    connection = op.get_bind()
    if connection.dialect.name != "sqlite":
        return  # a sequence is never set back: ids already given stay given
    for table in REFERENCES:
        with op.batch_alter_table(table, recreate="always", table_kwargs={"sqlite_autoincrement": False}):
            pass
    connection.execute(
        sa.text("DELETE FROM sqlite_sequence WHERE name IN :names").bindparams(
            sa.bindparam("names", expanding=True)
        ),
        {"names": list(REFERENCES)},
    )
