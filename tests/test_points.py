"""The points ledger (DESIGN §4): helpful votes and their daily cap in the configured time zone,
retraction with reversing rows, point rules as data, and a user's own points."""
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select, update

from kmwiki.extensions import db
from kmwiki.models import AuditEvent, Category, Entry, HelpfulVote, Notification, PointAward, PointRule, Status, User
from kmwiki.models.base import utcnow
from kmwiki.services import feedback, points, review
from kmwiki.services.review import ReviewInput

API = "/api/v1"
SCORES = {"accuracy": 5, "usefulness": 4, "clarity": 4, "originality": 3}  # mean 4


# --- helpers --------------------------------------------------------------------------------------


def ledger_rows(app):
    """Every ledger row with all its columns, in insertion order."""
    with app.app_context():
        rows = db.session.execute(select(PointAward.id, User.username, PointAward.amount, PointAward.reason,
                                         PointAward.cause, PointAward.entry_id, PointAward.created_at)
                                  .join(User, PointAward.user_id == User.id).order_by(PointAward.id)).all()
        return [tuple(row) for row in rows]


def total_of(app, username):
    with app.app_context():
        user_id = db.session.scalar(select(User.id).where(User.username == username))
        return points.total(user_id)


def helpful_rows(app, receiver_id):
    with app.app_context():
        return db.session.scalars(select(PointAward.cause).where(PointAward.user_id == receiver_id,
                                                                 PointAward.reason == "helpful")
                                  .order_by(PointAward.id)).all()


def vote_count(app, entry_id):
    with app.app_context():
        return db.session.scalar(select(db.func.count()).where(HelpfulVote.entry_id == entry_id))


def set_rule(app, key, value):
    """Change a point rule's row: the rules are data."""
    with app.app_context():
        db.session.execute(update(PointRule).where(PointRule.key == key).values(value=value))
        db.session.commit()


@pytest.fixture
def adopted_by_review(app, make_entry, make_user):
    """An entry written by `author_id`, submitted and adopted by a reviewer through the services."""
    reviewer_ids = {}

    def factory(author_id, reviewer="rita", scores=SCORES, **fields):
        if reviewer not in reviewer_ids:
            reviewer_ids[reviewer] = make_user(reviewer, roles=["reviewer", "agent"])
        entry_id = make_entry(author_id, **fields)
        with app.app_context():
            review.submit(entry_id, db.session.get(User, author_id))
            review.decide(entry_id, ReviewInput(scores=dict(scores), compliance=True, decision="adopt"),
                          db.session.get(User, reviewer_ids[reviewer]))
        return entry_id

    return factory


# --- helpful votes --------------------------------------------------------------------------------


def test_helpful_vote_pays_the_author_one_point_once_per_voter(app, client, make_user, make_entry, api):
    alice = make_user("alice")
    make_user("bob")
    make_user("carol")
    entry_id = make_entry(alice, status=Status.ADOPTED)
    first = client.post(f"{API}/entries/{entry_id}/helpful", headers=api("bob"))
    assert first.status_code == 201 and first.get_json() == {"helpful_count": 1}
    again = client.post(f"{API}/entries/{entry_id}/helpful", headers=api("bob"))
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "already_voted"
    assert client.post(f"{API}/entries/{entry_id}/helpful", headers=api("carol")).get_json() == {"helpful_count": 2}
    assert vote_count(app, entry_id) == 2
    assert [(r[1], r[2], r[3], r[5]) for r in ledger_rows(app)] == [("alice", 1, "helpful", entry_id)] * 2
    assert client.get(f"{API}/entries/{entry_id}", headers=api("carol")).get_json()["helpful_count"] == 2


def test_helpful_vote_through_the_page_counts_once(app, make_client, make_user, make_entry):
    alice = make_user("alice")
    make_user("bob")
    entry_id = make_entry(alice, status=Status.ADOPTED)
    bob = make_client()
    bob.login("bob")
    assert bob.form_post(f"/entries/{entry_id}/helpful").status_code == 302
    repeated = bob.form_post(f"/entries/{entry_id}/helpful")
    assert repeated.status_code in (302, 409)
    assert vote_count(app, entry_id) == 1 and total_of(app, "alice") == 1
    assert bob.post(f"/entries/{entry_id}/helpful").status_code == 400  # no CSRF token, no vote
    assert vote_count(app, entry_id) == 1


def test_nobody_votes_for_their_own_entry(app, client, make_user, make_entry, api, make_client):
    alice = make_user("alice")
    entry_id = make_entry(alice, status=Status.ADOPTED)
    response = client.post(f"{API}/entries/{entry_id}/helpful", headers=api("alice"))
    assert response.status_code == 403 and response.get_json()["error"]["code"] == "forbidden"
    page = make_client()
    page.login("alice")
    assert page.form_post(f"/entries/{entry_id}/helpful").status_code == 403
    assert vote_count(app, entry_id) == 0 and ledger_rows(app) == []


def test_only_adopted_entries_can_be_voted_helpful(app, client, make_user, make_entry, api):
    alice = make_user("alice")
    make_user("bob")
    make_user("rita", roles=["reviewer", "agent"])
    make_user("root", roles=["admin"])
    pending = make_entry(alice, title="待审核的")
    draft = make_entry(alice, title="草稿")
    with app.app_context():
        review.submit(pending, db.session.get(User, alice))
    # A reviewer can read the pending entry but not vote for it; an agent cannot even see it.
    response = client.post(f"{API}/entries/{pending}/helpful", headers=api("rita"))
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "not_adopted"
    assert client.post(f"{API}/entries/{pending}/helpful", headers=api("bob")).status_code == 404
    assert client.post(f"{API}/entries/{draft}/helpful", headers=api("bob")).status_code == 404
    assert vote_count(app, pending) == 0 and vote_count(app, draft) == 0 and ledger_rows(app) == []


def test_helpful_points_stop_at_the_daily_cap_but_votes_still_count(app, client, make_user, make_entry, api):
    alice = make_user("alice")
    entry_id = make_entry(alice, status=Status.ADOPTED)
    voters = [f"voter{i:02d}" for i in range(22)]
    for name in voters:
        make_user(name)
    counts = [client.post(f"{API}/entries/{entry_id}/helpful", headers=api(name)) for name in voters]
    assert [r.status_code for r in counts] == [201] * 22
    assert counts[-1].get_json() == {"helpful_count": 22}
    assert vote_count(app, entry_id) == 22
    causes = helpful_rows(app, alice)
    assert len(causes) == 20 and len(set(causes)) == 20  # the 21st and 22nd votes pay nothing
    assert total_of(app, "alice") == 20
    assert all(total_of(app, name) == 0 for name in voters)


def test_yesterdays_helpful_points_do_not_count_against_todays_cap(app, client, make_user, make_entry, api):
    alice = make_user("alice")
    make_user("bob")
    entry_id = make_entry(alice, status=Status.ADOPTED)
    with app.app_context():
        yesterday = utcnow() - timedelta(days=1)
        day = points.local_day(yesterday)
        db.session.add_all(PointAward(user_id=alice, amount=1, reason="helpful", cause=f"helpful:{alice}:{day}:{n}",
                                      entry_id=entry_id, created_at=yesterday) for n in range(1, 21))
        db.session.commit()
        today = points.local_day()
    assert client.post(f"{API}/entries/{entry_id}/helpful", headers=api("bob")).status_code == 201
    assert helpful_rows(app, alice)[-1] == f"helpful:{alice}:{today}:1"
    assert total_of(app, "alice") == 21


def test_the_cap_resets_at_midnight_in_asia_shanghai(app, client, make_user, make_entry, api, monkeypatch):
    alice = make_user("alice")
    voters = [make_user(f"voter{i}") for i in range(4)]
    entry_id = make_entry(alice, status=Status.ADOPTED)
    set_rule(app, "helpful.daily_cap", 1)
    moments = [datetime(2024, 1, 1, 15, 59, tzinfo=timezone.utc),   # 23:59 on 1 January in Shanghai
               datetime(2024, 1, 1, 16, 1, tzinfo=timezone.utc),    # 00:01 on 2 January in Shanghai
               datetime(2024, 1, 1, 16, 2, tzinfo=timezone.utc),
               datetime(2024, 1, 2, 15, 58, tzinfo=timezone.utc)]   # still 2 January in Shanghai
    for i, moment in enumerate(moments):
        monkeypatch.setattr(points, "utcnow", lambda moment=moment: moment)
        assert client.post(f"{API}/entries/{entry_id}/helpful", headers=api(f"voter{i}")).status_code == 201
    assert helpful_rows(app, alice) == [f"helpful:{alice}:2024-01-01:1", f"helpful:{alice}:2024-01-02:1"]
    assert vote_count(app, entry_id) == len(voters)


def test_local_day_follows_the_configured_time_zone(app):
    late_evening_utc = datetime(2024, 3, 31, 16, 30, tzinfo=timezone.utc)
    with app.app_context():
        assert points.local_day(late_evening_utc) == "2024-04-01"
        assert points.local_day(late_evening_utc - timedelta(minutes=31)) == "2024-03-31"
        app.config["TIMEZONE"] = "UTC"
        assert points.local_day(late_evening_utc) == "2024-03-31"


def test_a_patched_day_starts_a_fresh_cap(app, client, make_user, make_entry, api, monkeypatch):
    alice = make_user("alice")
    for i in range(5):
        make_user(f"voter{i}")
    entry_id = make_entry(alice, status=Status.ADOPTED)
    set_rule(app, "helpful.daily_cap", 2)
    monkeypatch.setattr(points, "local_day", lambda moment=None: "2030-05-01")
    for i in range(3):
        client.post(f"{API}/entries/{entry_id}/helpful", headers=api(f"voter{i}"))
    monkeypatch.setattr(points, "local_day", lambda moment=None: "2030-05-02")
    for i in range(3, 5):
        client.post(f"{API}/entries/{entry_id}/helpful", headers=api(f"voter{i}"))
    assert helpful_rows(app, alice) == [f"helpful:{alice}:2030-05-01:1", f"helpful:{alice}:2030-05-01:2",
                                        f"helpful:{alice}:2030-05-02:1", f"helpful:{alice}:2030-05-02:2"]
    assert vote_count(app, entry_id) == 5


def test_a_vote_whose_payment_fails_is_not_kept(app, make_user, make_entry, monkeypatch):
    """The vote and its payment are one transaction: a failure after the vote leaves no vote behind,
    so the reader can vote again instead of having cast an unpaid vote."""
    alice = make_user("alice")
    bob = make_user("bob")
    entry_id = make_entry(alice, status=Status.ADOPTED)

    def payment_fails(*args, **kwargs):
        raise RuntimeError("the ledger is unavailable")

    monkeypatch.setattr(points, "award_helpful", payment_fails)
    with app.app_context():
        with pytest.raises(RuntimeError):
            feedback.vote_helpful(entry_id, db.session.get(User, bob))
        db.session.rollback()
    assert vote_count(app, entry_id) == 0 and ledger_rows(app) == []


# --- retraction -----------------------------------------------------------------------------------


def test_admin_retracts_with_a_reason_and_the_adoption_points_are_reversed(app, client, make_client, make_user, api,
                                                                            adopted_by_review):
    alice = make_user("alice")
    bob = make_user("bob")
    make_user("carol")
    make_user("root", roles=["admin"])
    entry_id = adopted_by_review(alice, kind="client_case", body="原文")  # alice 27, rita 2
    client.put(f"{API}/entries/{entry_id}", headers=api("bob"),
               json={"title": "客户说保费太贵怎么办", "body": "鲍勃补充", "kind": "client_case", "base_revision": 1})
    with app.app_context():
        review.submit(entry_id, db.session.get(User, bob))
        review.decide(entry_id, ReviewInput(scores=dict(SCORES), compliance=True, decision="adopt"),
                      db.session.get(User, db.session.scalar(select(User.id).where(User.username == "rita"))))
    client.post(f"{API}/entries/{entry_id}/helpful", headers=api("carol"))  # alice +1, not reversed
    before = ledger_rows(app)
    assert sorted((r[1], r[2], r[3]) for r in before) == [
        ("alice", 1, "helpful"), ("alice", 27, "entry_adopted"), ("bob", 7, "edit_adopted"),
        ("rita", 2, "review"), ("rita", 2, "review")]

    # Only administrators retract.
    rita = make_client()
    rita.login("rita")
    assert rita.form_post(f"/entries/{entry_id}/retract", {"reason": "过时"}).status_code == 403
    admin = make_client()
    admin.login("root")
    # Without a reason the retraction is refused.
    refused = admin.form_post(f"/entries/{entry_id}/retract", {"reason": "  "})
    assert refused.status_code in (302, 400, 422)
    assert ledger_rows(app) == before
    with app.app_context():
        assert db.session.get(Entry, entry_id).status == Status.ADOPTED

    response = admin.form_post(f"/entries/{entry_id}/retract", {"reason": "条款已变更，内容过时"})
    assert response.status_code == 302
    after = ledger_rows(app)
    assert after[:len(before)] == before  # the earlier rows are untouched: reversal is a new row
    adopt_ids = {r[4]: r[0] for r in before}
    assert sorted((r[1], r[2], r[3], r[4], r[5]) for r in after[len(before):]) == [
        ("alice", -27, "retraction", f"reverse:{adopt_ids[f'adopt:entry:{entry_id}']}", entry_id),
        ("bob", -7, "retraction", f"reverse:{adopt_ids[f'adopt:edit:{entry_id}:2']}", entry_id)]
    assert (total_of(app, "alice"), total_of(app, "bob"), total_of(app, "rita")) == (1, 0, 4)

    with app.app_context():
        entry = db.session.get(Entry, entry_id)
        assert entry.status == Status.RETRACTED
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "retracted"))
        assert event.entry_id == entry_id and event.details["reason"] == "条款已变更，内容过时"
        assert db.session.scalar(select(Notification.kind).where(Notification.user_id == alice,
                                                                 Notification.kind == "retracted")) == "retracted"
    # Readers no longer see it, nor can they vote for it.
    carol = make_client()
    carol.login("carol")
    assert carol.get(f"/entries/{entry_id}").status_code == 404
    assert client.get(f"{API}/entries/{entry_id}", headers=api("carol")).status_code == 404
    assert client.get(f"{API}/entries", headers=api("carol")).get_json()["total"] == 0
    assert client.post(f"{API}/entries/{entry_id}/helpful", headers=api("carol")).status_code == 404

    # Retracting twice reverses nothing twice.
    again = admin.form_post(f"/entries/{entry_id}/retract", {"reason": "再撤一次"})
    assert again.status_code == 409
    assert ledger_rows(app) == after


# --- point rules are data -------------------------------------------------------------------------


def test_changing_a_point_rule_changes_the_award(app, make_user, adopted_by_review):
    alice = make_user("alice")
    set_rule(app, "adopt.faq", 50)
    set_rule(app, "review", 3)
    three = adopted_by_review(alice, title="三分的问答", kind="faq", scores={s: 3 for s in SCORES})
    four = adopted_by_review(alice, title="四分的问答", kind="faq", scores=SCORES)
    rows = {r[4]: (r[1], r[2]) for r in ledger_rows(app)}
    assert rows[f"adopt:entry:{three}"] == ("alice", 50)  # 50 × 3/3
    assert rows[f"adopt:entry:{four}"] == ("alice", 67)  # 50 × 4/3 = 66.67
    assert sorted(v for v in rows.values() if v[0] == "rita") == [("rita", 3), ("rita", 3)]
    with app.app_context():
        assert db.session.get(PointRule, "adopt.faq").value == 50


def test_a_kind_added_later_is_paid_by_the_other_rule(app, make_user, adopted_by_review):
    alice = make_user("alice")
    with app.app_context():
        db.session.add(Category(vocabulary="kind", slug="training", name_zh="培训心得", name_en="Training"))
        db.session.commit()
    entry_id = adopted_by_review(alice, kind="training", scores={s: 3 for s in SCORES})
    assert {r[4]: r[2] for r in ledger_rows(app)}[f"adopt:entry:{entry_id}"] == 10


# --- my points ------------------------------------------------------------------------------------


def test_my_points_api_lists_the_ledger_rows_behind_the_total(app, client, make_user, make_entry, api,
                                                              adopted_by_review):
    if "/api/v1/users/me/points" not in {rule.rule for rule in app.url_map.iter_rules()}:
        pytest.skip("GET /api/v1/users/me/points does not exist in the app yet")
    alice = make_user("alice")
    make_user("bob")
    entry_id = adopted_by_review(alice, kind="client_case")
    client.post(f"{API}/entries/{entry_id}/helpful", headers=api("bob"))
    response = client.get(f"{API}/users/me/points", headers=api("alice"))
    assert response.status_code == 200
    body = response.get_json()
    assert body["total"] == 28 == total_of(app, "alice")
    assert sorted((r["amount"], r["reason"], r["entry_id"]) for r in body["rows"]) == [
        (1, "helpful", entry_id), (27, "entry_adopted", entry_id)]
    assert all(isinstance(r["created_at"], str) for r in body["rows"])
    assert body["rank"] == 1  # 28 points against the reviewer's 2
    bob = client.get(f"{API}/users/me/points", headers=api("bob")).get_json()
    assert bob["total"] == 0 and bob["rows"] == []
    assert client.get(f"{API}/users/me/points").status_code == 401


def test_ledger_rows_are_never_rewritten_by_later_awards(app, make_user, adopted_by_review):
    alice = make_user("alice")
    first = adopted_by_review(alice, title="第一条", kind="faq")
    snapshot = ledger_rows(app)
    # Even a later change of the rules leaves what was paid as it was.
    set_rule(app, "adopt.faq", 99)
    set_rule(app, "review", 5)
    adopted_by_review(alice, title="第二条", kind="faq")
    assert ledger_rows(app)[:len(snapshot)] == snapshot
    assert {r[4]: r[2] for r in ledger_rows(app)}[f"adopt:entry:{first}"] == 13
