"""Search over HTTP and through the index: Chinese words, visibility, facets, sorting, safety,
index updates after commit only, rebuild, check, and writers in several processes."""
import multiprocessing
import os

import pytest
from sqlalchemy import select, update

from conftest import PASSWORD
from kmwiki import create_app
from kmwiki.extensions import db
from kmwiki.models import Entry, Revision, SearchMiss, Status, User
from kmwiki.search import index
from kmwiki.services import deferred, entries, feedback
from kmwiki.services.entries import EntryInput

pytestmark = pytest.mark.search_index

CASE = "## 客户情况\n\n推荐重疾险给刚成家的王先生，他担心保费太贵。我们先算了家庭保障缺口。"


def api(client, username):
    token = client.post("/api/v1/tokens", json={"username": username, "password": PASSWORD}).get_json()["token"]
    return {"Authorization": f"Bearer {token}"}


def hit_titles(response):
    return [r["title"] for r in response.get_json()["results"]]


def test_a_chinese_word_inside_a_sentence_is_found_and_highlighted(client, make_user, make_entry):
    alice = make_user("alice")
    make_entry(alice, title="年轻家庭的保障规划", body=CASE, status=Status.ADOPTED)
    client.login("alice")
    page = client.get("/search?q=重疾险").get_data(as_text=True)
    assert "年轻家庭的保障规划" in page
    assert "<mark>重疾险</mark>" in page


def test_visibility_is_enforced_inside_the_query(client, make_user, make_entry):
    alice = make_user("alice")
    make_user("bob")
    make_user("rita", roles=["reviewer", "agent"])
    make_user("root", roles=["admin"])
    make_entry(alice, title="公开的重疾险经验", body=CASE, kind="client_case", status=Status.ADOPTED)
    make_entry(alice, title="爱丽丝的重疾险草稿", body=CASE, kind="faq")
    make_entry(alice, title="待审核的重疾险条目", body=CASE, kind="sales_technique", status=Status.PENDING)
    expected = {"alice": 3, "bob": 1, "rita": 2, "root": 3}
    for username, count in expected.items():
        body = client.get("/api/v1/search?q=重疾险", headers=api(client, username)).get_json()
        assert body["total"] == count, username
        assert sum(f["count"] for f in body["facets"]["kind"]) == count, username
        if username == "bob":
            assert hit_titles(client.get("/api/v1/search?q=重疾险", headers=api(client, "bob"))) == ["公开的重疾险经验"]
            assert {f["value"] for f in body["facets"]["kind"]} == {"client_case"}


def test_filters_facets_and_sorting(client, make_user, make_entry, app):
    alice = make_user("alice")
    make_user("bob")
    older = make_entry(alice, title="车险出险流程", body="车险 出险 报案", kind="claims_service", products=["auto"],
                       segments=["general"], tags=["出险"], status=Status.ADOPTED)
    newer = make_entry(alice, title="车险续保话术", body="车险 续保", kind="sales_technique", products=["auto"],
                       segments=["potential"], tags=["续保"], status=Status.ADOPTED)
    with app.app_context():
        feedback.vote_helpful(older, db.session.get(User, 2))
    headers = api(client, "bob")
    body = client.get("/api/v1/search?q=车险", headers=headers).get_json()
    assert body["total"] == 2
    assert {(f["value"], f["count"]) for f in body["facets"]["product"]} == {("auto", 2)}
    assert hit_titles(client.get("/api/v1/search?q=车险&kind=claims_service", headers=headers)) == ["车险出险流程"]
    assert hit_titles(client.get("/api/v1/search?q=车险&tag=续保", headers=headers)) == ["车险续保话术"]
    assert hit_titles(client.get("/api/v1/search?q=车险&sort=newest", headers=headers))[0] == "车险续保话术"
    assert hit_titles(client.get("/api/v1/search?q=车险&sort=helpful", headers=headers))[0] == "车险出险流程"
    assert newer != older


def test_snippets_are_escaped(client, make_user, make_entry):
    alice = make_user("alice")
    make_entry(alice, title="危险的正文", body="重疾险 <script>alert(1)</script> <img src=x onerror=alert(2)>",
               status=Status.ADOPTED)
    client.login("alice")
    page = client.get("/search?q=重疾险").get_data(as_text=True)
    assert "<script>alert(1)" not in page and "onerror=alert(2)>" not in page.replace("&lt;", "")
    snippet = client.get("/api/v1/search?q=重疾险", headers=api(client, "alice")).get_json()["results"][0]["snippet"]
    assert "<script" not in snippet and "<mark>重疾险</mark>" in snippet


@pytest.mark.parametrize("query", ["", "   ", "的 了 吗", "((( AND OR NOT", "\"", "*", "title:", "重疾险" * 200])
def test_odd_queries_get_a_message_never_a_500(client, make_user, query):
    make_user("alice")
    client.login("alice")
    page = client.get("/search", query_string={"q": query})
    assert page.status_code == 200
    response = client.get("/api/v1/search", query_string={"q": query}, headers=api(client, "alice"))
    assert response.status_code in (200, 400)
    if response.status_code == 400:
        assert response.get_json()["error"]["code"] == "empty_query"


def test_empty_query_explains_itself(client, make_user):
    make_user("alice")
    client.login("alice")
    assert "客户说保费太贵怎么办" in client.get("/search?q=").get_data(as_text=True)


def test_questions_that_find_nothing_are_counted_as_gaps(app, make_client, make_user):
    make_user("alice")
    make_user("lee", roles=["leader", "agent"])
    agent, leader = make_client(), make_client()
    agent.login("alice")
    leader.login("lee")
    agent.get("/search?q=火星旅行保险")
    agent.get("/search?q=火星旅行保险 ")
    with app.app_context():
        miss = db.session.scalar(select(SearchMiss))
        assert (miss.query, miss.count) == ("火星旅行保险", 2)
    assert agent.get("/search/gaps").status_code == 403
    assert "火星旅行保险" in leader.get("/search/gaps").get_data(as_text=True)


def test_synonyms_expand_queries(client, make_user, make_entry):
    alice = make_user("alice")
    make_entry(alice, title="重大疾病保险怎么选", body="比较几款重大疾病保险的保障范围", status=Status.ADOPTED)
    assert hit_titles(client.get("/api/v1/search?q=重疾", headers=api(client, "alice"))) == ["重大疾病保险怎么选"]


def test_similar_titles_are_suggested(client, make_user, make_entry):
    alice = make_user("alice")
    make_entry(alice, title="客户说保费太贵怎么办", status=Status.ADOPTED)
    make_entry(alice, title="完全无关的车险条目", body="车险", tags=(), status=Status.ADOPTED)
    body = client.get("/api/v1/entries/similar?title=保费太贵", headers=api(client, "alice")).get_json()
    assert [r["title"] for r in body["results"]] == ["客户说保费太贵怎么办"]


def test_the_index_changes_after_commit_and_never_on_rollback(app, make_user):
    alice = make_user("alice")
    with app.app_context():
        author = db.session.get(User, alice)
        entries.create(EntryInput(title="提交后才进索引", body="正文", kind="faq"), author, status=Status.ADOPTED)
        db.session.add(Entry(title="回滚的条目", kind_id=1, author_id=alice, status=Status.ADOPTED, published_number=1))
        db.session.flush()
        db.session.rollback()
        with index.get_index().searcher() as searcher:
            ids = {int(f["id"]) for f in searcher.all_stored_fields()}
        titles = set(db.session.scalars(select(Entry.title).where(Entry.id.in_(ids))))
        assert titles == {"提交后才进索引"}
        assert index.check(index.get_index()) == ([], [], [])


def test_reading_an_entry_never_writes_the_index(app, client, make_user, make_entry, monkeypatch):
    """The first view of a revision caches its HTML in the database; that is not an index change."""
    alice = make_user("alice")
    entry_id = make_entry(alice, title="只读不写索引", status=Status.ADOPTED)
    with app.app_context():
        db.session.execute(update(Revision).where(Revision.entry_id == entry_id).values(html=None))
        db.session.commit()
    written = []
    monkeypatch.setattr(index, "update", lambda ix, ids: written.append(ids))
    client.login("alice")
    assert client.get(f"/entries/{entry_id}").status_code == 200
    with app.app_context():
        deferred.flush()
        assert db.session.scalar(select(Revision.html).where(Revision.entry_id == entry_id))  # rendered, kept
    assert written == []


def test_edits_of_adopted_entries_keep_the_adopted_text_in_the_index(app, client, make_user, make_entry):
    alice = make_user("alice")
    make_user("bob")
    entry_id = make_entry(alice, title="已采纳的版本", body="原来的内容 犹豫期", status=Status.ADOPTED)
    with app.app_context():
        entries.save_edit(entry_id, EntryInput(title="已采纳的版本", body="新写的内容 宽限期", kind="objection_handling"),
                          1, db.session.get(User, 2))
    headers = api(client, "bob")
    assert hit_titles(client.get("/api/v1/search?q=犹豫期", headers=headers)) == ["已采纳的版本"]
    assert client.get("/api/v1/search?q=宽限期", headers=headers).get_json()["total"] == 0


# Whoosh leaves the corrupt file it failed to read open; that leak is Whoosh's, not ours.
@pytest.mark.filterwarnings("ignore::ResourceWarning", "ignore::pytest.PytestUnraisableExceptionWarning")
def test_missing_and_corrupt_indexes_are_rebuilt(app, make_user, make_entry):
    alice = make_user("alice")
    make_entry(alice, title="重建后仍能找到", status=Status.ADOPTED)
    with app.app_context():
        path = index.index_dir()
        app.extensions.pop("kmwiki.search_index", None)
        for name in os.listdir(path):
            with open(path / name, "wb") as handle:
                handle.write(b"garbage")
        assert index.get_index().doc_count() == 1
        app.extensions.pop("kmwiki.search_index", None)
        for name in os.listdir(path):
            os.remove(path / name)
        assert index.get_index().doc_count() == 1


def test_reindex_and_search_check_commands(app, make_user, make_entry):
    alice = make_user("alice")
    entry_id = make_entry(alice, status=Status.ADOPTED)
    runner = app.test_cli_runner()
    assert runner.invoke(args=["search-check"]).exit_code == 0
    with app.app_context():  # a change the index never heard of (written with SQL, no commit hook)
        db.session.execute(update(Entry).where(Entry.id == entry_id).values(status=Status.RETRACTED))
        db.session.execute(update(Revision).where(Revision.entry_id == entry_id).values(title="x"))
        db.session.commit()
    result = runner.invoke(args=["search-check"])
    assert result.exit_code == 1 and "stale: 1" in result.output
    assert runner.invoke(args=["search-check", "--repair"]).exit_code == 0
    assert runner.invoke(args=["search-check"]).exit_code == 0
    result = runner.invoke(args=["reindex"])
    assert result.exit_code == 0 and "Indexed 1 entries" in result.output


def _create_entries(database_url, instance, worker, count):
    os.environ["KMWIKI_INSTANCE_PATH"] = instance
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": "x",
                      "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"})
    with app.app_context():
        author = db.session.get(User, 1)
        for n in range(count):
            entries.create(EntryInput(title=f"进程{worker}的条目{n}", body="并发写入 索引", kind="faq"), author,
                           status=Status.ADOPTED)
        db.engine.dispose()


def test_writers_in_several_processes_lose_no_update(app, make_user):
    make_user("alice")
    with app.app_context():
        index.get_index()  # created before the workers start, as `make run` does
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_create_entries, args=(app.config["SQLALCHEMY_DATABASE_URI"],
                                                             app.instance_path, w, 8)) for w in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    with app.app_context():
        app.extensions.pop("kmwiki.search_index", None)
        ix = index.get_index()
        assert ix.doc_count() == 24
        assert index.check(ix) == ([], [], [])


def test_a_search_that_meets_merged_away_files_runs_again_on_a_fresh_searcher(app, make_user, make_entry):
    """Another worker's commit deletes the files of segments it merged; a searcher opened just before
    names them and fails when it opens one lazily (seen under load: a segment's card column). The
    search then runs once more on the newest generation instead of answering 500."""
    make_entry(make_user("alice"), title="犹豫期是什么", status=Status.ADOPTED)
    used = []

    def search_once(searcher):
        used.append(searcher)
        if len(used) == 1:
            raise FileNotFoundError(2, "No such file or directory", "entries_v3_merged.card.col")
        return searcher.doc_count()

    with app.app_context():
        assert index.reading(search_once) == 1
        assert len(used) == 2 and used[0] is not used[1]
        with pytest.raises(FileNotFoundError):  # twice in a row is not a merge race: it is reported
            index.reading(lambda searcher: open("/nonexistent/kmwiki"))

