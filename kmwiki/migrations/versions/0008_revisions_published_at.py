"""revisions remember when they were published: readers who are not involved see only those

Revision ID: e6a3c9d50008
Revises: d5f2b8c40007
Create Date: 2026-12-03 09:00:00

Backfill, from what the database recorded:
- the revision every entry shows its readers now (entries.published_number) is published — at the
  time of the review decision that adopted it when the audit log has one, otherwise at the entry's
  adoption time (never earlier than the revision itself);
- every earlier revision that a review adopted is published, at that decision's time: the audit log
  holds a `decision:adopt` event with the revision's number and the status it left (`adopted` when
  that decision published it; `pending` when more adopting reviews were still needed).
What it cannot know: a revision that a trusted path published without review (an import with
`--status adopted`, bulk loading, `entries.publish`) and that a later adoption has since replaced left
no trace, so it stays unpublished — seen only by those involved in the entry, never by other readers
(the safe side: it may be a draft). A `decision:adopt` event written by hand without its details
counts for nothing either.
"""
from alembic import op
import sqlalchemy as sa

from kmwiki.models.base import UTCDateTime


# revision identifiers, used by Alembic.
revision = 'e6a3c9d50008'
down_revision = 'd5f2b8c40007'
branch_labels = None
depends_on = None

revisions = sa.table('revisions', sa.column('id', sa.Integer), sa.column('entry_id', sa.Integer),
                     sa.column('number', sa.Integer), sa.column('created_at', UTCDateTime()),
                     sa.column('published_at', UTCDateTime()))
entries = sa.table('entries', sa.column('id', sa.Integer), sa.column('published_number', sa.Integer),
                   sa.column('adopted_at', UTCDateTime()))
audit_events = sa.table('audit_events', sa.column('entry_id', sa.Integer), sa.column('action', sa.String),
                        sa.column('details', sa.JSON), sa.column('created_at', UTCDateTime()))


def upgrade():
    with op.batch_alter_table('revisions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('published_at', sa.DateTime(timezone=True), nullable=True))
    connection = op.get_bind()
    current_faces(connection)
    adopted_by_review(connection)


def current_faces(connection):
    """The revision each entry shows its readers: one UPDATE, so it stays quick at 100,000 entries."""
    face = sa.and_(entries.c.id == revisions.c.entry_id, entries.c.published_number == revisions.c.number)
    since = sa.case((sa.or_(entries.c.adopted_at.is_(None), entries.c.adopted_at < revisions.c.created_at),
                     revisions.c.created_at), else_=entries.c.adopted_at)
    connection.execute(revisions.update().where(sa.exists().where(face))
                       .values(published_at=sa.select(since).where(face).scalar_subquery()))


def adopted_by_review(connection):
    """Every revision a review decision published, at the time of the first such decision. The details
    are JSON, read here rather than in SQL so the same code runs on SQLite and PostgreSQL."""
    first = {}
    rows = connection.execute(sa.select(audit_events.c.entry_id, audit_events.c.details, audit_events.c.created_at)
                              .where(audit_events.c.action == 'decision:adopt', audit_events.c.entry_id.is_not(None)))
    for entry_id, details, created_at in rows:
        number = (details or {}).get('revision')
        if (details or {}).get('status') != 'adopted' or not isinstance(number, int) or isinstance(number, bool):
            continue
        key = (entry_id, number)
        first[key] = min(first.get(key, created_at), created_at)
    if first:
        connection.execute(
            revisions.update().where(revisions.c.entry_id == sa.bindparam('e'), revisions.c.number == sa.bindparam('n'))
            .values(published_at=sa.bindparam('t', type_=UTCDateTime())),
            [{'e': e, 'n': n, 't': t} for (e, n), t in first.items()])


def downgrade():
    with op.batch_alter_table('revisions', schema=None) as batch_op:
        batch_op.drop_column('published_at')
