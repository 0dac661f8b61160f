"""Search in the pages: similar-entry suggestions in the editor, the synonyms admin, and the
knowledge-gap link on the dashboard."""
import re

import pytest
from sqlalchemy import select

from kmwiki.errors import Invalid
from kmwiki.extensions import db
from kmwiki.models import AuditEvent, Status, SynonymGroup
from kmwiki.services import search, synonyms

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)


def groups(app):
    with app.app_context():
        return {g.id: g.words for g in db.session.scalars(select(SynonymGroup))}


def audit_events(app, action):
    with app.app_context():
        return [e.details for e in db.session.scalars(select(AuditEvent).where(AuditEvent.action == action))]


def group_id(app, words):
    with app.app_context():
        return db.session.scalar(select(SynonymGroup.id).where(SynonymGroup.words == words))


# Similar entries while a title is typed


def test_similar_needs_a_signed_in_user(client):
    response = client.get("/search/similar?title=保费太贵")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


@pytest.mark.search_index
def test_similar_suggests_adopted_entries_only(client, make_user, make_entry):
    alice = make_user("alice")
    bob = make_user("bob")
    make_user("carol")
    adopted = make_entry(alice, title="客户说保费太贵怎么办", status=Status.ADOPTED)
    make_entry(bob, title="保费太贵时的三句话术")  # bob's private draft
    make_entry(alice, title="保费太贵的新说法", status=Status.PENDING)
    make_entry(alice, title="完全无关的车险条目", body="车险", tags=(), status=Status.ADOPTED)
    client.login("carol")
    response = client.get("/search/similar?title=保费太贵", headers={"Accept": "application/json"})
    assert response.status_code == 200
    assert response.get_json() == {"similar": [{"id": adopted, "title": "客户说保费太贵怎么办",
                                                "url": f"/entries/{adopted}"}]}


@pytest.mark.search_index
def test_similar_never_shows_drafts_even_to_their_author(client, make_user, make_entry):
    bob = make_user("bob")
    make_entry(bob, title="保费太贵时的三句话术")
    client.login("bob")
    assert client.get("/search/similar?title=保费太贵").get_json() == {"similar": []}


@pytest.mark.search_index
def test_similar_with_an_empty_or_unknown_title_is_empty(client, make_user, make_entry):
    alice = make_user("alice")
    make_entry(alice, status=Status.ADOPTED)
    client.login("alice")
    for title in ("", "   ", "的", "火星旅行"):
        assert client.get("/search/similar", query_string={"title": title}).get_json() == {"similar": []}


def test_new_entry_page_loads_the_suggestion_script_without_inline_script(client, make_user):
    make_user("alice")
    client.login("alice")
    response = client.get("/entries/new")
    page = response.get_data(as_text=True)
    assert '<script src="/static/js/similar.js" defer></script>' in page
    assert not INLINE_SCRIPT.search(page)
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    region = re.search(r'<div id="similar-entries"[^>]*>', page).group()
    assert 'aria-live="polite"' in region and 'aria-label="类似的已采纳条目"' in region
    assert 'data-similar-url="/search/similar"' in region and 'data-similar-for="title"' in region
    assert "类似的已采纳条目 — 考虑完善它们而不是重复撰写" in page  # in the <template> the script clones
    with client.get("/static/js/similar.js") as script:
        assert script.status_code == 200 and "javascript" in script.headers["Content-Type"]
        body = script.get_data(as_text=True)
    assert "textContent" in body and "innerHTML" not in body


def test_editing_an_existing_entry_shows_no_suggestions(client, make_user, make_entry):
    alice = make_user("alice")
    entry_id = make_entry(alice)
    client.login("alice")
    page = client.get(f"/entries/{entry_id}/edit").get_data(as_text=True)
    assert "similar.js" not in page and "similar-entries" not in page


# The synonyms admin


@pytest.mark.parametrize("roles", [["agent"], ["reviewer", "agent"], ["leader", "agent"]])
def test_only_admins_reach_the_synonyms_pages(app, client, make_user, roles):
    make_user("someone", roles=roles)
    client.login("someone")
    before = groups(app)
    some_id = next(iter(before))
    assert client.get("/admin/synonyms").status_code == 403
    assert client.form_post("/admin/synonyms", {"words": "甲方,乙方"}).status_code == 403
    assert client.get(f"/admin/synonyms/{some_id}").status_code == 403
    assert client.form_post(f"/admin/synonyms/{some_id}", {"words": "甲方,乙方"}).status_code == 403
    assert client.form_post(f"/admin/synonyms/{some_id}/delete").status_code == 403
    assert groups(app) == before


def test_anonymous_is_sent_to_login_from_synonyms(client):
    assert client.get("/admin/synonyms").headers["Location"].startswith("/login")


def test_admin_lists_the_seeded_groups_and_the_tab(client, make_user):
    make_user("root", roles=["admin"])
    client.login("root")
    page = client.get("/admin/synonyms").get_data(as_text=True)
    assert '<a href="/admin/synonyms" aria-current="page" class="active">同义词</a>' in page
    assert "重大疾病保险" in page and "无需重建索引" in page
    assert f"共 {len(search.DEFAULT_SYNONYMS)} 组" in page


def test_admin_adds_edits_and_deletes_a_group_and_each_change_is_audited(app, client, make_user):
    make_user("root", roles=["admin"])
    client.login("root")
    response = client.form_post("/admin/synonyms", {"words": " 退保， 解约 、退保 , 解除合同 "})
    assert response.status_code == 302 and response.headers["Location"] == "/admin/synonyms"
    added = group_id(app, "退保,解约,解除合同")
    assert added
    assert "已添加同义词：退保, 解约, 解除合同" in client.get("/admin/synonyms").get_data(as_text=True)
    assert audit_events(app, "synonym_group_added") == [{"group_id": added, "words": "退保,解约,解除合同"}]

    edit_page = client.get(f"/admin/synonyms/{added}").get_data(as_text=True)
    assert 'value="退保, 解约, 解除合同"' in edit_page
    assert client.form_post(f"/admin/synonyms/{added}", {"words": "退保,解约,撤销合同"}).status_code == 302
    assert groups(app)[added] == "退保,解约,撤销合同"
    assert audit_events(app, "synonym_group_changed") == [
        {"group_id": added, "old": "退保,解约,解除合同", "new": "退保,解约,撤销合同"}]
    client.form_post(f"/admin/synonyms/{added}", {"words": "退保, 解约, 撤销合同"})  # no change: no event
    assert len(audit_events(app, "synonym_group_changed")) == 1

    assert client.form_post(f"/admin/synonyms/{added}/delete").status_code == 302
    assert added not in groups(app)
    assert audit_events(app, "synonym_group_deleted") == [{"group_id": added, "words": "退保,解约,撤销合同"}]
    assert client.get(f"/admin/synonyms/{added}").status_code == 404


@pytest.mark.parametrize("typed, message", [
    ("退保", "请至少输入两个不同的词"),
    ("退保, 退保 ,", "请至少输入两个不同的词"),
    ("冷静期，犹豫期", "已经有一组完全相同的同义词了"),  # the seeded 犹豫期,冷静期 in another order
    ("退保, " + "解" * 41, "每个词最多 40 个字符"),
    ("退保, 的", "里没有可搜索的内容"),
    (", ".join(f"词语{i:03d}" for i in range(80)), "最多 400 个字符"),
])
def test_invalid_groups_are_refused_with_the_typed_text_kept(app, client, make_user, typed, message):
    make_user("root", roles=["admin"])
    client.login("root")
    before = groups(app)
    response = client.form_post("/admin/synonyms", {"words": typed})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert message in page and 'aria-invalid="true"' in page
    assert re.search(r'<input[^>]*name="words"[^>]*>', page).group().count(typed.replace("'", "&#39;")) == 1
    assert groups(app) == before
    assert audit_events(app, "synonym_group_added") == []


def test_an_edit_may_not_duplicate_another_group(app, client, make_user):
    make_user("root", roles=["admin"])
    client.login("root")
    target = group_id(app, "犹豫期,冷静期")
    response = client.form_post(f"/admin/synonyms/{target}", {"words": "万能保险, 万能险, 万能型"})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "已经有一组完全相同的同义词了" in page and "万能保险, 万能险, 万能型" in page
    assert groups(app)[target] == "犹豫期,冷静期"


def test_a_synonym_delete_without_the_csrf_token_fails(app, client, make_user):
    make_user("root", roles=["admin"])
    client.login("root")
    target = group_id(app, "犹豫期,冷静期")
    assert client.post(f"/admin/synonyms/{target}/delete").status_code == 400
    assert target in groups(app)


@pytest.mark.search_index
def test_a_new_synonym_group_changes_search_results_without_a_reindex(client, make_user, make_entry):
    alice = make_user("alice")
    make_user("root", roles=["admin"])
    make_entry(alice, title="年金险可以趸交吗", body="趸交就是投保时把保费一笔交清。", tags=("缴费方式",),
               status=Status.ADOPTED)
    client.login("root")
    assert "年金险可以趸交吗" not in client.get("/search?q=一次付清").get_data(as_text=True)
    client.form_post("/admin/synonyms", {"words": "趸交,一次付清"})
    assert "年金险可以趸交吗" in client.get("/search?q=一次付清").get_data(as_text=True)


def test_the_service_refuses_a_group_longer_than_its_column(app):
    words = ",".join(f"词语{i:03d}" for i in range(80))
    with app.app_context(), pytest.raises(Invalid) as refused:
        synonyms.validated(words)
    assert "400" in str(refused.value.fields["words"][0])


# The dashboard


def test_dashboard_links_to_the_knowledge_gaps(client, make_user):
    make_user("lee", roles=["leader"])
    client.login("lee")
    page = client.get("/dashboard").get_data(as_text=True)
    assert '<a href="/search/gaps">搜索无结果的问题（知识缺口）</a>' in page
    assert client.get("/search/gaps").status_code == 200

