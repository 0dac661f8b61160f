"""Bulk loading of adopted entries for benchmarks and scale tests: plain multi-row INSERTs, no ORM
objects, no per-entry checks. Only for trusted, already-valid material in a fresh database; the
search index is rebuilt afterwards (search/index.py `rebuild`), since no commit hook sees these rows.
"""
from sqlalchemy import insert, select

from ..extensions import db
from ..models import Category, Entry, Revision, Status, Vocabulary
from ..models.base import utcnow

CHUNK = 2000  # rows per INSERT round trip: large enough to be fast, small enough for SQLite's limits


def insert_adopted_entries(records, author_id, progress=None):
    """Insert adopted entries, each with one revision, from dicts with title, body and kind (a kind slug);
    products, segments and tags are optional lists. Returns the new entry ids in record order."""
    kinds = dict(db.session.execute(
        select(Category.slug, Category.id).where(Category.vocabulary == Vocabulary.KIND)).all())
    now = utcnow()
    ids = []
    for start in range(0, len(records), CHUNK):
        chunk = records[start:start + CHUNK]
        # RETURNING in parameter order: SQLAlchemy batches these into multi-row INSERTs on both databases.
        chunk_ids = db.session.scalars(insert(Entry).returning(Entry.id, sort_by_parameter_order=True),
                                       [_entry_row(record, kinds, author_id, now) for record in chunk]).all()
        db.session.execute(insert(Revision), [_revision_row(entry_id, record, author_id, now)
                                              for entry_id, record in zip(chunk_ids, chunk)])
        db.session.commit()
        ids += chunk_ids
        if progress:
            progress(len(chunk))
    return ids


def _entry_row(record, kinds, author_id, now):
    return {"title": record["title"], "kind_id": kinds[record["kind"]], "status": Status.ADOPTED,
            "author_id": author_id, "created_at": now, "updated_at": now, "latest_number": 1,
            "published_number": 1, "adopted_at": now}


def _revision_row(entry_id, record, author_id, now):
    return {"entry_id": entry_id, "number": 1, "author_id": author_id, "created_at": now, "note": "",
            "title": record["title"], "body": record["body"], "kind_slug": record["kind"],
            "products": record.get("products", []), "segments": record.get("segments", []),
            "tags": record.get("tags", [])}
