"""Keep the index in step with the database: changes are collected while a transaction runs and
written only after it commits — never before, never on a rollback (the microblog pattern). The
same changes retire what readers share (kmwiki/caching.py)."""
import logging

from flask import current_app, has_app_context
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from .. import caching
from ..extensions import db
from ..models import Entry, Revision
from . import index, journal

log = logging.getLogger(__name__)
PENDING = "kmwiki.search_pending"


def mark(session, entry_id):
    """Reindex this entry after the session's transaction commits (for changes made with Core SQL)."""
    session.info.setdefault(PENDING, set()).add(entry_id)


@event.listens_for(Session, "after_flush")
def _collect(session, flush_context):
    # After the flush new entries have ids, and new/dirty/deleted still list what was flushed.
    # A revision never changes once written but for its cached HTML, which is not indexed: only
    # new (and deleted) revisions count, or the first view of each revision rewrote the index.
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, Entry):
            mark(session, obj.id)
    for obj in (*session.new, *session.deleted):
        if isinstance(obj, Revision):
            mark(session, obj.entry_id)


@event.listens_for(Session, "after_commit")
def _apply(session):
    entry_ids = session.info.pop(PENDING, None)
    if not entry_ids or not has_app_context():
        return
    if _any_published(entry_ids):
        caching.content_changed()  # what readers share is rendered again (kmwiki/caching.py)
    if not current_app.config["SEARCH_INDEX_UPDATES"]:
        return
    note = journal.promise(entry_ids)  # a process killed from here on leaves the note for the next
    try:
        ix = index.get_index()
        index.update(ix, entry_ids)
    except Exception:  # the commit stands; the note is retried (journal.py), search-check --repair too
        journal.failed(note)
        log.exception("search index update failed for entries %s", sorted(entry_ids))
    else:
        journal.done(note)
        journal.recover(lambda owed: index.update(ix, owed))  # what killed or failed writers owed


def _any_published(entry_ids):
    """Whether any of the entries is or has been public: what readers share shows only those, so
    saving a draft (most writes) leaves it alone."""
    with db.engine.connect() as connection:
        return connection.scalar(select(Entry.id).where(Entry.id.in_(entry_ids),
                                                        Entry.published_number.is_not(None)).limit(1)) is not None


@event.listens_for(Session, "after_rollback")
def _forget(session):
    session.info.pop(PENDING, None)
