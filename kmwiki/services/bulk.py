"""Bulk loading of adopted entries for benchmarks and scale tests: plain multi-row INSERTs, no ORM
objects, no per-entry checks. Only for trusted, already-valid material in a fresh database; the
search index is rebuilt afterwards (search/index.py `rebuild`), since no commit hook sees these rows.
"""
from sqlalchemy import insert, select

from ..extensions import db
from ..models import Category, Entry, Revision, Status, Tag, Vocabulary
from ..models.base import utcnow
from ..models.entry import entry_categories, entry_tags

CHUNK = 2000  # rows per INSERT round trip: large enough to be fast, small enough for SQLite's limits


def insert_adopted_entries(records, author_id, progress=None):
    """Insert adopted entries, each with one revision, from dicts with title, body and kind (a kind slug);
    products, segments and tags are optional lists. Returns the new entry ids in record order."""
    classes = {(vocabulary, slug): category_id for vocabulary, slug, category_id in
               db.session.execute(select(Category.vocabulary, Category.slug, Category.id))}
    kinds = {slug: category_id for (vocabulary, slug), category_id in classes.items() if vocabulary == Vocabulary.KIND}
    now = utcnow()
    ids = []
    for start in range(0, len(records), CHUNK):
        chunk = records[start:start + CHUNK]
        # RETURNING in parameter order: SQLAlchemy batches these into multi-row INSERTs on both databases.
        chunk_ids = db.session.scalars(insert(Entry).returning(Entry.id, sort_by_parameter_order=True),
                                       [_entry_row(record, kinds, author_id, now) for record in chunk]).all()
        db.session.execute(insert(Revision), [_revision_row(entry_id, record, author_id, now)
                                              for entry_id, record in zip(chunk_ids, chunk)])
        _classify(zip(chunk_ids, chunk), classes)
        db.session.commit()
        ids += chunk_ids
        if progress:
            progress(len(chunk))
    return ids


def _classify(entries, classes):
    """The browse and "related" links of what the revisions say: product lines, segments, tags."""
    entries = list(entries)
    tag_ids = _tag_ids({name for _, record in entries for name in record.get("tags", [])})
    links = [{"entry_id": entry_id, "category_id": classes[vocabulary, slug]} for entry_id, record in entries
             for vocabulary, key in ((Vocabulary.PRODUCT, "products"), (Vocabulary.SEGMENT, "segments"))
             for slug in record.get(key, [])]
    tagged = [{"entry_id": entry_id, "tag_id": tag_ids[name]} for entry_id, record in entries
              for name in dict.fromkeys(record.get("tags", []))]
    if links:
        db.session.execute(insert(entry_categories), links)
    if tagged:
        db.session.execute(insert(entry_tags), tagged)


def _tag_ids(names):
    """Tag ids by name, creating the tags that do not exist yet."""
    known = dict(db.session.execute(select(Tag.name, Tag.id).where(Tag.name.in_(names))).all()) if names else {}
    missing = sorted(names - set(known))
    if missing:
        db.session.execute(insert(Tag), [{"name": name} for name in missing])
        known.update(db.session.execute(select(Tag.name, Tag.id).where(Tag.name.in_(missing))).all())
    return known


def _entry_row(record, kinds, author_id, now):
    return {"title": record["title"], "kind_id": kinds[record["kind"]], "status": Status.ADOPTED,
            "author_id": author_id, "created_at": now, "updated_at": now, "latest_number": 1,
            "published_number": 1, "adopted_at": now}


def _revision_row(entry_id, record, author_id, now):
    return {"entry_id": entry_id, "number": 1, "author_id": author_id, "created_at": now, "published_at": now,
            "note": "", "title": record["title"], "body": record["body"], "kind_slug": record["kind"],
            "products": record.get("products", []), "segments": record.get("segments", []),
            "tags": record.get("tags", [])}
