"""outbound allowlist

Revision ID: 7d4f1a2c9e60
Revises: cff0bb81610a
Create Date: 2026-12-10 09:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '7d4f1a2c9e60'
down_revision = 'cff0bb81610a'
branch_labels = None
depends_on = None


def upgrade():
    # Stored settings start with an empty allowlist: loopback, link-local and metadata addresses are refused
    # from now on unless an administrator lists them (or HERALD_OUTBOUND_ALLOW does).
    with op.batch_alter_table('network_settings', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('outbound_allow', sa.String(length=1000), server_default='', nullable=False)
        )


def downgrade():
    with op.batch_alter_table('network_settings', schema=None) as batch_op:
        batch_op.drop_column('outbound_allow')
