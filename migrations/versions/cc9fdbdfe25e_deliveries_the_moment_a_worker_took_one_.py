"""deliveries: the moment a worker took one on its way

Revision ID: cc9fdbdfe25e
Revises: d959cfadd913
Create Date: 2026-12-03 19:22:29.715329

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'cc9fdbdfe25e'
down_revision = 'd959cfadd913'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sending_at', sa.DateTime(timezone=True), nullable=True))



def downgrade():
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_column('sending_at')

