"""The site's header and footer (templates/_chrome/, personal.chrome): rendered once per process for
each language and set of roles, then filled with each reader's own parts. Nothing of one reader may
reach another, and what a reader typed is escaped."""
import re

from kmwiki.extensions import db
from kmwiki.models import User
from kmwiki.services import activity, users

CSRF_VALUE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
SEARCH_BOX = re.compile(r'<input id="nav-q"[^>]*value="([^"]*)"')
NEXT = re.compile(r'<input type="hidden" name="next" value="([^"]*)"')


def test_each_reader_gets_their_own_name_bell_token_and_links(app, make_client, make_user):
    make_user("alice", display_name="王阿丽")
    bob_id = make_user("bob", roles=["agent", "reviewer"], display_name="李波")
    with app.app_context():
        activity.notify([bob_id], "comment")
        activity.notify([bob_id], "comment")
        db.session.commit()
    clients = {name: make_client() for name in ("alice", "bob", "alice again")}
    clients["alice"].login("alice")
    clients["bob"].login("bob")
    clients["alice again"].login("alice")
    pages = {name: client.get("/leaderboard").get_data(as_text=True) for name, client in clients.items()}

    for name in ("alice", "alice again"):
        assert "王阿丽" in pages[name] and "李波" not in pages[name]
        assert 'href="/review"' not in pages[name] and "bell-count" not in pages[name]
    assert "李波" in pages["bob"] and "王阿丽" not in pages["bob"]
    assert 'href="/review"' in pages["bob"] and '<span class="bell-count" aria-label="2 条未读">2</span>' in pages["bob"]
    for name, client in clients.items():
        assert {t.split(".")[0] for t in CSRF_VALUE.findall(pages[name])} == {client.csrf_token().split(".")[0]}
        assert "<!--personal-" not in pages[name]


def test_the_search_box_and_language_switch_hold_this_request_escaped(make_client, make_user):
    make_user("alice")
    client = make_client()
    client.login("alice")
    question = '"><script>alert(1)</script>'
    html = client.get("/search", query_string={"q": question}).get_data(as_text=True)
    assert SEARCH_BOX.search(html)[1] == "&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"
    assert "<script>alert(1)" not in html
    assert NEXT.search(html)[1].startswith("/search?q=%22%3E%3Cscript")
    other = client.get("/leaderboard?period=week").get_data(as_text=True)
    assert SEARCH_BOX.search(other)[1] == ""  # the question belongs to the results page only
    assert NEXT.search(other)[1] == "/leaderboard?period=week"


def test_the_header_follows_a_role_change_and_the_language(app, make_client, make_user):
    alice_id = make_user("alice", display_name="王阿丽")
    admin_id = make_user("root", roles=["admin"])
    client = make_client()
    client.login("alice")
    assert 'href="/review"' not in client.get("/leaderboard").get_data(as_text=True)
    with app.app_context():
        alice, admin = db.session.get(User, alice_id), db.session.get(User, admin_id)
        users.update_user(alice, admin, "王阿丽", ["agent", "reviewer"], None, True)
    html = client.get("/leaderboard").get_data(as_text=True)
    assert 'href="/review"' in html and "退出登录" in html
    with app.app_context():
        users.set_locale(db.session.get(User, alice_id), "en")
    english = client.get("/leaderboard").get_data(as_text=True)
    assert "Sign out" in english and "退出登录" not in english and 'href="/review"' in english
    assert 'value="en" class="link-button active"' in english
