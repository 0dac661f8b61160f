"""entry pages kept for sharing know when they are stale: a version per entry, a generation for all

Revision ID: f7b4d0e60009
Revises: e6a3c9d50008
Create Date: 2026-12-02 14:00:00

entries.page_version counts the changes to what an entry's page shows; page_generation holds the
one token every kept page belongs to (kmwiki/pages.py). Existing entries start at version 0 and the
generation is new, so nothing kept before this migration is ever served.
"""
import secrets

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'f7b4d0e60009'
down_revision = 'e6a3c9d50008'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('entries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('page_version', sa.Integer(), nullable=False, server_default='0'))
    generation = op.create_table(
        'page_generation',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('token', sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_page_generation')),
    )
    op.bulk_insert(generation, [{'id': 1, 'token': secrets.token_hex(16)}])


def downgrade():
    op.drop_table('page_generation')
    with op.batch_alter_table('entries', schema=None) as batch_op:
        batch_op.drop_column('page_version')
