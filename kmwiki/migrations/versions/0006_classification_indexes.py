"""classification indexes ordered by entry, for related entries at scale

Revision ID: c4e1a7b30006
Revises: b3d9f2a20005
Create Date: 2026-12-01 23:30:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'c4e1a7b30006'
down_revision = 'b3d9f2a20005'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('entry_categories', schema=None) as batch_op:
        batch_op.create_index('ix_entry_categories_category_entry', ['category_id', 'entry_id'], unique=False)
        batch_op.drop_index(batch_op.f('ix_entry_categories_category_id'))
    with op.batch_alter_table('entry_tags', schema=None) as batch_op:
        batch_op.create_index('ix_entry_tags_tag_entry', ['tag_id', 'entry_id'], unique=False)
        batch_op.drop_index(batch_op.f('ix_entry_tags_tag_id'))


def downgrade():
    with op.batch_alter_table('entry_tags', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_entry_tags_tag_id'), ['tag_id'], unique=False)
        batch_op.drop_index('ix_entry_tags_tag_entry')
    with op.batch_alter_table('entry_categories', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_entry_categories_category_id'), ['category_id'], unique=False)
        batch_op.drop_index('ix_entry_categories_category_entry')
