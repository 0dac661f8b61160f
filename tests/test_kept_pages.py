"""Entry pages kept for every worker (kmwiki/pages.py): served by all of them, and rendered again
exactly when what the page shows changed — the entry, what links to it, a name, the code — or
after SHARED_PAGE_MAX_AGE for the related panel."""
import re
import time
from pathlib import Path

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from conftest import entry_page as page
from kmwiki import pages, personal
from kmwiki.extensions import db
from kmwiki.models import Entry, Role, Status, User
from kmwiki.services import entries, review, users
from kmwiki.services.entries import EntryInput

CSRF_VALUE = re.compile(r'(name="csrf_token"[^>]*value=")[^"]+(")')
TOKENS = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
VIEWS = re.compile(r"浏览 \d+ 次")


@pytest.fixture
def people(app, make_user, make_client):
    """alice writes; bob and carol read (carol through another worker); root is an admin."""
    alice = make_user("alice", display_name="王阿丽")
    make_user("bob")
    make_user("root", roles=("admin",))
    bob = make_client()
    bob.login("bob")
    return alice, bob


def worker_client(worker, username):
    client = worker.test_client()
    client.login(username)
    return client


def adopt(app, author_id, title, body="正文", related=True):
    """An adopted entry; related ones share a product line and a tag."""
    with app.app_context():
        author = db.session.get(User, author_id)
        return entries.create(EntryInput(title=title, body=body, kind="faq", products=["medical"] if related else [],
                                         segments=[], tags=["共享"] if related else []), author,
                              status=Status.ADOPTED).id


def linked_from(html):
    return html[html.index('class="panel linked-from"'):html.index("</section>", html.index('class="panel linked-from"'))]


def edit_and_publish(app, entry_id, author_id, **changes):
    """Save a new revision with these fields changed and make it the face (as an adoption does)."""
    with app.app_context():
        entry, author = db.session.get(Entry, entry_id), db.session.get(User, author_id)
        latest = entries.revision(entry, entry.latest_number)
        data = EntryInput.from_revision(latest, "改一改")
        for name, value in changes.items():
            setattr(data, name, value)
        saved = entries.save_edit(entry_id, data, entry.latest_number, author)
        entries.publish(entry_id, saved.number)


def test_a_page_kept_by_one_worker_is_served_by_another(app, people, other_worker, make_user, renders):
    alice, bob = people
    make_user("carol")
    entry_id = adopt(app, alice, "两个进程共用的页面")
    page(bob, entry_id)
    assert renders == ["shared"]
    carols = page(worker_client(other_worker, "carol"), entry_id)
    assert renders == ["shared"]  # the other worker read the file the first one kept
    assert "两个进程共用的页面" in carols and "carol" in carols and "<!--personal-" not in carols


def test_a_new_face_is_served_at_once(app, people, renders):
    alice, bob = people
    entry_id = adopt(app, alice, "会改的条目", body="第一版的说法")
    assert "第一版的说法" in page(bob, entry_id)
    edit_and_publish(app, entry_id, alice, body="第二版的说法")
    html = page(bob, entry_id)
    assert "第二版的说法" in html and "第一版的说法" not in html
    assert renders == ["shared", "shared"]


def test_linked_from_follows_links_made_and_removed(app, people, renders):
    alice, bob = people
    target = adopt(app, alice, "犹豫期是什么")
    assert "回访要点" not in linked_from(page(bob, target))
    source = adopt(app, alice, "回访要点", body="提醒客户 [[犹豫期是什么]]。", related=False)
    assert "回访要点" in linked_from(page(bob, target))
    edit_and_publish(app, source, alice, title="回访要点（新版）")
    assert "回访要点（新版）" in linked_from(page(bob, target))
    edit_and_publish(app, source, alice, body="不再链接了。")
    assert "回访要点" not in linked_from(page(bob, target))
    assert renders == ["shared"] * 4


def test_linked_from_would_be_stale_without_raising_the_targets(app, people, monkeypatch):
    """The test above is not vacuous: without the raise after the commit, the kept page stays."""
    alice, bob = people
    target = adopt(app, alice, "犹豫期是什么")
    page(bob, target)
    event.remove(Session, "after_commit", pages._raise_linked)
    try:
        adopt(app, alice, "回访要点", body="提醒客户 [[犹豫期是什么]]。", related=False)
    finally:
        event.listen(Session, "after_commit", pages._raise_linked)
    assert "回访要点" not in linked_from(page(bob, target))


def test_a_retraction_leaves_no_page_showing_the_entry(app, people, make_client, renders):
    alice, bob = people
    entry_id = adopt(app, alice, "本条")
    adopt(app, alice, "将被撤回的条目")
    assert "将被撤回的条目" in page(bob, entry_id)  # in the related panel
    with app.app_context():
        root = db.session.scalar(select(User).where(User.username == "root"))
        retracted = db.session.scalar(select(Entry.id).where(Entry.title == "将被撤回的条目"))
        review.retract(retracted, root, "含有过时的费率")
    assert "将被撤回的条目" not in page(bob, entry_id)
    assert renders == ["shared", "shared"]


def test_the_related_panel_is_at_most_max_age_old(app, people, renders):
    alice, bob = people
    entry_id = adopt(app, alice, "本条")
    page(bob, entry_id)
    adopt(app, alice, "后来采纳的相关条目")
    assert "后来采纳的相关条目" not in page(bob, entry_id)  # another entry's adoption leaves the page
    app.config["SHARED_PAGE_MAX_AGE"] = 0
    assert "后来采纳的相关条目" in page(bob, entry_id)
    assert renders == ["shared", "shared"]


def test_pages_of_other_code_are_not_served(app, people, monkeypatch, renders):
    alice, bob = people
    entry_id = adopt(app, alice, "本条")
    page(bob, entry_id)
    monkeypatch.setattr(pages, "fingerprint", lambda: "another-release")
    page(bob, entry_id)
    assert renders == ["shared", "shared"]


def test_a_damaged_file_is_rendered_again(app, people, renders):
    alice, bob = people
    entry_id = adopt(app, alice, "本条")
    page(bob, entry_id)
    kept = list((Path(app.instance_path) / pages.FOLDER).rglob(f"{entry_id}.html"))
    assert len(kept) == 1
    kept[0].write_bytes(b"not a header")
    assert "本条" in page(bob, entry_id)
    assert renders == ["shared", "shared"]


def test_warming_renders_the_page_a_reader_would_have_rendered(app, people, renders):
    alice, bob = people
    entry_id = adopt(app, alice, "预先渲染的条目", body="## 要点\n\n先倾听。")
    result = app.test_cli_runner().invoke(args=["pages", "warm", "--roles", "agent", "--processes", "1"])
    assert result.exit_code == 0, result.output
    assert "Rendered 1 pages" in result.output
    warmed = page(bob, entry_id)
    assert renders == ["shared"]  # rendered by the command, for a stand-in agent; bob's view is a hit
    with app.app_context():
        pages.clear()
    rendered_for_bob = page(bob, entry_id)
    assert renders == ["shared", "shared"]
    def without_tokens_and_counts(html):
        return VIEWS.sub("", CSRF_VALUE.sub(r"\1\2", html))
    assert without_tokens_and_counts(warmed) == without_tokens_and_counts(rendered_for_bob)
    again = app.test_cli_runner().invoke(args=["pages", "warm", "--roles", "agent", "--processes", "1"])
    assert "Rendered 0 pages; 1 were kept and current." in again.output


def test_warming_refuses_administrators_and_unknown_roles(app):
    runner = app.test_cli_runner()
    assert "never shared" in runner.invoke(args=["pages", "warm", "--roles", "admin"]).output
    assert "unknown role" in runner.invoke(args=["pages", "warm", "--roles", "agent,boss"]).output
    assert "unknown language" in runner.invoke(args=["pages", "warm", "--locale", "fr"]).output


def test_page_versions_move_in_the_changing_transaction_only(app, make_user):
    alice = make_user("alice")
    target = adopt(app, alice, "犹豫期是什么")
    with app.app_context():
        version = db.session.get(Entry, target).page_version
        author = db.session.get(User, alice)
        entries.create(EntryInput(title="草稿", body="见 [[犹豫期是什么]]", kind="faq", products=[], segments=[],
                                  tags=[]), author)
        assert db.session.get(Entry, target).page_version == version  # a draft links to nothing yet
        entry = db.session.get(Entry, target)
        entry.title = "改了但没有保存"
        db.session.rollback()
        assert db.session.get(Entry, target).page_version == version
    adopt(app, alice, "回访要点", body="提醒客户 [[犹豫期是什么]]。")
    with app.app_context():
        assert db.session.get(Entry, target).page_version == version + 1


def test_the_commonest_role_set_is_warmed_by_default(app, make_user):
    for name in ("a1", "a2"):
        make_user(name)
    make_user("r1", roles=(Role.AGENT, Role.REVIEWER))
    with app.app_context():
        assert users.commonest_role_set() == ("agent",)


def test_parts_rendered_once_carry_each_entrys_own_links_and_token(app, people):
    """The reader's parts are rendered once per form with stand-ins (kmwiki/personal.py _kept)."""
    alice, bob = people
    first, second = adopt(app, alice, "第一篇"), adopt(app, alice, "第二篇")
    page(bob, first)
    html = page(bob, second)
    for action in ("bookmark", "helpful", "comments"):
        assert f'action="/entries/{second}/{action}"' in html and f'action="/entries/{first}/{action}"' not in html
    assert str(personal.ENTRY_STAND_IN) not in html and personal.TOKEN_STAND_IN not in html
    tokens = {token.split(".")[0] for token in TOKENS.findall(html)}
    assert tokens == {bob.csrf_token().split(".")[0]}


def test_a_session_token_is_signed_once_unless_tokens_expire(app, people, make_entry):
    """personal.form_token: a token without a time limit is valid however old its signature."""
    alice, bob = people
    entry_id = adopt(app, alice, "本条")
    first = TOKENS.findall(page(bob, entry_id))
    time.sleep(1.1)  # signatures carry the second they were made
    second = TOKENS.findall(page(bob, entry_id))
    assert set(first) == set(second) and len(set(first)) == 1
    assert bob.post(f"/entries/{entry_id}/helpful", data={"csrf_token": first[0]}).status_code == 302
    app.config["WTF_CSRF_TIME_LIMIT"] = 3600  # expiring tokens are signed for each page
    third = TOKENS.findall(page(bob, entry_id))
    assert set(third).isdisjoint(first)
