"""robot pacing times in milliseconds

Revision ID: d959cfadd913
Revises: c4690774b4ef
Create Date: 2026-11-28 23:58:41.118734

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd959cfadd913'
down_revision = 'c4690774b4ef'
branch_labels = None
depends_on = None

pacing = sa.table("robot_pacing", sa.column("robot_id", sa.Integer), sa.column("sends", sa.JSON))


def _convert(scale):
    """Rewrite every robot's recent sends with their times multiplied by scale (no schema change)."""
    connection = op.get_bind()
    rows = connection.execute(sa.select(pacing.c.robot_id, pacing.c.sends)).all()
    for robot_id, sends in rows:
        converted = [[_scaled(send[0], scale), *send[1:]] for send in sends or []]
        connection.execute(pacing.update().where(pacing.c.robot_id == robot_id).values(sends=converted))


def _scaled(value, scale):
    scaled = value * scale
    return round(scaled) if scale > 1 else round(scaled, 3)


def upgrade():
    # The sends of the last minute keep counting across the upgrade: seconds become whole milliseconds.
    _convert(1000)


def downgrade():
    _convert(1 / 1000)
