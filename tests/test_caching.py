"""What readers share (kmwiki/caching.py): rendered once per process, and rendered again in every
process after content changes anywhere."""
import pytest
from sqlalchemy import select

from kmwiki import caching, pages
from kmwiki.extensions import db
from kmwiki.models import Category, Status, SynonymGroup, User, Vocabulary
from kmwiki.services import entries, review, synonyms, taxonomy
from kmwiki.services.entries import EntryInput

pytestmark = pytest.mark.search_index  # the commit hook that moves the stamp is the index's


def related_panel(client, entry_id):
    page = client.get(f"/entries/{entry_id}").get_data(as_text=True)
    return page[page.index('id="related"'):page.index("</section>", page.index('id="related"'))]


def adopt_new(worker, author_id, title):
    with worker.app_context():
        author = db.session.get(User, author_id)
        entries.create(EntryInput(title=title, body="正文", kind="faq", products=["medical"], segments=[],
                                  tags=["共享"]), author, status=Status.ADOPTED)


def test_the_related_panel_is_rendered_again_after_a_change_in_another_worker(app, client, make_user, make_entry,
                                                                              other_worker, monkeypatch):
    alice = make_user("alice")
    me = make_entry(alice, title="本条", status=Status.ADOPTED, products=("medical",), tags=("共享",))
    make_entry(alice, title="第一篇相关", status=Status.ADOPTED, products=("medical",), tags=("共享",))
    client.login("alice")
    assert "第一篇相关" in related_panel(client, me)

    rendered = []
    monkeypatch.setattr(caching.SharedCache, "get", counting(caching.SharedCache.get, rendered))
    related_panel(client, me)
    assert rendered == [False]  # kept: not rendered again

    adopt_new(other_worker, alice, "另一个进程里采纳的")
    assert "另一个进程里采纳的" in related_panel(client, me)
    assert rendered[-1] is True


def test_without_the_stamp_the_panel_would_stay_stale(app, client, make_user, make_entry, other_worker, monkeypatch):
    """The check above is not vacuous: with the stamp frozen, the kept panel is served."""
    alice = make_user("alice")
    me = make_entry(alice, title="本条", status=Status.ADOPTED, products=("medical",), tags=("共享",))
    make_entry(alice, title="第一篇相关", status=Status.ADOPTED, products=("medical",), tags=("共享",))
    client.login("alice")
    related_panel(client, me)
    monkeypatch.setattr(caching, "content_changed", lambda: None)
    adopt_new(other_worker, alice, "另一个进程里采纳的")
    assert "另一个进程里采纳的" not in related_panel(client, me)


def test_the_cache_is_bounded(app, monkeypatch):
    monkeypatch.setattr(caching, "MAX_ITEMS", 3)
    with app.app_context():
        for n in range(5):
            caching.remembered(("k", n), lambda n=n: n)
        assert list(caching.shared().items) == [("k", 2), ("k", 3), ("k", 4)]


def counting(get, calls):
    """Wrap SharedCache.get to record whether each call computed its value."""
    def wrapped(self, key, compute):
        computed = []
        value = get(self, key, lambda: computed.append(True) or compute())
        calls.append(bool(computed))
        return value
    return wrapped


def test_saving_drafts_leaves_what_readers_share_alone(app, make_user, make_entry):
    """Only public content is shared, so only changes to entries that are or were public move the stamp."""
    alice = make_user("alice")
    with app.app_context():
        before = caching.shared().current_stamp()
    draft = make_entry(alice, title="还在写的草稿")
    with app.app_context():
        assert caching.shared().current_stamp() == before
    make_entry(alice, title="直接采纳的", status=Status.ADOPTED)
    with app.app_context():
        assert caching.shared().current_stamp() != before
    assert draft


def test_popular_tags_lag_adoptions_by_at_most_their_age_and_drop_a_withdrawn_entry_at_once(
        app, make_user, make_entry, other_worker, monkeypatch):
    alice = make_user("alice")
    make_user("root", roles=["admin"])
    first = make_entry(alice, title="第一篇", status=Status.ADOPTED, tags=("理赔",))
    with app.app_context():
        assert entries.popular_tags() == [("理赔", 1)]
    adopt_new(other_worker, alice, "第二篇")  # tagged 共享, in another worker
    with app.app_context():
        assert entries.popular_tags() == [("理赔", 1)]  # kept: not counted again for every adoption
        started = caching.time.monotonic()
        monkeypatch.setattr(caching.time, "monotonic", lambda: started + entries.POPULAR_TAGS_MAX_AGE + 1)
        assert sorted(entries.popular_tags()) == [("共享", 1), ("理赔", 1)]
    with other_worker.app_context():
        review.retract(first, db.session.scalar(select(User).where(User.username == "root")), "内容有误")
    with app.app_context():
        assert entries.popular_tags() == [("共享", 1)]  # at once: the page generation moved


def kind_picker(client):
    page = client.get("/entries/new").get_data(as_text=True)
    return page[page.index('id="kind-picker"'):page.index("</fieldset>", page.index('id="kind-picker"'))]


def test_category_lists_are_kept_and_follow_changes_made_in_another_worker(app, client, make_user, other_worker,
                                                                          monkeypatch):
    make_user("alice")
    client.login("alice")
    assert "常见问答" in kind_picker(client)
    queried = []
    monkeypatch.setattr(taxonomy, "_category_rows", counting_calls(taxonomy._category_rows, queried))
    kind_picker(client)
    assert queried == []  # kept: no query

    with other_worker.app_context():
        db.session.add(Category(vocabulary=Vocabulary.KIND, slug="training", name_zh="培训心得", name_en="Training",
                                position=99))
        db.session.commit()
    assert "培训心得" in kind_picker(client)
    with other_worker.app_context():
        db.session.scalar(select(Category).where(Category.slug == "training")).name_zh = "新人培训"
        db.session.commit()
    picker = kind_picker(client)
    assert "新人培训" in picker and "培训心得" not in picker
    with other_worker.app_context():
        db.session.delete(db.session.scalar(select(Category).where(Category.slug == "training")))
        db.session.commit()
    assert "新人培训" not in kind_picker(client)
    assert [vocabulary for vocabulary, in queried].count(Vocabulary.KIND) == 3  # once per change


def counting_calls(function, calls):
    def wrapped(*args):
        calls.append(args)
        return function(*args)
    return wrapped


def test_synonym_groups_are_kept_and_a_change_in_another_worker_applies_to_the_next_search(
        app, client, make_user, make_entry, other_worker):
    alice = make_user("alice")
    make_entry(alice, title="冷静期内退保", body="合同生效后十五天内退保，退还全部保费。", status=Status.ADOPTED)
    client.login("alice")
    assert "冷静期内退保" not in client.get("/search?q=撤单规则").get_data(as_text=True)
    with app.app_context():
        generation = pages.generation()
    with other_worker.app_context():
        synonyms.add_group("冷静期,撤单", db.session.get(User, alice))
    assert "冷静期内退保" in client.get("/search?q=撤单规则").get_data(as_text=True)
    with other_worker.app_context():
        group = db.session.scalar(select(SynonymGroup).where(SynonymGroup.words == "冷静期,撤单"))
        synonyms.update_group(group.id, "冷静期,反悔期", db.session.get(User, alice))
    assert "冷静期内退保" not in client.get("/search?q=撤单规则").get_data(as_text=True)
    assert "冷静期内退保" in client.get("/search?q=反悔期规则").get_data(as_text=True)
    with app.app_context():
        assert pages.generation() == generation  # entry pages do not show synonyms: they stay kept
