"""The Whoosh index in the instance folder: schema, opening (rebuilt when missing or corrupt),
documents built from the database, and writes that wait for the lock instead of failing.

The database is the source of truth; the index is derived data, written only after a commit
(see search/sync.py) and rebuilt by `flask --app kmwiki reindex`.
"""
import fcntl
import logging
import os
import shutil
import threading
from pathlib import Path

from flask import current_app
from sqlalchemy import func, select
from whoosh import index as whoosh_index
from whoosh.columns import VarBytesColumn
from whoosh.fields import COLUMN, ID, KEYWORD, STORED, TEXT, Schema
from whoosh.reading import EmptyReader, MultiReader, SegmentReader
from whoosh.searching import Searcher
from whoosh.writing import MERGE_SMALL

from ..extensions import db
from ..models import Entry, HelpfulVote, Revision, Status
from . import analysis, bulkwriter, journal, ranking

log = logging.getLogger(__name__)
# Bump when the schema or the tokens the analyzer makes change: an index under another name is
# then rebuilt at start instead of being searched with terms it does not hold.
INDEX_VERSION = 3
INDEX_NAME = f"entries_v{INDEX_VERSION}"
WRITE_TIMEOUT = 60.0  # seconds a writer waits for another process's lock before giving up
MERGE_AT_SEGMENTS = 8
PARALLEL_FROM = 4000  # entries per process at least: forking costs more than it saves below
_open_lock = threading.Lock()


def schema():
    """Fields: analysed text (title weighted highest), facet keywords, and what search-check compares.

    Only what queries read is indexed: visibility and sort keys live in the card column, so
    author, team, dates and helpful counts are not indexed fields (their tiered numeric terms
    were a quarter of all postings, and postings are what reindexing spends its time on)."""
    text = analysis.analyzer()
    # No positions (phrase=False): queries are OR-grouped terms and snippets are marked by
    # services/search.py, so positions would only double the index and slow every write.
    return Schema(
        id=ID(stored=True, unique=True),
        title=TEXT(analyzer=text, field_boost=3.0, phrase=False),
        tags_text=TEXT(analyzer=text, field_boost=2.0, phrase=False),
        body=TEXT(analyzer=text, phrase=False),
        kind=ID(stored=True),
        product=KEYWORD(commas=True, scorable=False),
        segment=KEYWORD(commas=True, scorable=False),
        tag=KEYWORD(commas=True, scorable=False),
        status=STORED,
        revision=STORED,
        card=COLUMN(VarBytesColumn()),  # what search/ranking.py needs of a hit, read per segment
    )


def index_dir():
    return Path(current_app.instance_path) / "search_index"


def get_index(fill=True):
    """The open index for this process; created, and rebuilt from the database unless fill is
    False (the caller rebuilds it next), when missing, of an older version or corrupt."""
    cache = current_app.extensions.setdefault("kmwiki.search_index", {})
    path = index_dir()
    with _open_lock:
        ix = cache.get(str(path))
        if ix is None:
            ix = _open_or_rebuild(path, fill)
            cache[str(path)] = ix
            # A worker killed after a commit left notes of the index writes it owed: do them now.
            journal.recover(lambda owed: update(ix, owed))
    return ix


_threads = threading.local()


def searcher():
    """This thread's searcher on the index's newest generation. Do not close it.

    Kept while the index is unchanged, and when it has changed the segments that did not keep
    their readers (see _newest_searcher).
    """
    ix = get_index()
    current = getattr(_threads, "searcher", None)
    if current is not None and current._ix is not ix:  # noqa: SLF001 — another app's index: nothing to keep
        current.close()
        current = None
    if current is None or not current.up_to_date():
        _threads.searcher = _newest_searcher(ix, current)
    return _threads.searcher


def _newest_searcher(ix, previous):
    """A searcher on the newest generation that keeps `previous`'s readers of the segments that
    did not change since (same segment, same deletions), and closes the others.

    Every save writes a segment, so under load nearly every search found the index changed, and
    opening a segment reads its term file's directory whatever its size: a fresh searcher took
    5.6 ms with the load run's eleven segments, one keeping the unchanged readers 1.7 ms. Not
    Searcher.refresh(): whoosh-reloaded's reader reuse keeps merged-away segments (their
    documents then count twice), and it reuses a reader whose segment has had documents deleted
    since.
    """
    toc = ix._read_toc()  # noqa: SLF001 — what ix.reader() reads: the generation's segments
    kept = {}
    if previous is not None:
        kept = {reader.segment().segment_id(): reader for reader, _ in previous.ixreader.leaf_readers()
                if reader.segment() is not None}
    readers = []
    for segment in toc.segments:
        old = kept.get(segment.segment_id())
        if old is not None and set(old.segment().deleted_docs()) == set(segment.deleted_docs()):
            readers.append(kept.pop(segment.segment_id()))
        else:
            readers.append(SegmentReader(ix.storage, toc.schema, segment, generation=toc.generation))
    for reader in kept.values():  # merged away, or with deletions since: nothing uses them now
        reader.close()
    # A MultiReader even for one segment: a kept reader still names the generation it was opened in.
    return Searcher(MultiReader(readers, generation=toc.generation) if readers else EmptyReader(toc.schema),
                    fromindex=ix)


def reading(work):
    """work(searcher) on this thread's searcher; once more on a fresh one when a file the searcher
    opens lazily (a segment's columns) was merged away meanwhile: another process's commit deletes
    the files of the segments it merged, and a searcher opened just before still names them."""
    try:
        return work(searcher())
    except FileNotFoundError:
        log.info("a search met a merged-away segment; searching the newest generation instead")
        close_searcher()
        return work(searcher())


def close_searcher():
    """Close this thread's kept searcher (when its app goes away: a test, a finished job)."""
    current = getattr(_threads, "searcher", None)
    if current is not None:
        current.close()
        _threads.searcher = None


def _open_or_rebuild(path, fill):
    path.parent.mkdir(parents=True, exist_ok=True)
    # Workers starting together: one builds a missing index, the others wait and then open it.
    with open(path.parent / "search_index.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if whoosh_index.exists_in(str(path), INDEX_NAME):
                ix = whoosh_index.open_dir(str(path), indexname=INDEX_NAME)
                ix.doc_count()  # reads the segments: a corrupt index fails here
                return ix
            if path.exists():
                log.warning("search index at %s is missing or of an older version; rebuilding it", path)
        except Exception:  # any read failure means corrupt: the database can rebuild it
            log.exception("search index at %s is unreadable; rebuilding it from the database", path)
        shutil.rmtree(path, ignore_errors=True)  # old versions' files and corrupt segments
        path.mkdir(parents=True)
        ix = whoosh_index.create_in(str(path), schema(), indexname=INDEX_NAME)
        if fill:
            rebuild(ix)
        return ix


def writer(ix):
    """A writer that waits for other processes' writes instead of raising LockError at once.

    Segments are written as separate files, not one compound file: Whoosh copies each part of a
    compound file into memory when a searcher opens it (~75 MB per worker at 100,000 entries),
    where separate files are read through the page cache that all workers share."""
    return ix.writer(timeout=WRITE_TIMEOUT, delay=0.05, compound=False)


def documents(entry_ids, connection):
    """Index documents for entries, read with a connection of their own (safe after a commit).

    Each document is the revision readers see (the adopted one once there is one). Returns a dict
    id -> document; ids of deleted entries are absent.
    """
    if not entry_ids:
        return {}
    face = func.coalesce(Entry.published_number, Entry.latest_number)
    rows = connection.execute(
        select(Entry.id, Entry.status, Entry.author_id, Entry.published_number, Entry.updated_at,
               Revision.number, Revision.title, Revision.body, Revision.kind_slug, Revision.products,
               Revision.segments, Revision.tags)
        .join(Revision, (Revision.entry_id == Entry.id) & (Revision.number == face))
        .where(Entry.id.in_(entry_ids))).all()
    helpful = dict(connection.execute(
        select(HelpfulVote.entry_id, func.count()).where(HelpfulVote.entry_id.in_(entry_ids))
        .group_by(HelpfulVote.entry_id)).all())
    return {row.id: _document(row, helpful.get(row.id, 0)) for row in rows}


def _document(row, helpful):
    public = row.published_number is not None and row.status != Status.RETRACTED
    card = ranking.card_bytes(row.id, row.kind_slug, row.products, row.segments, row.tags, public, row.author_id,
                              str(row.status), row.updated_at.timestamp(), helpful)
    return {
        "id": str(row.id), "title": row.title, "body": row.body, "tags_text": " ".join(row.tags),
        "kind": row.kind_slug, "product": ",".join(row.products), "segment": ",".join(row.segments),
        "tag": ",".join(row.tags), "status": str(row.status), "revision": row.number, "card": card,
    }


def update(ix, entry_ids):
    """Write the current state of these entries (or delete them) in one index transaction."""
    with db.engine.connect() as connection:
        docs = documents(sorted(entry_ids), connection)
    w = writer(ix)
    try:
        for entry_id in entry_ids:
            if entry_id in docs:
                w.update_document(**docs[entry_id])
            else:
                w.delete_by_term("id", str(entry_id))
    except BaseException:
        w.cancel()
        raise
    w.commit(mergetype=merge_when_many)


def merge_when_many(writer, segments):
    """Merge small segments only once there are several: a merge on every commit made an entry's
    save wait 100-400 ms at 100,000 entries, where writing one more small segment takes ~40 ms."""
    if len(segments) < MERGE_AT_SEGMENTS:
        return segments
    return MERGE_SMALL(writer, segments)


def entry_count():
    """How many entries the database holds."""
    return db.session.scalar(select(func.count(Entry.id)))


def all_entry_ids(connection):
    return connection.execute(select(Entry.id).order_by(Entry.id)).scalars().all()


def rebuild(ix, progress=None, processes=None):
    """Replace the whole index with documents for every entry; returns how many.

    Up to `processes` (default: one per CPU) build shares of at least PARALLEL_FROM entries side
    by side (search/bulkwriter.py). Entries saved meanwhile, whose own index writes may have timed
    out waiting for the rebuild's lock, are caught up at the end.
    """
    with db.engine.connect() as connection:
        ids = all_entry_ids(connection)
    count = max(1, min(processes or os.cpu_count() or 1, len(ids) // PARALLEL_FROM))
    shares = [ids[k * len(ids) // count:(k + 1) * len(ids) // count] for k in range(count)]
    bulkwriter.build(ix, shares, _fill, progress, timeout=WRITE_TIMEOUT, after_fork=_forget_connections)
    repair(ix)
    return len(ids)


def _fill(writer, ids, progress, batch=500):
    with db.engine.connect() as connection:
        for start in range(0, len(ids), batch):
            chunk = ids[start:start + batch]
            for doc in documents(chunk, connection).values():
                writer.add_document(**doc)
            if progress:
                progress(len(chunk))


def _forget_connections():
    """In a forked process: the pooled connections belong to the parent; open new ones."""
    db.engine.dispose(close=False)


def repair(ix):
    """Reindex what check() finds missing, stale or orphaned; returns those entry ids."""
    wrong = set().union(*check(ix))
    if wrong:
        update(ix, wrong)
    return wrong


def check(ix):
    """Compare the index with the database: (missing, stale, orphaned) entry ids."""
    with db.engine.connect() as connection:
        face = func.coalesce(Entry.published_number, Entry.latest_number)
        truth = {row.id: (row.face, str(row.status)) for row in connection.execute(
            select(Entry.id, face.label("face"), Entry.status))}
    indexed = {}
    with ix.searcher() as searcher:
        for fields in searcher.all_stored_fields():
            indexed[int(fields["id"])] = (fields.get("revision"), fields.get("status"))
    missing = sorted(set(truth) - set(indexed))
    stale = sorted(i for i in set(truth) & set(indexed) if truth[i] != indexed[i])
    orphaned = sorted(set(indexed) - set(truth))
    return missing, stale, orphaned
