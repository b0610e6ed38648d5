"""cases version

Revision ID: 5b7e2c9a41d3
Revises: e3a1c7b5f902
Create Date: 2026-11-29 10:12:30.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5b7e2c9a41d3'
down_revision = 'e3a1c7b5f902'
branch_labels = None
depends_on = None


def upgrade():
    # Existing cases start at version 1. An edit form opened before the upgrade carries no version: its save
    # is refused as made on an unknown version, with the typed values kept for saving again.
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('version', sa.Integer(), server_default=sa.text('1'), nullable=False))


def downgrade():
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_column('version')
