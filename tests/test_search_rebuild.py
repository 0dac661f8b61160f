"""The fast rebuild: the bulk writer writes the same index Whoosh's own writer does, shares built in
forked processes make one index, a failing or killed process leaves the old index untouched, and
entries saved during a rebuild are caught up."""
import os
import signal

import pytest
from sqlalchemy import select, update
from whoosh import index as whoosh_index

from kmwiki.extensions import db
from kmwiki.models import Entry, Revision, Status, User
from kmwiki.search import bulkwriter, index, ranking
from kmwiki.services import entries
from kmwiki.services.entries import EntryInput

TOPICS = ["重疾险的等待期", "医疗险报销比例", "年金险现金价值", "犹豫期退保", "保单贷款利率", "客户说保费太贵"]


def add_entries(app, make_user, count):
    author = make_user("alice")
    with app.app_context():
        user = db.session.get(User, author)
        for n in range(count):
            entries.create(EntryInput(title=f"{TOPICS[n % len(TOPICS)]}（第{n}篇）",
                                      body=f"{TOPICS[(n + 1) % len(TOPICS)]}。claims handling note {n}",
                                      kind="faq", products=["medical"], segments=[], tags=[f"标签{n % 3}"]),
                           user, status=Status.ADOPTED)


def postings(ix):
    """Every (field, term) -> [(entry id, weight)] and every entry's stored fields and lengths."""
    terms, stored = {}, {}
    with ix.searcher() as searcher:
        for leaf, offset in searcher.leaf_searchers():
            reader = leaf.reader()
            ids = {docnum: int(fields["id"]) for docnum, fields in reader.iter_docs()}
            for name in ("title", "tags_text", "body", "kind", "product", "tag"):
                for term in reader.lexicon(name):
                    matcher = reader.postings(name, term)
                    terms.setdefault((name, term), []).extend(
                        (ids[docnum], weight) for docnum, weight in zip(matcher.all_ids(), _weights(reader, name, term)))
            for docnum, entry_id in ids.items():
                stored[entry_id] = (reader.stored_fields(docnum),
                                    tuple(reader.doc_field_length(docnum, n) for n in ranking.FIELD_BOOSTS))
    return {key: sorted(value) for key, value in terms.items()}, stored


def _weights(reader, name, term):
    matcher = reader.postings(name, term)
    weights = []
    while matcher.is_active():
        weights.append(matcher.weight())
        matcher.next()
    return weights


def whoosh_rebuild(ix):
    """The index as Whoosh's own SegmentWriter writes it, for comparison."""
    with db.engine.connect() as connection:
        docs = index.documents(index.all_entry_ids(connection), connection)
    writer = ix.writer()
    for doc in docs.values():
        writer.add_document(**doc)
    writer.commit(optimize=True)


def test_the_bulk_writer_writes_what_whoosh_writes(app, make_user, tmp_path):
    add_entries(app, make_user, 40)
    with app.app_context():
        bulk = index.get_index()
        index.rebuild(bulk, processes=1)
        (tmp_path / "plain").mkdir()
        plain = whoosh_index.create_in(str(tmp_path / "plain"), index.schema(), indexname=index.INDEX_NAME)
        whoosh_rebuild(plain)
        bulk_terms, bulk_stored = postings(bulk)
        plain_terms, plain_stored = postings(plain)
    assert len(bulk_stored) == 40
    assert bulk_terms == plain_terms
    assert bulk_stored == plain_stored


@pytest.mark.search_index
def test_shares_built_in_several_processes_make_one_index(app, make_user, client, monkeypatch):
    monkeypatch.setattr(index, "PARALLEL_FROM", 10)
    add_entries(app, make_user, 36)
    with app.app_context():
        ix = index.get_index()
        single_terms, single_stored = postings(ix)  # written entry by entry, after each commit
        assert index.rebuild(ix, processes=3) == 36
        ix = index.get_index()
        assert len(ix._segments()) == 3  # noqa: SLF001 — one per share, nothing of the old index
        assert index.check(ix) == ([], [], [])
        parallel_terms, parallel_stored = postings(ix)
    assert parallel_terms == single_terms
    assert parallel_stored == single_stored
    client.login("alice")
    results = client.get("/search?q=保单贷款").get_data(as_text=True)
    assert results.count("保单贷款利率（第") == 6


def in_forked_processes(action):
    """A fill that does `action` in forked processes and the real work in this one."""
    parent = os.getpid()

    def fill(writer, ids, progress):
        if os.getpid() != parent:
            action()
        index._fill(writer, ids, progress)  # noqa: SLF001

    return fill


def disk_full():
    raise OSError("disk full")


def killed():
    os.kill(os.getpid(), signal.SIGKILL)


@pytest.mark.parametrize("action, message", [(disk_full, "disk full"), (killed, "died")])
def test_a_failing_or_killed_process_leaves_the_old_index(app, make_user, action, message):
    add_entries(app, make_user, 12)
    with app.app_context():
        ix = index.get_index()
        index.rebuild(ix)
        before = postings(ix)
        ids = index.all_entry_ids(db.session.connection())
        with pytest.raises(RuntimeError, match=message):
            bulkwriter.build(ix, [ids[:6], ids[6:]], in_forked_processes(action),
                             after_fork=index._forget_connections)  # noqa: SLF001
        assert postings(index.get_index()) == before
        index.rebuild(ix, processes=2)  # the lock was released: the next rebuild works
        assert index.check(ix) == ([], [], [])


def test_entries_changed_during_a_rebuild_are_caught_up(app, make_user, monkeypatch):
    add_entries(app, make_user, 8)
    real_fill = index._fill  # noqa: SLF001

    def fill_then_edit(writer, ids, progress):
        real_fill(writer, ids, progress)
        # Saved while the rebuild holds the lock, its own index write given up on (as after a timeout).
        with db.engine.begin() as connection:
            connection.execute(update(Revision).where(Revision.entry_id == ids[0]).values(title="改过的标题"))
            connection.execute(update(Entry).where(Entry.id == ids[0]).values(status=Status.RETRACTED))

    monkeypatch.setattr(index, "_fill", fill_then_edit)
    with app.app_context():
        ix = index.get_index()
        index.rebuild(ix)
        assert index.check(ix) == ([], [], [])
        first = db.session.scalar(select(Entry.id).order_by(Entry.id))
        with ix.searcher() as searcher:
            assert searcher.document(id=str(first))["status"] == "retracted"
