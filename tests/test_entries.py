"""Entry pages over HTTP: create, read, edit, conflicts, history, diff, revert, browse, links, drafts."""
import re

from sqlalchemy import select

from conftest import entry_form
from kmwiki.extensions import db
from kmwiki.models import Entry, EntryLink, Revision, Status
from kmwiki.services import deferred


def entry_id_from(response):
    return int(re.search(r"/entries/(\d+)$", response.headers["Location"]).group(1))


def revisions_of(app, entry_id):
    with app.app_context():
        return db.session.scalars(select(Revision).where(Revision.entry_id == entry_id).order_by(Revision.number)).all()


def test_agent_creates_a_draft(app, client, make_user):
    make_user("alice")
    client.login("alice")
    response = client.form_post("/entries/new", entry_form())
    assert response.status_code == 302
    entry_id = entry_id_from(response)
    with app.app_context():
        entry = db.session.get(Entry, entry_id)
        assert entry.status == Status.DRAFT
        assert entry.kind.slug == "sales_technique"
        assert [c.slug for c in entry.products] == ["life"]
        assert [t.name for t in entry.tags] == ["开场白", "电话邀约"]
        assert entry.latest_number == 1 and entry.published_number is None
    page = client.get(f"/entries/{entry_id}").get_data(as_text=True)
    assert '<h2 id="h-开场">开场</h2>' in page
    assert "草稿" in page


def test_invalid_entry_keeps_everything_typed(client, make_user):
    make_user("alice")
    client.login("alice")
    response = client.form_post("/entries/new", entry_form(title="", kind="no_such_kind", body="我写了很长的一段经验"))
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "我写了很长的一段经验" in page
    assert "电话邀约, 开场白" in page
    assert "请填写标题" in page or "此项为必填项" in page


def test_unknown_product_is_a_field_error(client, make_user):
    make_user("alice")
    client.login("alice")
    response = client.form_post("/entries/new", entry_form(products=["spaceship"]))
    assert response.status_code == 422
    assert "spaceship" in response.get_data(as_text=True)


def test_edit_makes_a_new_revision_and_history_shows_both(app, client, make_user, make_entry):
    alice = make_user("alice")
    entry_id = make_entry(alice)
    client.login("alice")
    response = client.form_post(f"/entries/{entry_id}/edit",
                                entry_form(body="第二版内容", note="补充", base_revision=1))
    assert response.status_code == 302
    revisions = revisions_of(app, entry_id)
    assert [(r.number, r.body, r.note) for r in revisions][1] == (2, "第二版内容", "补充")
    history = client.get(f"/entries/{entry_id}/history").get_data(as_text=True)
    assert "#1" in history and "#2" in history and "补充" in history


def test_saving_unchanged_content_adds_no_revision(app, client, make_user, make_entry):
    alice = make_user("alice")
    entry_id = make_entry(alice, title="T", body="B", kind="faq", products=(), segments=(), tags=())
    client.login("alice")
    client.form_post(f"/entries/{entry_id}/edit", {"title": "T", "body": "B", "kind": "faq", "base_revision": 1})
    assert len(revisions_of(app, entry_id)) == 1


def test_stale_save_shows_conflict_and_keeps_text(app, make_client, make_user, make_entry):
    """The author reads every revision of her entry, so another editor's unpublished save is a conflict
    for her (an editor who may not read a revision builds on the newest they may: test_revision_access)."""
    alice = make_user("alice")
    entry_id = make_entry(alice, status=Status.ADOPTED, body="原文第一行\n原文第二行")
    make_user("bob")
    first, second = make_client(), make_client()
    first.login("bob")
    second.login("alice")
    assert first.form_post(f"/entries/{entry_id}/edit",
                           entry_form(body="原文第一行\n鲍勃改的第二行", base_revision=1)).status_code == 302
    response = second.form_post(f"/entries/{entry_id}/edit",
                                entry_form(body="爱丽丝自己的长篇修改，千万不能丢", base_revision=1))
    page = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "爱丽丝自己的长篇修改，千万不能丢" in page
    assert "鲍勃改的第二行" in page
    assert 'name="base_revision" type="hidden" value="2"' in page
    assert len(revisions_of(app, entry_id)) == 2
    # Saving again from the conflict page, now based on revision 2, succeeds.
    assert second.form_post(f"/entries/{entry_id}/edit",
                            entry_form(body="合并后的内容", base_revision=2)).status_code == 302
    assert revisions_of(app, entry_id)[-1].body == "合并后的内容"


def test_diff_between_revisions(client, make_user, make_entry):
    alice = make_user("alice")
    entry_id = make_entry(alice, body="第一行\n第二行")
    client.login("alice")
    client.form_post(f"/entries/{entry_id}/edit", entry_form(body="第一行\n改过的第二行", base_revision=1))
    page = client.get(f"/entries/{entry_id}/diff?a=1&b=2").get_data(as_text=True)
    assert re.search(r'class="diff-del">.*?第二行', page, re.S)
    assert re.search(r'class="diff-add">.*?改过的第二行', page, re.S)
    assert "电话邀约的开场白" in page  # the title change is listed too


def test_diff_escapes_revision_text(client, make_user, make_entry):
    alice = make_user("alice")
    entry_id = make_entry(alice, body="安全")
    client.login("alice")
    client.form_post(f"/entries/{entry_id}/edit", entry_form(body="<script>alert(1)</script>", base_revision=1))
    page = client.get(f"/entries/{entry_id}/diff?a=1&b=2").get_data(as_text=True)
    assert "<script>alert(1)" not in page
    assert "&lt;script&gt;alert(1)" in page


def test_revert_creates_a_new_revision_with_old_content(app, client, make_user, make_entry):
    alice = make_user("alice")
    entry_id = make_entry(alice, body="最初的内容")
    client.login("alice")
    client.form_post(f"/entries/{entry_id}/edit", entry_form(body="改坏了", base_revision=1))
    response = client.form_post(f"/entries/{entry_id}/revert/1", {"base_revision": 2})
    assert response.status_code == 302
    revisions = revisions_of(app, entry_id)
    assert [r.number for r in revisions] == [1, 2, 3]
    assert revisions[-1].body == "最初的内容"
    assert revisions[-1].title == "客户说保费太贵怎么办"


def test_stale_revert_is_refused(app, client, make_user, make_entry):
    alice = make_user("alice")
    entry_id = make_entry(alice)
    client.login("alice")
    client.form_post(f"/entries/{entry_id}/edit", entry_form(base_revision=1))
    response = client.form_post(f"/entries/{entry_id}/revert/1", {"base_revision": 1})
    assert response.status_code == 302 and response.headers["Location"].endswith("/history")
    assert len(revisions_of(app, entry_id)) == 2


def test_draft_is_private_to_its_author_and_admins(make_client, make_user, make_entry):
    alice = make_user("alice")
    make_user("bob")
    make_user("rita", roles=["reviewer", "agent"])
    make_user("root", roles=["admin"])
    entry_id = make_entry(alice, title="我的私人草稿")
    for username, expected in (("alice", 200), ("bob", 404), ("rita", 404), ("root", 200)):
        browser = make_client()
        browser.login(username)
        for path in (f"/entries/{entry_id}", f"/entries/{entry_id}/history", f"/entries/{entry_id}/revisions/1",
                     f"/entries/{entry_id}/diff?a=1&b=1"):
            assert browser.get(path).status_code == expected, (username, path)
        listing = browser.get("/entries").get_data(as_text=True) + browser.get("/recent").get_data(as_text=True)
        assert ("我的私人草稿" in listing) == (expected == 200), username


def test_only_the_author_edits_a_draft(make_client, make_user, make_entry):
    alice = make_user("alice")
    make_user("root", roles=["admin"])
    entry_id = make_entry(alice)
    admin = make_client()
    admin.login("root")
    assert admin.get(f"/entries/{entry_id}/edit").status_code == 403
    assert admin.form_post(f"/entries/{entry_id}/edit", entry_form(base_revision=1)).status_code == 403


def test_any_agent_edits_adopted_knowledge_but_readers_keep_the_adopted_text(app, make_client, make_user, make_entry):
    alice = make_user("alice")
    make_user("bob")
    make_user("carol")
    entry_id = make_entry(alice, status=Status.ADOPTED, body="已采纳的原文")
    bob = make_client()
    bob.login("bob")
    assert bob.form_post(f"/entries/{entry_id}/edit", entry_form(body="鲍勃的修改建议", base_revision=1)).status_code == 302
    carol = make_client()
    carol.login("carol")
    page = carol.get(f"/entries/{entry_id}").get_data(as_text=True)
    assert "已采纳的原文" in page and "鲍勃的修改建议" not in page
    assert "客户说保费太贵怎么办" in page  # the title stays the adopted one too
    with app.app_context():
        entry = db.session.get(Entry, entry_id)
        assert (entry.published_number, entry.latest_number) == (1, 2)


def test_leader_without_agent_role_can_still_write(client, make_user):
    make_user("lee", roles=["leader"])
    client.login("lee")
    assert client.form_post("/entries/new", entry_form()).status_code == 302


def test_admin_only_account_cannot_write_entries(client, make_user):
    make_user("root", roles=["admin"])
    client.login("root")
    assert client.get("/entries/new").status_code == 403
    assert client.form_post("/entries/new", entry_form()).status_code == 403


def test_browse_filters_by_kind_product_segment_and_tag(client, make_user, make_entry):
    alice = make_user("alice")
    make_entry(alice, title="重疾险家庭案例", kind="client_case", products=["critical_illness"],
               segments=["young_family"], tags=["家庭保障"], status=Status.ADOPTED)
    make_entry(alice, title="车险出险流程", kind="claims_service", products=["auto"],
               segments=["general"], tags=["出险"], status=Status.ADOPTED)
    client.login("alice")

    def titles(query):
        page = client.get(f"/entries?{query}").get_data(as_text=True)
        return {t for t in ("重疾险家庭案例", "车险出险流程") if f">{t}</a>" in page}

    assert titles("") == {"重疾险家庭案例", "车险出险流程"}
    assert titles("kind=client_case") == {"重疾险家庭案例"}
    assert titles("product=auto") == {"车险出险流程"}
    assert titles("segment=young_family") == {"重疾险家庭案例"}
    assert titles("tag=出险") == {"车险出险流程"}
    assert titles("kind=client_case&product=auto") == set()


def test_recent_changes_lists_new_revisions(client, make_user, make_entry):
    alice = make_user("alice")
    make_entry(alice, title="最新的经验", status=Status.ADOPTED)
    client.login("alice")
    assert "最新的经验" in client.get("/recent").get_data(as_text=True)


def test_wiki_links_resolve_and_show_linked_from(app, client, make_user, make_entry):
    alice = make_user("alice")
    target = make_entry(alice, title="犹豫期是什么", status=Status.ADOPTED)
    source = make_entry(alice, title="新单回访要点", body="回访时提醒客户 [[犹豫期是什么]] 和 [[还没写的条目]]。",
                        status=Status.ADOPTED)
    client.login("alice")
    page = client.get(f"/entries/{source}").get_data(as_text=True)
    assert 'href="/wiki/%E7%8A%B9%E8%B1%AB%E6%9C%9F%E6%98%AF%E4%BB%80%E4%B9%88"' in page
    response = client.get("/wiki/犹豫期是什么")
    assert response.status_code == 302 and response.headers["Location"] == f"/entries/{target}"
    missing = client.get("/wiki/还没写的条目")
    assert missing.status_code == 404 and "/entries/new?title=" in missing.get_data(as_text=True)
    assert "新单回访要点" in client.get(f"/entries/{target}").get_data(as_text=True)
    with app.app_context():
        assert {l.target_title for l in db.session.scalars(select(EntryLink))} == {"犹豫期是什么", "还没写的条目"}


def test_linked_from_hides_private_drafts(make_client, make_user, make_entry):
    alice = make_user("alice")
    make_user("bob")
    target = make_entry(alice, title="犹豫期是什么", status=Status.ADOPTED)
    make_entry(alice, title="秘密草稿", body="见 [[犹豫期是什么]]")
    bob = make_client()
    bob.login("bob")
    assert "秘密草稿" not in bob.get(f"/entries/{target}").get_data(as_text=True)


def test_view_counts_and_table_of_contents(app, client, make_user, make_entry):
    alice = make_user("alice")
    entry_id = make_entry(alice, body="## 第一步\n\n倾听\n\n## 第二步\n\n算账", status=Status.ADOPTED)
    client.login("alice")
    client.get(f"/entries/{entry_id}")
    page = client.get(f"/entries/{entry_id}").get_data(as_text=True)
    assert 'href="#h-第一步"' in page and 'href="#h-第二步"' in page
    with app.app_context():
        deferred.flush()  # counts are written every few seconds (test_reading tests when)
        assert db.session.get(Entry, entry_id).view_count == 2


def test_missing_entry_is_a_404_page(client, make_user):
    make_user("alice")
    client.login("alice")
    response = client.get("/entries/999")
    assert response.status_code == 404
    assert "text/html" in response.content_type


def test_home_shows_own_drafts_and_new_knowledge(client, make_user, make_entry):
    alice = make_user("alice", display_name="李丽")
    make_entry(alice, title="我的草稿甲")
    make_entry(alice, title="已采纳的经验乙", status=Status.ADOPTED)
    client.login("alice")
    page = client.get("/").get_data(as_text=True)
    assert "李丽" in page and "我的草稿甲" in page and "已采纳的经验乙" in page


def test_ticking_the_same_products_in_another_order_is_no_change(app, client, make_user, make_entry):
    alice = make_user("alice")
    entry_id = make_entry(alice, title="T", body="B", kind="faq", products=("annuity", "medical"), segments=(), tags=())
    client.login("alice")
    client.form_post(f"/entries/{entry_id}/edit", {"title": "T", "body": "B", "kind": "faq",
                                                   "products": ["medical", "annuity"], "base_revision": 1})
    assert len(revisions_of(app, entry_id)) == 1
    assert revisions_of(app, entry_id)[0].products == ["medical", "annuity"]  # stored in display order


def test_diff_names_changed_categories_in_the_readers_language(client, make_user, make_entry):
    alice = make_user("alice")
    entry_id = make_entry(alice, kind="faq", products=("medical",))
    client.login("alice")
    client.form_post(f"/entries/{entry_id}/edit", entry_form(kind="client_case", products=["auto"], base_revision=1))
    page = client.get(f"/entries/{entry_id}/diff?a=1&b=2").get_data(as_text=True)
    assert "常见问答" in page and "客户案例" in page and "医疗险" in page and "车险" in page


def test_rendered_html_is_cached_per_revision_and_refreshed_for_a_new_renderer(app, client, make_user, make_entry):
    alice = make_user("alice")
    entry_id = make_entry(alice, body="**要点**")
    with app.app_context():
        revision = db.session.scalar(select(Revision).where(Revision.entry_id == entry_id))
        assert revision.html == "<p><strong>要点</strong></p>"  # rendered once, at save time
        revision.html, revision.html_version = "<p>旧渲染器的缓存</p>", 0
        db.session.commit()
    client.login("alice")
    page = client.get(f"/entries/{entry_id}").get_data(as_text=True)
    assert "<strong>要点</strong>" in page and "旧渲染器的缓存" not in page
    with app.app_context():
        deferred.flush()  # the new rendering is stored with the next batch of deferred writes
        revision = db.session.scalar(select(Revision).where(Revision.entry_id == entry_id))
        assert revision.html == "<p><strong>要点</strong></p>" and revision.html_version > 0
