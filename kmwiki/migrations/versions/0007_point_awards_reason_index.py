"""point ledger index by reason and time, for the admin ledger filtered by reason

Revision ID: d5f2b8c40007
Revises: c4e1a7b30006
Create Date: 2026-12-02 09:00:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'd5f2b8c40007'
down_revision = 'c4e1a7b30006'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('point_awards', schema=None) as batch_op:
        batch_op.create_index('ix_point_awards_reason_created_amount', ['reason', 'created_at', 'amount'], unique=False)


def downgrade():
    with op.batch_alter_table('point_awards', schema=None) as batch_op:
        batch_op.drop_index('ix_point_awards_reason_created_amount')
