"""Who reads which revision (issue 6, data protection): readers not involved in an entry read only its
published revisions — on the revision pages, history, diffs, revert, recent changes and the API — while
its author, admins, reviewers (while it is under review) and whoever wrote or submitted a revision read
it. A draft from before the first adoption may still hold the client's ID and mobile numbers the guards
had the author remove; a rejected edit was never approved."""
import itertools
import re

import pytest
from sqlalchemy import select

from kmwiki.extensions import db
from kmwiki.models import Entry, Revision, User
from kmwiki.services import access, entries

API = "/api/v1"
TITLE = "客户嫌保费贵的应对"
BODIES = {1: "王先生，身份证 11010519491231002X，手机 13800138000，嫌保费贵", 2: "客户嫌保费贵时，先算保障缺口",
          3: "卡罗尔被驳回的改法", 4: "戴夫送审的改法"}
NOTES = {1: "初稿含客户信息", 2: "删去了客户信息", 3: "卡罗尔的改动", 4: "戴夫的改动"}
SCORES = {"accuracy": 4, "usefulness": 4, "clarity": 4, "originality": 4}
PEOPLE = {"alice": ["agent"], "bob": ["agent"], "carol": ["agent"], "dave": ["agent"], "lee": ["leader", "agent"],
          "rita": ["reviewer", "agent"], "root": ["admin"]}


def content(number):
    return {"title": TITLE, "body": BODIES[number], "kind": "objection_handling", "note": NOTES[number]}


def decide(client, api, entry_id, decision):
    response = client.post(f"{API}/entries/{entry_id}/reviews", headers=api("rita"), json={
        "scores": SCORES, "compliance": True, "decision": decision, "comment": "" if decision == "adopt" else "不采纳"})
    assert response.status_code == 201, response.get_json()


def save(client, api, username, entry_id, number, base):
    response = client.put(f"{API}/entries/{entry_id}", headers=api(username), json=dict(content(number),
                                                                                      base_revision=base))
    assert response.status_code == 200 and response.get_json()["revision"] == number, response.get_json()


def submit(client, api, username, entry_id):
    assert client.post(f"{API}/entries/{entry_id}/submit", headers=api(username)).status_code == 200


@pytest.fixture
def browser(make_client):
    """Signed-in browsers, one per user: browser("bob")."""
    opened = {}

    def open_as(username):
        if username not in opened:
            opened[username] = make_client()
            assert opened[username].login(username).status_code == 302
        return opened[username]

    return open_as


@pytest.fixture
def rejected(make_user, client, api):
    """Alice's entry: 1 her draft with client data, 2 the adopted revision, 3 carol's rejected edit."""
    for username, roles in PEOPLE.items():
        make_user(username, roles=roles)
    created = client.post(f"{API}/entries", headers=api("alice"), json=content(1))
    entry_id = created.get_json()["id"]
    save(client, api, "alice", entry_id, 2, 1)
    submit(client, api, "alice", entry_id)
    decide(client, api, entry_id, "adopt")
    save(client, api, "carol", entry_id, 3, 2)
    submit(client, api, "carol", entry_id)
    decide(client, api, entry_id, "reject")
    return entry_id


@pytest.fixture
def pending(rejected, client, api):
    """The same entry with 4, dave's edit, waiting for review; dave reads 2, and his save comes after 3."""
    shown = client.get(f"{API}/entries/{rejected}", headers=api("dave")).get_json()
    assert (shown["shown_revision"], shown["body"], shown["revision"]) == (2, BODIES[2], 3)
    save(client, api, "dave", rejected, 4, 3)
    submit(client, api, "dave", rejected)
    return rejected


def readable(browser, client, api, username, entry_id, numbers):
    """Which of the revision numbers each path lets the user read."""
    page, bearer = browser(username), api(username)

    def status(response):
        assert response.status_code in (200, 404), response.status_code
        return response.status_code == 200

    history = page.get(f"/entries/{entry_id}/history").get_data(as_text=True)
    listed = client.get(f"{API}/entries/{entry_id}/revisions", headers=bearer).get_json()["revisions"]
    recent = page.get("/recent").get_data(as_text=True)
    paths = {
        "page": {n for n in numbers if status(page.get(f"/entries/{entry_id}/revisions/{n}"))},
        "api": {n for n in numbers if status(client.get(f"{API}/entries/{entry_id}?revision={n}", headers=bearer))},
        "history": {int(n) for n in re.findall(rf'href="/entries/{entry_id}/revisions/(\d+)"', history)},
        "api list": {r["number"] for r in listed},
        "recent": {n for n in numbers if NOTES[n] in recent},
    }
    # A diff shows two revisions: it is there only when both are readable.
    diffs = {(a, b) for a, b in itertools.combinations(numbers, 2)
             if status(page.get(f"/entries/{entry_id}/diff?a={a}&b={b}"))}
    assert diffs == set(itertools.combinations(sorted(paths["page"]), 2)), username
    return paths


def assert_reads(browser, client, api, entry_id, latest, expected):
    """Each user reads exactly the expected revisions of 1..latest, on every path."""
    numbers = list(range(1, latest + 1))
    for username, wanted in expected.items():
        for path, got in readable(browser, client, api, username, entry_id, numbers).items():
            assert got == wanted, (username, path, got)


def test_the_draft_before_adoption_and_a_rejected_edit_stay_with_those_involved(rejected, browser, client, api):
    # The reviewer read 3 while she judged it; decided, it is not hers to read any more.
    assert_reads(browser, client, api, rejected, 3, {
        "bob": {2}, "lee": {2}, "rita": {2}, "carol": {2, 3}, "alice": {1, 2, 3}, "root": {1, 2, 3}})


def test_a_pending_edit_is_read_by_its_editor_the_author_reviewers_and_admins(pending, browser, client, api):
    assert_reads(browser, client, api, pending, 4, {
        "bob": {2}, "lee": {2}, "carol": {2, 3}, "dave": {2, 4}, "rita": {1, 2, 3, 4}, "alice": {1, 2, 3, 4},
        "root": {1, 2, 3, 4}})
    # The reviewer judges the pending edit against the adopted revision.
    review = browser("rita").get(f"/review/{pending}").get_data(as_text=True)
    assert re.search(r'class="diff-del">.*?先算保障缺口', review, re.S)
    assert re.search(r'class="diff-add">.*?戴夫送审的改法', review, re.S)


def test_an_older_published_revision_stays_readable_by_everyone(pending, browser, client, api):
    decide(client, api, pending, "adopt")
    assert_reads(browser, client, api, pending, 4, {
        "bob": {2, 4}, "rita": {2, 4}, "carol": {2, 3, 4}, "dave": {2, 4}, "alice": {1, 2, 3, 4}})
    # Recent changes compare a change with the revision before it that the reader may read.
    recent = browser("bob").get("/recent").get_data(as_text=True)
    assert f'href="/entries/{pending}/diff?a=2&amp;b=4"' in recent
    assert f'href="/entries/{pending}/revisions/2"' in recent  # the first revision bob may read
    assert f"/entries/{pending}/diff?a=1" not in recent and f"/entries/{pending}/diff?a=3" not in recent
    # So does the diff page when no revisions are named.
    diff = browser("bob").get(f"/entries/{pending}/diff").get_data(as_text=True)
    assert "先算保障缺口" in diff and "戴夫送审的改法" in diff and "卡罗尔" not in diff


def test_the_entry_page_links_the_waiting_revision_only_for_those_who_may_read_it(pending, browser):
    link = f'href="/entries/{pending}/revisions/4"'
    for username, shown in (("bob", False), ("carol", False), ("dave", True), ("alice", True), ("rita", True),
                            ("root", True)):
        page = browser(username).get(f"/entries/{pending}").get_data(as_text=True)
        assert "有一个更新的版本正在等待审核" in page and BODIES[2] in page, username
        assert (link in page) == shown, username
        assert BODIES[4] not in page and "13800138000" not in page, username


def test_nobody_reverts_to_a_revision_they_may_not_read(rejected, browser, app):
    bob = browser("bob")
    for number in (1, 3):
        assert bob.form_post(f"/entries/{rejected}/revert/{number}", {"base_revision": 3}).status_code == 404
    history = bob.get(f"/entries/{rejected}/history").get_data(as_text=True)
    assert re.findall(rf'action="/entries/{rejected}/revert/(\d+)"', history) == ["2"]
    with app.app_context():
        assert db.session.get(Entry, rejected).latest_number == 3
    # The author reverts to her own draft; so reading it again is hers alone.
    alice = browser("alice")
    assert alice.form_post(f"/entries/{rejected}/revert/1", {"base_revision": 3}).status_code == 302
    assert bob.get(f"/entries/{rejected}/revisions/4").status_code == 404
    assert alice.get(f"/entries/{rejected}/revisions/4").status_code == 200


def test_an_editor_starts_from_the_newest_revision_they_may_read_and_is_told_theirs_comes_after(
        rejected, browser, app):
    bob = browser("bob")
    form = bob.get(f"/entries/{rejected}/edit").get_data(as_text=True)
    assert BODIES[2] in form and BODIES[3] not in form
    assert 'name="base_revision" type="hidden" value="3"' in form  # saves stay in order
    assert "有人在这里保存了尚未发布的修改" in form and "第 2 版" in form
    author_form = browser("alice").get(f"/entries/{rejected}/edit").get_data(as_text=True)
    assert BODIES[3] in author_form and "有人在这里保存了尚未发布的修改" not in author_form
    assert bob.form_post(f"/entries/{rejected}/edit", {
        "title": TITLE, "kind": "objection_handling", "body": "鲍勃从采纳版改起", "base_revision": 3}).status_code == 302
    with app.app_context():
        newest = db.session.scalar(select(Revision).where(Revision.entry_id == rejected, Revision.number == 4))
        assert (newest.body, newest.author.username) == ("鲍勃从采纳版改起", "bob")


def bob_saves_on(bob, entry_id, base):
    return bob.form_post(f"/entries/{entry_id}/edit", {
        "title": TITLE, "kind": "objection_handling", "body": "鲍勃的改法", "base_revision": base})


def test_a_save_meanwhile_that_the_editor_may_not_read_is_a_conflict_that_shows_none_of_it(
        rejected, browser, client, api):
    bob = browser("bob")
    assert 'value="3"' in bob.get(f"/entries/{rejected}/edit").get_data(as_text=True)
    save(client, api, "carol", rejected, 4, 3)  # carol reworks her edit; it is not bob's to read
    response = bob_saves_on(bob, rejected, 3)
    page = response.get_data(as_text=True)
    assert response.status_code == 409 and "鲍勃的改法" in page
    assert BODIES[3] not in page and BODIES[4] not in page and "卡罗尔" not in page
    assert "有人在这里保存了尚未发布的修改" in page and 'name="base_revision" type="hidden" value="4"' in page
    stale = client.put(f"{API}/entries/{rejected}", headers=api("bob"), json=dict(content(2), base_revision=3))
    assert stale.status_code == 409 and BODIES[4] not in stale.get_data(as_text=True)
    assert bob_saves_on(bob, rejected, 4).status_code == 302  # told, he saves after it


def test_an_adoption_while_someone_edits_is_a_conflict_that_shows_the_adopted_change(rejected, browser, client, api):
    bob = browser("bob")
    save(client, api, "carol", rejected, 4, 3)
    submit(client, api, "carol", rejected)
    decide(client, api, rejected, "adopt")
    page = bob_saves_on(bob, rejected, 3).get_data(as_text=True)
    their_change = page.split("您的文本与对方版本的差异")[0]
    assert re.search(r'class="diff-del">.*?先算保障缺口', their_change, re.S)  # from 2, where bob started
    assert re.search(r'class="diff-add">.*?戴夫送审的改法', their_change, re.S)  # to 4, now published
    assert BODIES[3] not in page and "有人在这里保存了尚未发布的修改" not in page


def test_the_python_rule_and_the_sql_filter_agree(pending, app):
    """access.can_view_revision and access.revision_clause are one rule written twice; check every pair."""
    with app.app_context():
        entry = db.session.get(Entry, pending)
        revisions = db.session.scalars(select(Revision).where(Revision.entry_id == pending)).all()
        for user in db.session.scalars(select(User)):
            listed = {r.number for r in entries.history(entry, user)} if access.can_view(entry, user) else set()
            allowed = {r.number for r in revisions if access.can_view_revision(entry, r, user)}
            assert listed == allowed, user.username
