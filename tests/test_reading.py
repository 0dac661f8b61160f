"""Reading over HTTP: table of contents, related entries, bookmarks, comments and the home page."""
import re

from sqlalchemy import func, select

from kmwiki.extensions import db
from kmwiki.models import Bookmark, Comment, Notification, Reason, Status, User, Vocabulary
from kmwiki.services import deferred, points, reading, taxonomy

XSS = "<script>alert(1)</script>"


def page_of(client, url):
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def bookmark_rows(app, user_id=None):
    with app.app_context():
        query = select(func.count()).select_from(Bookmark)
        if user_id is not None:
            query = query.where(Bookmark.user_id == user_id)
        return db.session.scalar(query)


def comments_of(app, entry_id):
    with app.app_context():
        return db.session.scalars(select(Comment).where(Comment.entry_id == entry_id).order_by(Comment.id)).all()


def test_toc_lists_h2_and_h3_with_links_and_escapes_heading_text(client, make_user, make_entry):
    alice = make_user("alice")
    body = f"# 标题一\n\n## 第一步 倾听\n\n文字\n\n### 细节\n\n#### 太深\n\n## {XSS}\n"
    entry_id = make_entry(alice, body=body)
    client.login("alice")
    page = page_of(client, f"/entries/{entry_id}")
    toc = page[page.index('id="toc"'):]
    toc = toc[:toc.index("</nav>")]
    anchors = re.findall(r'href="#(h-[^"]*)"', toc)
    assert anchors[:2] == ["h-第一步-倾听", "h-细节"] and len(anchors) == 3
    for anchor in anchors:
        assert f'id="{anchor}"' in page  # each link goes to a heading of the body
    assert 'class="toc-3"' in toc and "太深" not in toc and "标题一" not in toc
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in toc
    assert 'id="toc-mobile"' in page  # the phone version, a <details> needing no script


def test_entry_without_headings_has_no_toc(client, make_user, make_entry):
    alice = make_user("alice")
    entry_id = make_entry(alice, body="只有一段文字。")
    client.login("alice")
    page = page_of(client, f"/entries/{entry_id}")
    assert 'id="toc"' not in page and 'id="toc-mobile"' not in page


def test_related_entries_are_adopted_visible_ranked_and_exclude_itself(app, client, make_user, make_entry):
    alice, bob = make_user("alice"), make_user("bob")
    me = make_entry(alice, title="本条", status=Status.ADOPTED, products=("medical",), segments=("young_family",),
                    tags=("保费", "异议"))
    best = make_entry(bob, title="最相关", status=Status.ADOPTED, products=("medical",), segments=("young_family",),
                      tags=("保费",))
    some = make_entry(bob, title="有点相关", status=Status.ADOPTED, products=("life",), segments=("retirement",),
                      tags=("异议",))
    make_entry(bob, title="鲍勃的草稿", status=Status.DRAFT, products=("medical",), segments=("young_family",),
               tags=("保费", "异议"))
    make_entry(bob, title="无关", status=Status.ADOPTED, products=("auto",), segments=("single",), tags=("车",))
    client.login("alice")
    page = page_of(client, f"/entries/{me}")
    related = page[page.index('id="related"'):]
    related = related[:related.index("</section>")]
    assert "最相关" in related and "有点相关" in related
    assert related.index("最相关") < related.index("有点相关")
    assert "鲍勃的草稿" not in related and "无关" not in related
    assert f'/entries/{me}"' not in related
    with app.app_context():
        author, kind = db.session.get(User, bob).display_name, taxonomy.category(Vocabulary.KIND, "objection_handling")
        assert f"{kind.name_zh} · {author}" in related  # each related entry's kind and author
    with app.app_context():
        ids = [e.id for e in reading.related(db.session.get(reading.Entry, me))]
        assert ids == [best, some]


def test_related_entries_break_ties_by_helpful_votes(app, client, make_user, make_entry):
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    me = make_entry(alice, title="本条", status=Status.ADOPTED, tags=("保费",))
    quiet = make_entry(bob, title="没人点赞", status=Status.ADOPTED, tags=("保费",))
    liked = make_entry(bob, title="有人点赞", status=Status.ADOPTED, tags=("保费",))
    client.login("carol")
    assert client.form_post(f"/entries/{liked}/helpful").status_code == 302
    client.login("alice")
    page = page_of(client, f"/entries/{me}")
    assert page.index("有人点赞") < page.index("没人点赞")
    assert quiet and carol


def test_related_entries_weigh_the_newest_of_each_shared_classification(app, make_user, make_entry, monkeypatch):
    """With more entries per classification than are weighed, the best overlap among the newest of
    each wins, and an entry sharing everything is still found through its rarest classification."""
    monkeypatch.setattr(reading, "RELATED_CANDIDATES", 3)
    alice, bob = make_user("alice"), make_user("bob")
    old_twin = make_entry(bob, title="早期的同类条目", status=Status.ADOPTED, products=("medical",), tags=("犹豫期",))
    crowd = [make_entry(bob, title=f"同一产品线{n}", status=Status.ADOPTED, products=("medical",), segments=(),
                        tags=("保费",)) for n in range(5)]
    me = make_entry(alice, title="本条", status=Status.ADOPTED, products=("medical",), tags=("犹豫期",))
    with app.app_context():
        found = [e.id for e in reading.related(db.session.get(reading.Entry, me))]
    assert found[0] == old_twin  # shares product and tag: found through the tag's newest entries
    assert set(found[1:]) == set(crowd[-3:])  # the product line's three newest


def test_bookmark_toggle_and_list(app, client, make_user, make_entry):
    alice, bob = make_user("alice"), make_user("bob")
    entry_id = make_entry(bob, title="值得收藏", status=Status.ADOPTED)
    client.login("alice")
    assert 'class="button subtle bookmark-button"' in page_of(client, f"/entries/{entry_id}")
    response = client.form_post(f"/entries/{entry_id}/bookmark")
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/entries/{entry_id}")
    assert bookmark_rows(app, alice) == 1
    assert "is-bookmarked" in page_of(client, f"/entries/{entry_id}")
    assert "值得收藏" in page_of(client, "/me/bookmarks")
    client.form_post(f"/entries/{entry_id}/bookmark")  # toggles off
    assert bookmark_rows(app, alice) == 0
    assert "值得收藏" not in page_of(client, "/me/bookmarks")


def test_double_bookmark_is_one_row(app, client, make_user, make_entry):
    alice, bob = make_user("alice"), make_user("bob")
    entry_id = make_entry(bob, status=Status.ADOPTED)
    client.login("alice")
    for _ in range(2):  # a double-clicked "Bookmark" button sends keep=1 twice
        assert client.form_post(f"/entries/{entry_id}/bookmark", {"keep": "1"}).status_code == 302
    assert bookmark_rows(app) == 1
    response = client.form_post(f"/entries/{entry_id}/bookmark", {"keep": "0", "next": "/me/bookmarks"})
    assert response.headers["Location"].endswith("/me/bookmarks")
    assert bookmark_rows(app) == 0


def test_bookmarking_someone_elses_draft_is_not_found(app, client, make_user, make_entry):
    make_user("alice")
    bob = make_user("bob")
    draft = make_entry(bob, title="鲍勃的草稿")
    client.login("alice")
    assert client.form_post(f"/entries/{draft}/bookmark").status_code == 404
    assert client.form_post("/entries/999/bookmark").status_code == 404
    assert bookmark_rows(app) == 0


def test_bookmark_without_csrf_token_is_refused(app, client, make_user, make_entry):
    make_user("alice")
    entry_id = make_entry(make_user("bob"), status=Status.ADOPTED)
    client.login("alice")
    assert client.post(f"/entries/{entry_id}/bookmark").status_code == 400
    assert bookmark_rows(app) == 0


def test_comments_are_listed_oldest_first_with_author(app, client, make_user, make_entry):
    make_user("alice", display_name="李丽")
    make_user("bob", display_name="王波")
    entry_id = make_entry(make_user("carol"), status=Status.ADOPTED)
    client.login("alice")
    response = client.form_post(f"/entries/{entry_id}/comments", {"body": "第一条\n第二行"})
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/entries/{entry_id}#comments")
    client.login("bob")
    client.form_post(f"/entries/{entry_id}/comments", {"body": "第二条评论"})
    page = page_of(client, f"/entries/{entry_id}")
    comments = page[page.index('id="comments"'):]
    assert comments.index("第一条\n第二行") < comments.index("第二条评论")  # line breaks kept, shown by CSS
    assert "李丽" in comments and "王波" in comments
    assert [c.body for c in comments_of(app, entry_id)] == ["第一条\n第二行", "第二条评论"]


def test_comment_text_is_escaped(client, make_user, make_entry):
    make_user("alice")
    entry_id = make_entry(make_user("bob"), status=Status.ADOPTED)
    client.login("alice")
    client.form_post(f"/entries/{entry_id}/comments", {"body": XSS + ' <img src=x onerror="alert(2)">'})
    page = page_of(client, f"/entries/{entry_id}")
    assert "<script>alert(1)" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_empty_or_too_long_comment_keeps_the_text(app, client, make_user, make_entry):
    make_user("alice")
    entry_id = make_entry(make_user("bob"), status=Status.ADOPTED)
    client.login("alice")
    assert client.form_post(f"/entries/{entry_id}/comments", {"body": "   "}).status_code == 422
    long_text = "长" * 2001
    response = client.form_post(f"/entries/{entry_id}/comments", {"body": long_text})
    assert response.status_code == 422
    assert long_text in response.get_data(as_text=True)
    assert client.form_post(f"/entries/{entry_id}/comments", {"body": "长" * 2000}).status_code == 302
    assert len(comments_of(app, entry_id)) == 1


def test_commenting_on_someone_elses_draft_is_not_found(app, client, make_user, make_entry):
    make_user("alice")
    draft = make_entry(make_user("bob"))
    client.login("alice")
    assert client.form_post(f"/entries/{draft}/comments", {"body": "看不到的"}).status_code == 404
    assert comments_of(app, draft) == []


def test_comment_notifies_the_entry_author(app, client, make_user, make_entry):
    make_user("alice", display_name="李丽")
    bob = make_user("bob")
    entry_id = make_entry(bob, title="鲍勃的经验", status=Status.ADOPTED)
    client.login("alice")
    client.form_post(f"/entries/{entry_id}/comments", {"body": "非常实用，谢谢"})
    with app.app_context():
        notes = db.session.scalars(select(Notification).where(Notification.user_id == bob)).all()
        assert [(n.kind, n.entry_id) for n in notes] == [("comment", entry_id)]
    client.login("bob")
    page = page_of(client, "/notifications")
    assert "李丽" in page and "鲍勃的经验" in page and "非常实用，谢谢" in page
    client.form_post(f"/entries/{entry_id}/comments", {"body": "谢谢反馈"})  # own comment: no notification
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Notification)
                                 .where(Notification.user_id == bob)) == 1


def test_comment_author_and_admin_delete_others_get_403(app, client, make_user, make_entry):
    make_user("alice")
    make_user("bob")
    make_user("root", roles=["admin"])
    entry_id = make_entry(make_user("carol"), status=Status.ADOPTED)
    client.login("alice")
    client.form_post(f"/entries/{entry_id}/comments", {"body": "第一条"})
    client.form_post(f"/entries/{entry_id}/comments", {"body": "第二条"})
    first, second = comments_of(app, entry_id)
    client.login("bob")
    assert client.form_post(f"/entries/{entry_id}/comments/{first.id}/delete").status_code == 403
    assert "comment-delete" not in page_of(client, f"/entries/{entry_id}")
    assert client.form_post(f"/entries/{entry_id}/comments/{first.id}/delete").status_code == 403
    client.login("alice")
    assert client.form_post(f"/entries/{entry_id}/comments/{first.id}/delete").status_code == 302
    client.login("root")
    assert client.form_post(f"/entries/{entry_id}/comments/{second.id}/delete").status_code == 302
    assert all(c.deleted_at is not None for c in comments_of(app, entry_id))
    page = page_of(client, f"/entries/{entry_id}")
    # "此评论已删除" once the catalog holds this message; the English text until then
    deleted_text = "此评论已删除" if "此评论已删除" in page else "This comment has been deleted."
    assert page.count(deleted_text) == 2 and page.count('class="comment comment-deleted"') == 2
    assert "第一条" not in page and "第二条" not in page
    other = make_entry(make_user("dave"), status=Status.ADOPTED)
    assert client.form_post(f"/entries/{other}/comments/{first.id}/delete").status_code == 404


def test_home_page_shows_greeting_points_rank_pending_and_newest(app, client, make_user, make_entry):
    alice = make_user("alice", display_name="李丽")
    bob = make_user("bob", roles=["reviewer", "agent"])
    make_entry(alice, title="我的草稿")
    make_entry(bob, title="新采纳的知识", status=Status.ADOPTED, segments=("retirement",))
    make_entry(alice, title="我的养老客户", status=Status.ADOPTED, segments=("retirement",))
    with app.app_context():
        points.award(alice, 30, Reason.ENTRY_ADOPTED, "test:alice")
        points.award(bob, 50, Reason.ENTRY_ADOPTED, "test:bob")
        db.session.commit()
    client.login("alice")
    page = page_of(client, "/")
    assert "李丽" in page[page.index("<h1>"):page.index("</h1>")]
    assert '<dd class="home-points">30</dd>' in page
    assert "第 2 名" in page or "No. 2 of 2" in page
    assert "我的草稿" in page[page.index('id="pending"'):]
    assert "新采纳的知识" in page[page.index('id="newest"'):]
    for_you = page[page.index('id="for-you"'):]
    assert "新采纳的知识" in for_you and "退休期" in for_you  # alice writes about retirement


def test_home_page_standing_and_review_queue(app, client, make_user, make_entry):
    alice = make_user("alice")
    make_user("rita", roles=["reviewer", "agent"])
    entry_id = make_entry(alice, title="待审条目")
    client.login("alice")
    client.form_post(f"/entries/{entry_id}/submit")
    with app.app_context():
        standing = reading.home_page(db.session.get(User, alice)).standing
    page = page_of(client, "/")
    assert f'<dd class="home-points">{standing.points}</dd>' in page
    assert "待审条目" in page[page.index('id="pending"'):]
    assert "home-queue" not in page  # alice is not a reviewer
    client.login("rita")
    page = page_of(client, "/")
    queue = re.search(r'class="home-queue"><a [^>]*>([^<]*)</a>', page).group(1)
    assert "1" in queue


def test_page_views_are_counted_together(app, client, make_user, make_entry, monkeypatch):
    """Views gather in the process and are written in one transaction when due, or at flush."""
    alice = make_user("alice")
    entry_id = make_entry(alice, title="常看的条目", status=Status.ADOPTED)
    client.login("alice")
    with app.app_context():
        deferred.flush()
        buffer = app.extensions[deferred.EXTENSION]
    monkeypatch.setattr(buffer, "next_flush", float("inf"))  # not due: gathered only
    for _ in range(3):
        assert client.get(f"/entries/{entry_id}").status_code == 200
    with app.app_context():
        assert db.session.get(reading.Entry, entry_id).view_count == 0
        deferred.flush()
        db.session.expire_all()
        assert db.session.get(reading.Entry, entry_id).view_count == 3
    monkeypatch.setattr(buffer, "next_flush", 0.0)  # due: the next view writes
    client.get(f"/entries/{entry_id}")
    with app.app_context():
        assert db.session.get(reading.Entry, entry_id).view_count == 4
