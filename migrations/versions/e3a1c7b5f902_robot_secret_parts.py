"""robot secret parts

Revision ID: e3a1c7b5f902
Revises: cc9fdbdfe25e
Create Date: 2026-12-03 19:45:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e3a1c7b5f902'
down_revision = 'cc9fdbdfe25e'
branch_labels = None
depends_on = None


def upgrade():
    # Existing robots mark nothing: what Herald recognises by itself stays masked as before.
    with op.batch_alter_table('robots', schema=None) as batch_op:
        batch_op.add_column(sa.Column('secret_parts', sa.JSON(), server_default='[]', nullable=False))


def downgrade():
    with op.batch_alter_table('robots', schema=None) as batch_op:
        batch_op.drop_column('secret_parts')
