"""The entry page that most readers share (blueprints/entries.py view, kmwiki/personal.py):
rendered once per process, then filled in with each reader's own parts."""
import re

import pytest

from conftest import entry_page as page
from kmwiki.extensions import db
from kmwiki.models import Status, User
from kmwiki.services import deferred

CSRF_VALUE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


@pytest.fixture
def readers(make_client, make_user, make_entry):
    """An adopted entry by alice, and signed-in clients for bob and carol."""
    alice = make_user("alice", display_name="王阿丽")
    make_user("bob", display_name="李波")
    make_user("carol", display_name="张卡罗")
    entry_id = make_entry(alice, title="共享的条目", body="先倾听，再算保障缺口。", status=Status.ADOPTED)
    clients = {}
    for name in ("alice", "bob", "carol"):
        clients[name] = make_client()
        clients[name].login(name)
    return entry_id, clients


def test_readers_share_one_rendering_and_see_only_their_own_parts(readers, renders):
    entry_id, clients = readers
    bob, carol = clients["bob"], clients["carol"]
    bookmarked = bob.form_post(f"/entries/{entry_id}/bookmark", {"keep": "1"}, follow_redirects=True)
    assert "已收藏" in bookmarked.get_data(as_text=True)  # a message to show: rendered for bob alone
    renders.clear()

    bobs, carols = page(bob, entry_id), page(carol, entry_id)
    assert renders == ["shared"]  # carol was served bob's rendering, filled in for her
    assert "李波" in bobs and "张卡罗" not in bobs
    assert "张卡罗" in carols and "李波" not in carols
    assert "is-bookmarked" in bobs and "is-bookmarked" not in carols
    assert "<!--personal-" not in bobs + carols
    # Each page holds its reader's own session token; signed tokens carry the second they were made,
    # so the unsigned part is what must match.
    for client, html in ((bob, bobs), (carol, carols)):
        assert {token.split(".")[0] for token in CSRF_VALUE.findall(html)} == {client.csrf_token().split(".")[0]}
    vote = carol.post(f"/entries/{entry_id}/helpful", data={"csrf_token": CSRF_VALUE.findall(carols)[0]})
    assert vote.status_code == 302  # the token filled into the shared page is carol's and works


def test_the_author_is_not_served_the_readers_page(readers, renders):
    entry_id, clients = readers
    assert "有帮助" in page(clients["bob"], entry_id)  # bob may vote
    authors = page(clients["alice"], entry_id)
    assert renders == ["shared", "own"]
    assert "王阿丽" in authors and 'action="/entries/%d/helpful"' % entry_id not in authors  # no voting for oneself


def test_names_are_escaped_when_filled_in(make_client, make_user, make_entry, renders):
    alice = make_user("alice")
    make_user("bob")
    make_user("mallory", display_name='<script>alert("x")</script>')
    entry_id = make_entry(alice, status=Status.ADOPTED)
    bob, mallory = make_client(), make_client()
    bob.login("bob")
    mallory.login("mallory")
    page(bob, entry_id)
    html = page(mallory, entry_id)
    assert renders == ["shared"]  # mallory's name went into bob's rendering
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html and "<script>alert" not in html


def test_comments_and_counts_are_current_for_every_reader(app, readers, renders):
    entry_id, clients = readers
    bob, carol = clients["bob"], clients["carol"]
    page(bob, entry_id)
    carol.form_post(f"/entries/{entry_id}/comments", {"body": "这个方法很管用"})
    page(carol, entry_id)  # shows "comment posted": her own rendering
    with app.app_context():
        deferred.flush()
    bobs, carols = page(bob, entry_id), page(carol, entry_id)
    assert renders == ["shared", "own"]  # a comment leaves the shared page alone
    assert "这个方法很管用" in bobs and "这个方法很管用" in carols
    assert "comment-delete" in carols and "comment-delete" not in bobs  # only its writer may delete it
    assert "浏览 2 次" in bobs  # bob once and carol once before the flush (views are written every few seconds)


def test_renaming_the_author_renders_the_shared_page_again(app, readers):
    entry_id, clients = readers
    assert "王阿丽" in page(clients["bob"], entry_id)
    with app.app_context():
        db.session.get(User, 1).display_name = "王丽丽"
        db.session.commit()
    html = page(clients["carol"], entry_id)
    assert "王丽丽" in html and "王阿丽" not in html
