"""The review workflow over HTTP (DESIGN §3, §4, §8): submit, the queue, the review page, adopt / return /
reject, edits of adopted knowledge, illegal transitions, who may review, the permission matrix and
REVIEWS_REQUIRED. Every test checks the response and what the database then holds."""
import re
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from conftest import entry_form
from kmwiki.extensions import db
from kmwiki.models import AuditEvent, Entry, HelpfulVote, Notification, PointAward, Review, Status, User
from kmwiki.models.base import utcnow
from kmwiki.services import review

API = "/api/v1"
# Mean 4: objection_handling pays 15 × 4/3 = 20, sales_technique 20 × 4/3 = 26.67 → 27, an edit 5 × 4/3 → 7.
SCORES = {"accuracy": 5, "usefulness": 4, "clarity": 4, "originality": 3}
CRITERIA = ("accuracy", "usefulness", "clarity", "originality")
# make_entry's defaults, as form data, so an edit changes the body only.
DEFAULT_FIELDS = {"title": "客户说保费太贵怎么办", "kind": "objection_handling", "products": ["critical_illness"],
                  "segments": ["young_family"], "tags": "保费"}


# --- helpers --------------------------------------------------------------------------------------


def verdict(decision="adopt", scores=None, compliance=True, comment=""):
    """An API review body."""
    return {"scores": dict(SCORES if scores is None else scores), "compliance": compliance,
            "decision": decision, "comment": comment}


def review_form(decision="adopt", scores=None, compliance="pass", comment=""):
    """The review page's form data: one radio per criterion, the compliance select and the button pressed."""
    data = {f"score_{slug}": str(score) for slug, score in (SCORES if scores is None else scores).items()}
    data.update(compliance=compliance, comment=comment, decision=decision)
    return data


def edit_form(body, base_revision, **overrides):
    return dict(DEFAULT_FIELDS, body=body, base_revision=base_revision, **overrides)


def entry_id_from(response):
    return int(re.search(r"/entries/(\d+)$", response.headers["Location"]).group(1))


def error_of(response, status, code=None):
    """The JSON error envelope of a response with this status."""
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    error = response.get_json()["error"]
    if code is not None:
        assert error["code"] == code, error
    return error


def state(app, entry_id):
    """(status, published_number, review_number — the revision last sent to review —, latest_number)."""
    with app.app_context():
        entry = db.session.get(Entry, entry_id)
        return entry.status, entry.published_number, entry.review_number, entry.latest_number


def ledger(app):
    """Every ledger row as (username, amount, reason, cause), in insertion order."""
    with app.app_context():
        rows = db.session.execute(select(User.username, PointAward.amount, PointAward.reason, PointAward.cause)
                                  .join(User, PointAward.user_id == User.id).order_by(PointAward.id)).all()
        return [tuple(row) for row in rows]


def reviews(app, entry_id):
    """Every review of an entry as (reviewer, revision, decision, compliance, mean, {slug: score}, comment)."""
    with app.app_context():
        rows = db.session.scalars(select(Review).where(Review.entry_id == entry_id).order_by(Review.id)).all()
        return [(r.reviewer.username, r.revision_number, r.decision, r.compliance_passed, r.mean_score,
                 {s.criterion.slug: s.score for s in r.scores}, r.comment) for r in rows]


def audit_actions(app, entry_id):
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent.action).where(AuditEvent.entry_id == entry_id)
                                       .order_by(AuditEvent.id)))


def notified(app, entry_id):
    """Notifications about an entry as a sorted list of (recipient, kind)."""
    with app.app_context():
        rows = db.session.execute(select(User.username, Notification.kind).join(User, Notification.user_id == User.id)
                                  .where(Notification.entry_id == entry_id)).all()
        return sorted(tuple(row) for row in rows)


@pytest.fixture
def browser(make_client):
    """A signed-in browser: browser("alice")."""

    def open_as(username):
        client = make_client()
        assert client.login(username).status_code == 302, username
        return client

    return open_as


@pytest.fixture
def staff(make_user):
    """Two agents in teams, a third reader, two reviewers, a leader and an administrator; ids by name."""
    return {
        "alice": make_user("alice", display_name="李丽", team="华东分公司/一组"),
        "bob": make_user("bob", display_name="鲍勃", team="华南分公司/二组"),
        "carol": make_user("carol"),
        "rita": make_user("rita", roles=["reviewer", "agent"], display_name="审核员丽塔"),
        "ray": make_user("ray", roles=["reviewer", "agent"]),
        "lee": make_user("lee", roles=["leader", "agent"]),
        "root": make_user("root", roles=["admin"]),
    }


@pytest.fixture
def submitted(app, make_entry):
    """A draft by `author_id`, submitted for review through the service; returns its id."""

    def factory(author_id, **fields):
        entry_id = make_entry(author_id, **fields)
        with app.app_context():
            review.submit(entry_id, db.session.get(User, author_id))
        return entry_id

    return factory


# --- the whole workflow through the pages ---------------------------------------------------------


def test_agent_writes_submits_and_a_reviewer_adopts_through_the_pages(app, staff, browser):
    alice = browser("alice")
    assert alice.get("/entries/new").status_code == 200
    created = alice.form_post("/entries/new", entry_form(title="电话邀约的开场白", kind="sales_technique"))
    assert created.status_code == 302
    entry_id = entry_id_from(created)
    assert state(app, entry_id) == (Status.DRAFT, None, None, 1)
    assert notified(app, entry_id) == []

    submitted = alice.form_post(f"/entries/{entry_id}/submit")
    assert submitted.status_code == 302 and submitted.headers["Location"].endswith(f"/entries/{entry_id}")
    assert state(app, entry_id) == (Status.PENDING, None, 1, 1)
    with app.app_context():
        entry = db.session.get(Entry, entry_id)
        assert entry.submitted_by_id == staff["alice"] and entry.submitted_at is not None
    # Every reviewer hears about the new item; the author does not.
    assert notified(app, entry_id) == [("ray", "review_requested"), ("rita", "review_requested")]
    assert audit_actions(app, entry_id) == ["submitted"]

    rita = browser("rita")
    queue = rita.get("/review")
    assert queue.status_code == 200
    page = queue.get_data(as_text=True)
    assert "电话邀约的开场白" in page and "华东分公司 · 一组" in page and "李丽" in page
    assert f'href="/review/{entry_id}"' in page

    form_page = rita.get(f"/review/{entry_id}")
    assert form_page.status_code == 200
    page = form_page.get_data(as_text=True)
    assert '<h2 id="h-开场">开场</h2>' in page  # the submitted revision, rendered
    for slug in CRITERIA:
        values = re.findall(rf'<input[^>]*name="score_{slug}"[^>]*type="radio"[^>]*value="(\d)"', page)
        assert values == ["1", "2", "3", "4", "5"], slug
    select_html = re.search(r'<select[^>]*name="compliance"[^>]*>(.*?)</select>', page, re.S).group(1)
    assert re.findall(r'value="(\w+)"', select_html) == ["pass", "fail"]
    assert sorted(re.findall(r'name="decision" value="(\w+)"', page)) == ["adopt", "reject", "revise"]

    decided = rita.form_post(f"/review/{entry_id}", review_form("adopt", comment="很实用"))
    assert decided.status_code == 302 and decided.headers["Location"].endswith("/review")

    assert state(app, entry_id) == (Status.ADOPTED, 1, 1, 1)
    assert reviews(app, entry_id) == [("rita", 1, "adopt", True, 4.0, SCORES, "很实用")]
    assert ledger(app) == [("rita", 2, "review", f"review:{entry_id}:1:{staff['rita']}"),
                           ("alice", 27, "entry_adopted", f"adopt:entry:{entry_id}")]
    assert notified(app, entry_id) == [("alice", "adopted"), ("ray", "review_requested"),
                                       ("rita", "review_requested")]
    assert audit_actions(app, entry_id) == ["submitted", "reviewed", "decision:adopt"]
    assert "电话邀约的开场白" in alice.get("/notifications").get_data(as_text=True)
    with app.app_context():
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "reviewed"))
        assert event.actor_id == staff["rita"]
        assert event.details["scores"] == SCORES and event.details["decision"] == "adopt"

    # The adopted entry is now everyone's knowledge and has left the queue.
    reader_page = browser("carol").get(f"/entries/{entry_id}")
    assert reader_page.status_code == 200 and "先报姓名和来意" in reader_page.get_data(as_text=True)
    assert "电话邀约的开场白" not in rita.get("/review").get_data(as_text=True)


def test_adoption_pays_the_kind_base_times_quality_over_three(app, client, staff, api, submitted):
    # Mean 4.25: 20 → 28.33 → 28, 15 → 21.25 → 21, 10 → 14.17 → 14 (no .5 ties to round).
    expected = {"client_case": 28, "sales_technique": 28, "objection_handling": 21, "product_knowledge": 21,
                "claims_service": 21, "faq": 14}
    entry_ids = {kind: submitted(staff["alice"], title=f"{kind}的经验", kind=kind) for kind in expected}
    scores = {"accuracy": 5, "usefulness": 4, "clarity": 4, "originality": 4}
    for kind, entry_id in entry_ids.items():
        response = client.post(f"{API}/entries/{entry_id}/reviews", json=verdict(scores=scores), headers=api("rita"))
        assert response.status_code == 201, response.get_json()
        body = response.get_json()
        assert body["status"] == "adopted" and body["review"]["mean_score"] == 4.25
    paid = {cause: (user, amount, reason) for user, amount, reason, cause in ledger(app)}
    assert {kind: paid[f"adopt:entry:{entry_id}"] for kind, entry_id in entry_ids.items()} == {
        kind: ("alice", amount, "entry_adopted") for kind, amount in expected.items()}
    assert sorted(v for v in paid.values() if v[0] == "rita") == [("rita", 2, "review")] * 6
    assert len(paid) == 12


def test_return_needs_a_comment_then_the_author_reads_it_edits_and_resubmits(app, staff, browser, api, client):
    alice = browser("alice")
    entry_id = entry_id_from(alice.form_post("/entries/new", entry_form(kind="faq")))
    alice.form_post(f"/entries/{entry_id}/submit")
    rita = browser("rita")
    low = {"accuracy": 3, "usefulness": 2, "clarity": 2, "originality": 1}

    refused = rita.form_post(f"/review/{entry_id}", review_form("revise", scores=low, comment="  "))
    assert refused.status_code == 422
    assert state(app, entry_id) == (Status.PENDING, None, 1, 1)
    assert reviews(app, entry_id) == [] and ledger(app) == []
    error = error_of(client.post(f"{API}/entries/{entry_id}/reviews", json=verdict("revise", scores=low),
                                 headers=api("rita")), 422, "invalid")
    assert "comment" in error["fields"]

    returned = rita.form_post(f"/review/{entry_id}", review_form("revise", scores=low, comment="请补充具体的开场话术"))
    assert returned.status_code == 302
    status, published, _, latest = state(app, entry_id)
    assert (status, published, latest) == (Status.RETURNED, None, 1)
    assert reviews(app, entry_id) == [("rita", 1, "revise", True, 2.0, low, "请补充具体的开场话术")]
    assert ledger(app) == [("rita", 2, "review", f"review:{entry_id}:1:{staff['rita']}")]
    assert ("alice", "returned") in notified(app, entry_id)
    assert audit_actions(app, entry_id)[-1] == "decision:revise"
    queue = client.get(f"{API}/reviews/queue", headers=api("rita")).get_json()["results"]
    assert entry_id not in [e["id"] for e in queue]

    # The author sees the comment and the scores on the entry page.
    page = alice.get(f"/entries/{entry_id}").get_data(as_text=True)
    assert "请补充具体的开场话术" in page
    assert "准确性 3/5" in page and "原创性 1/5" in page
    # Nobody else may: the returned entry is still private.
    assert browser("carol").get(f"/entries/{entry_id}").status_code == 404

    edited = alice.form_post(f"/entries/{entry_id}/edit",
                             entry_form(kind="faq", body="## 开场\n\n您好，我是平安的小李，想花两分钟……", base_revision=1))
    assert edited.status_code == 302
    assert alice.form_post(f"/entries/{entry_id}/submit").status_code == 302
    assert state(app, entry_id) == (Status.PENDING, None, 2, 2)

    adopted = rita.form_post(f"/review/{entry_id}", review_form("adopt", scores={s: 3 for s in CRITERIA}))
    assert adopted.status_code == 302
    assert state(app, entry_id) == (Status.ADOPTED, 2, 2, 2)
    assert ledger(app)[1:] == [("rita", 2, "review", f"review:{entry_id}:2:{staff['rita']}"),
                               ("alice", 10, "entry_adopted", f"adopt:entry:{entry_id}")]
    assert [r[:3] for r in reviews(app, entry_id)] == [("rita", 1, "revise"), ("rita", 2, "adopt")]
    assert audit_actions(app, entry_id) == ["submitted", "reviewed", "decision:revise", "submitted", "reviewed",
                                            "decision:adopt"]


def test_reject_needs_a_comment_and_a_rejected_new_entry_stays_private(app, staff, browser, api, client, submitted):
    entry_id = submitted(staff["alice"], title="不成熟的想法")
    rita = browser("rita")
    assert rita.form_post(f"/review/{entry_id}", review_form("reject")).status_code == 422
    assert state(app, entry_id)[0] == Status.PENDING and reviews(app, entry_id) == []

    response = rita.form_post(f"/review/{entry_id}", review_form("reject", comment="与已有条目重复"))
    assert response.status_code == 302
    assert state(app, entry_id) == (Status.REJECTED, None, 1, 1)
    assert [r[:3] for r in reviews(app, entry_id)] == [("rita", 1, "reject")]
    assert [row[2] for row in ledger(app)] == ["review"]  # the reviewer is paid; the author is not
    assert ("alice", "rejected") in notified(app, entry_id)
    assert audit_actions(app, entry_id)[-1] == "decision:reject"

    page = browser("alice").get(f"/entries/{entry_id}")
    assert page.status_code == 200 and "与已有条目重复" in page.get_data(as_text=True)
    for name in ("carol", "ray"):
        assert browser(name).get(f"/entries/{entry_id}").status_code == 404, name
        error_of(client.get(f"{API}/entries/{entry_id}", headers=api(name)), 404)
    assert client.get(f"{API}/entries", headers=api("carol")).get_json()["total"] == 0


def test_queue_is_oldest_first_with_age_kind_and_team(app, staff, browser, api, client, submitted, make_entry):
    newest = submitted(staff["alice"], title="最新提交的", kind="faq")
    oldest = submitted(staff["bob"], title="等了三天的", kind="client_case")
    middle = submitted(staff["alice"], title="等了两小时的", kind="claims_service")
    make_entry(staff["bob"], title="还是草稿的")
    make_entry(staff["bob"], title="早已采纳的", status=Status.ADOPTED)
    with app.app_context():
        for entry_id, age in ((oldest, timedelta(days=3)), (middle, timedelta(hours=2))):
            db.session.execute(update(Entry).where(Entry.id == entry_id).values(submitted_at=utcnow() - age))
        db.session.commit()

    page = browser("rita").get("/review").get_data(as_text=True)
    rows = re.findall(r"<tr>(.*?)</tr>", page, re.S)
    titles = [re.search(r"<td>(最新提交的|等了三天的|等了两小时的)</td>", row) for row in rows]
    assert [m.group(1) for m in titles if m] == ["等了三天的", "等了两小时的", "最新提交的"]
    assert "还是草稿的" not in page and "早已采纳的" not in page
    first, second = (row for row in rows if "等了" in row)
    assert "3天" in first and "age-late" in first  # the age, highlighted once it is late
    assert "2小时" in second and "age-late" not in second
    assert "华南分公司 · 二组" in first and "客户案例" in first
    assert "华东分公司 · 一组" in second and "理赔服务" in second

    listed = client.get(f"{API}/reviews/queue", headers=api("rita")).get_json()["results"]
    assert [(e["id"], e["kind"], e["author"], e["team"], e["is_edit"]) for e in listed] == [
        (oldest, "client_case", "bob", "二组", False), (middle, "claims_service", "alice", "一组", False),
        (newest, "faq", "alice", "一组", False)]


# --- edits of adopted knowledge -------------------------------------------------------------------


def test_edit_by_another_agent_keeps_the_adopted_text_until_adopted_and_pays_the_editor(
        app, staff, browser, api, client, make_entry):
    entry_id = make_entry(staff["alice"], body="已采纳的原文\n第二行不变", status=Status.ADOPTED)
    bob = browser("bob")
    assert bob.form_post(f"/entries/{entry_id}/edit", edit_form("鲍勃改进的正文\n第二行不变", 1)).status_code == 302
    assert bob.form_post(f"/entries/{entry_id}/submit").status_code == 302
    assert state(app, entry_id) == (Status.PENDING, 1, 2, 2)
    with app.app_context():
        assert db.session.get(Entry, entry_id).submitted_by_id == staff["bob"]

    # Readers keep the adopted revision while the edit waits.
    page = browser("carol").get(f"/entries/{entry_id}").get_data(as_text=True)
    assert "已采纳的原文" in page and "鲍勃改进的正文" not in page
    body = client.get(f"{API}/entries/{entry_id}", headers=api("carol")).get_json()
    assert (body["body"], body["published_revision"], body["revision"], body["status"]) == (
        "已采纳的原文\n第二行不变", 1, 2, "pending")
    queued = client.get(f"{API}/reviews/queue", headers=api("rita")).get_json()["results"]
    assert [(e["id"], e["is_edit"], e["revision"]) for e in queued] == [(entry_id, True, 2)]

    # The reviewer sees the submitted revision and what it changes in the adopted one.
    review_page = browser("rita").get(f"/review/{entry_id}").get_data(as_text=True)
    removed = re.findall(r'<tr class="diff-del">.*?</tr>', review_page, re.S)
    added = re.findall(r'<tr class="diff-add">.*?</tr>', review_page, re.S)
    assert len(removed) == 1 and "已采纳的原文" in removed[0]
    assert len(added) == 1 and "鲍勃改进的正文" in added[0]
    assert "鲍勃" in review_page  # who submitted the edit

    response = client.post(f"{API}/entries/{entry_id}/reviews", json=verdict(), headers=api("rita"))
    assert response.status_code == 201 and response.get_json()["status"] == "adopted"
    assert state(app, entry_id) == (Status.ADOPTED, 2, 2, 2)
    assert ledger(app) == [("rita", 2, "review", f"review:{entry_id}:2:{staff['rita']}"),
                           ("bob", 7, "edit_adopted", f"adopt:edit:{entry_id}:2")]  # 5 × 4/3, not the author
    assert ("alice", "adopted") in notified(app, entry_id) and ("bob", "adopted") in notified(app, entry_id)
    page = browser("carol").get(f"/entries/{entry_id}").get_data(as_text=True)
    assert "鲍勃改进的正文" in page and "已采纳的原文" not in page


def test_author_editing_own_adopted_entry_earns_no_adoption_points(app, staff, api, client, make_entry):
    entry_id = make_entry(staff["alice"], body="原文", status=Status.ADOPTED)
    saved = client.put(f"{API}/entries/{entry_id}", headers=api("alice"),
                       json={"title": DEFAULT_FIELDS["title"], "body": "作者自己补充的正文", "kind": "objection_handling",
                             "base_revision": 1})
    assert saved.status_code == 200
    assert client.post(f"{API}/entries/{entry_id}/submit", headers=api("alice")).get_json() == {
        "id": entry_id, "status": "pending", "revision": 2}
    assert client.post(f"{API}/entries/{entry_id}/reviews", json=verdict(), headers=api("rita")).status_code == 201
    assert state(app, entry_id) == (Status.ADOPTED, 2, 2, 2)
    assert ledger(app) == [("rita", 2, "review", f"review:{entry_id}:2:{staff['rita']}")]


def test_rejected_edit_leaves_the_entry_adopted_with_the_old_revision(app, staff, api, client, browser, make_entry):
    entry_id = make_entry(staff["alice"], body="已采纳的原文", status=Status.ADOPTED)
    client.put(f"{API}/entries/{entry_id}", headers=api("bob"),
               json={"title": DEFAULT_FIELDS["title"], "body": "不靠谱的修改", "kind": "objection_handling",
                     "base_revision": 1})
    client.post(f"{API}/entries/{entry_id}/submit", headers=api("bob"))
    response = client.post(f"{API}/entries/{entry_id}/reviews", headers=api("rita"),
                           json=verdict("reject", comment="修改引入了错误"))
    assert response.status_code == 201 and response.get_json()["status"] == "adopted"
    assert state(app, entry_id) == (Status.ADOPTED, 1, 2, 2)
    assert ("bob", "rejected") in notified(app, entry_id)
    assert [row[2] for row in ledger(app)] == ["review"]
    body = client.get(f"{API}/entries/{entry_id}", headers=api("carol")).get_json()
    assert (body["body"], body["published_revision"], body["status"]) == ("已采纳的原文", 1, "adopted")
    assert "不靠谱的修改" not in browser("carol").get(f"/entries/{entry_id}").get_data(as_text=True)


def test_a_rejected_edit_cannot_be_resubmitted_unchanged(app, staff, api, client, make_entry):
    entry_id = make_entry(staff["alice"], body="已采纳的原文", status=Status.ADOPTED)
    client.put(f"{API}/entries/{entry_id}", headers=api("bob"),
               json={"title": DEFAULT_FIELDS["title"], "body": "被驳回的修改", "kind": "objection_handling",
                     "base_revision": 1})
    client.post(f"{API}/entries/{entry_id}/submit", headers=api("bob"))
    client.post(f"{API}/entries/{entry_id}/reviews", json=verdict("reject", comment="不采纳"), headers=api("rita"))
    # One reject rejects the revision: sending the very same revision again would let a second reviewer
    # overrule the first. A new edit may be submitted; the rejected one may not.
    error_of(client.post(f"{API}/entries/{entry_id}/submit", headers=api("bob")), 409, "illegal_transition")
    assert state(app, entry_id) == (Status.ADOPTED, 1, 2, 2)
    assert audit_actions(app, entry_id).count("submitted") == 1


# --- illegal transitions and bad verdicts ---------------------------------------------------------


def test_submitting_twice_is_a_409_and_changes_nothing(app, staff, api, client, browser, make_entry):
    entry_id = make_entry(staff["alice"])
    assert client.post(f"{API}/entries/{entry_id}/submit", headers=api("alice")).status_code == 200
    before = state(app, entry_id)
    error_of(client.post(f"{API}/entries/{entry_id}/submit", headers=api("alice")), 409, "illegal_transition")
    assert browser("alice").form_post(f"/entries/{entry_id}/submit").status_code == 409
    assert state(app, entry_id) == before == (Status.PENDING, None, 1, 1)
    assert audit_actions(app, entry_id) == ["submitted"]
    assert len([n for n in notified(app, entry_id) if n[1] == "review_requested"]) == 2


def test_submitting_an_adopted_entry_without_changes_is_a_409(app, staff, api, client, make_entry):
    entry_id = make_entry(staff["alice"], status=Status.ADOPTED)
    error_of(client.post(f"{API}/entries/{entry_id}/submit", headers=api("alice")), 409, "illegal_transition")
    assert state(app, entry_id) == (Status.ADOPTED, 1, None, 1)


def test_submitting_a_rejected_entry_is_an_illegal_transition(app, staff, api, client, submitted):
    entry_id = submitted(staff["alice"])
    client.post(f"{API}/entries/{entry_id}/reviews", json=verdict("reject", comment="不采纳"), headers=api("rita"))
    assert state(app, entry_id)[0] == Status.REJECTED
    # The author owns the entry; it is the state that forbids the move, so this is a 409, not a 403.
    error_of(client.post(f"{API}/entries/{entry_id}/submit", headers=api("alice")), 409, "illegal_transition")
    assert state(app, entry_id) == (Status.REJECTED, None, 1, 1)
    assert audit_actions(app, entry_id).count("submitted") == 1


def test_reviewing_a_draft_is_a_409_for_whoever_can_see_it(app, staff, make_user, api, client, make_entry):
    make_user("boss", roles=["admin", "reviewer"])  # an admin sees drafts; as a reviewer they would review
    entry_id = make_entry(staff["alice"])
    error_of(client.post(f"{API}/entries/{entry_id}/reviews", json=verdict(), headers=api("boss")), 409,
             "illegal_transition")
    # A plain reviewer cannot even see someone's draft.
    error_of(client.post(f"{API}/entries/{entry_id}/reviews", json=verdict(), headers=api("rita")), 404)
    assert state(app, entry_id) == (Status.DRAFT, None, None, 1)
    assert reviews(app, entry_id) == [] and ledger(app) == []


def test_adopting_an_adopted_entry_is_a_409_on_the_page_and_the_api(app, staff, api, client, browser, submitted):
    entry_id = submitted(staff["alice"])
    assert client.post(f"{API}/entries/{entry_id}/reviews", json=verdict(), headers=api("rita")).status_code == 201
    before = ledger(app)
    error = error_of(client.post(f"{API}/entries/{entry_id}/reviews", json=verdict(), headers=api("ray")), 409,
                     "illegal_transition")
    assert error["current_status"] == "adopted"
    page = browser("ray").form_post(f"/review/{entry_id}", review_form("adopt"))
    assert page.status_code == 409
    assert state(app, entry_id) == (Status.ADOPTED, 1, 1, 1)
    assert ledger(app) == before and len(reviews(app, entry_id)) == 1


def test_retracting_a_draft_is_a_409(app, staff, browser, make_entry):
    entry_id = make_entry(staff["alice"])
    response = browser("root").form_post(f"/entries/{entry_id}/retract", {"reason": "测试"})
    assert response.status_code == 409
    assert state(app, entry_id) == (Status.DRAFT, None, None, 1)
    assert "retracted" not in audit_actions(app, entry_id)


BAD_VERDICTS = [
    ("score 0", dict(verdict(), scores=dict(SCORES, accuracy=0)), "scores"),
    ("score 6", dict(verdict(), scores=dict(SCORES, clarity=6)), "scores"),
    ("missing criterion", dict(verdict(), scores={k: v for k, v in SCORES.items() if k != "originality"}), "scores"),
    ("unknown criterion", dict(verdict(), scores=dict(SCORES, humour=5)), "scores"),
    ("string score", dict(verdict(), scores=dict(SCORES, accuracy="5")), "scores"),
    ("fractional score", dict(verdict(), scores=dict(SCORES, accuracy=4.5)), "scores"),
    ("boolean score", dict(verdict(), scores=dict(SCORES, accuracy=True)), "scores"),
    ("null score", dict(verdict(), scores=dict(SCORES, accuracy=None)), "scores"),
    ("scores not an object", dict(verdict(), scores=[5, 4, 4, 3]), "scores"),
    ("no scores", {k: v for k, v in verdict().items() if k != "scores"}, "scores"),
    ("unknown decision", verdict("publish"), "decision"),
    ("empty decision", verdict(""), "decision"),
    ("decision not a string", dict(verdict(), decision=1), "decision"),
    ("compliance as a string", dict(verdict(), compliance="true"), "compliance"),
    ("compliance as a number", dict(verdict(), compliance=1), "compliance"),
    ("compliance null", dict(verdict(), compliance=None), "compliance"),
    ("no compliance", {k: v for k, v in verdict().items() if k != "compliance"}, "compliance"),
    ("comment not a string", dict(verdict(), comment=["好"]), "comment"),
]


def test_bad_verdicts_are_422_naming_the_field_and_change_nothing(app, staff, api, client, submitted):
    entry_id = submitted(staff["alice"])
    for label, body, field in BAD_VERDICTS:
        error = error_of(client.post(f"{API}/entries/{entry_id}/reviews", json=body, headers=api("rita")), 422)
        assert field in error.get("fields", {}), (label, error)
    assert state(app, entry_id) == (Status.PENDING, None, 1, 1)
    assert reviews(app, entry_id) == [] and ledger(app) == []
    assert audit_actions(app, entry_id) == ["submitted"]
    error_of(client.post(f"{API}/entries/{entry_id}/reviews", data="adopt", content_type="text/plain",
                         headers=api("rita")), 400)


PAGE_BAD_VERDICTS = [
    ("score 0", {"score_accuracy": "0"}),
    ("score 6", {"score_usefulness": "6"}),
    ("missing criterion", {"score_clarity": None}),
    ("non-integer score", {"score_accuracy": "abc"}),
    ("fractional score", {"score_accuracy": "4.5"}),
    ("unknown decision", {"decision": "publish"}),
    ("no decision", {"decision": None}),
    ("compliance neither pass nor fail", {"compliance": "maybe"}),
]


def test_bad_verdicts_on_the_review_page_are_422_keep_the_page_and_change_nothing(app, staff, browser, submitted):
    rita = browser("rita")
    observed, changed = {}, []
    for label, changes in PAGE_BAD_VERDICTS:
        entry_id = submitted(staff["alice"], title=f"待审：{label}")
        data = review_form("revise", comment="请补充")
        for name, value in changes.items():
            data.pop(name) if value is None else data.__setitem__(name, value)
        response = rita.form_post(f"/review/{entry_id}", data)
        observed[label] = response.status_code
        if response.status_code == 422:
            assert "请补充" in response.get_data(as_text=True), label  # what the reviewer typed is kept
        if state(app, entry_id) != (Status.PENDING, None, 1, 1) or reviews(app, entry_id):
            changed.append(label)
    assert observed == {label: 422 for label, _ in PAGE_BAD_VERDICTS}
    assert changed == [] and ledger(app) == []


def test_review_post_without_the_csrf_token_is_refused(app, staff, browser, submitted):
    entry_id = submitted(staff["alice"])
    rita = browser("rita")
    response = rita.post(f"/review/{entry_id}", data=review_form("adopt"))
    assert response.status_code == 400
    assert state(app, entry_id) == (Status.PENDING, None, 1, 1) and reviews(app, entry_id) == []


# --- who may review -------------------------------------------------------------------------------


def test_author_cannot_review_own_entry(app, make_user, api, client, browser, submitted):
    author = make_user("rhea", roles=["reviewer", "agent"])
    entry_id = submitted(author)
    rhea = browser("rhea")
    page = rhea.get(f"/review/{entry_id}")
    assert page.status_code in (200, 403)
    assert 'name="decision"' not in page.get_data(as_text=True)  # no review form on one's own entry
    assert rhea.form_post(f"/review/{entry_id}", review_form("adopt")).status_code == 403
    error_of(client.post(f"{API}/entries/{entry_id}/reviews", json=verdict(), headers=api("rhea")), 403)
    assert state(app, entry_id) == (Status.PENDING, None, 1, 1)
    assert reviews(app, entry_id) == [] and ledger(app) == []


def test_submitter_of_an_edit_cannot_review_it_nor_can_the_author(app, staff, make_user, api, client, browser,
                                                                  make_entry):
    author = make_user("rhea", roles=["reviewer", "agent"])
    entry_id = make_entry(author, body="原文", status=Status.ADOPTED)
    client.put(f"{API}/entries/{entry_id}", headers=api("ray"),
               json={"title": DEFAULT_FIELDS["title"], "body": "雷的修改", "kind": "objection_handling",
                     "base_revision": 1})
    assert client.post(f"{API}/entries/{entry_id}/submit", headers=api("ray")).status_code == 200
    for name in ("ray", "rhea"):
        assert browser(name).form_post(f"/review/{entry_id}", review_form("adopt")).status_code == 403, name
        error_of(client.post(f"{API}/entries/{entry_id}/reviews", json=verdict(), headers=api(name)), 403)
    assert state(app, entry_id) == (Status.PENDING, 1, 2, 2)
    assert reviews(app, entry_id) == [] and ledger(app) == []
    # Another reviewer may.
    assert client.post(f"{API}/entries/{entry_id}/reviews", json=verdict(), headers=api("rita")).status_code == 201


def test_users_without_the_reviewer_role_are_refused_every_review_action(app, staff, api, client, browser, submitted):
    api_answers = {}
    for name in ("carol", "lee", "root"):  # agent, leader (+agent), admin only
        entry_id = submitted(staff["alice"], title=f"{name}不能审核的")
        user = browser(name)
        assert user.get("/review").status_code == 403, name
        assert user.get(f"/review/{entry_id}").status_code == 403, name
        assert user.form_post(f"/review/{entry_id}", review_form("adopt")).status_code == 403, name
        error_of(client.get(f"{API}/reviews/queue", headers=api(name)), 403)
        # The endpoint is for reviewers: refused for the role, as on the page, whether or not the caller
        # could read the entry.
        api_answers[name] = client.post(f"{API}/entries/{entry_id}/reviews", json=verdict(),
                                        headers=api(name)).status_code
        assert state(app, entry_id) == (Status.PENDING, None, 1, 1)
        assert reviews(app, entry_id) == []
    assert ledger(app) == []
    assert api_answers == {"carol": 403, "lee": 403, "root": 403}


# --- the permission matrix ------------------------------------------------------------------------

ROLES = {"agent": ["agent"], "reviewer": ["reviewer", "agent"], "leader": ["leader", "agent"], "admin": ["admin"]}
ACTIONS = ("create entry", "submit own draft", "view queue", "review a pending entry", "vote helpful", "retract")
# Page responses: 302 = done and redirected, 200 = shown, 403 = refused. An admin-only account is not a
# contributor (DESIGN §1): it writes nothing and votes on nothing, but it alone retracts.
EXPECTED = {
    #            create  submit  queue  review  helpful  retract
    "agent":    (302,    302,    403,   403,    302,     403),
    "reviewer": (302,    302,    200,   302,    302,     403),
    "leader":   (302,    302,    403,   403,    302,     403),
    "admin":    (403,    403,    403,   403,    403,     302),
}


@pytest.mark.parametrize("role", list(EXPECTED))
def test_permission_matrix(app, make_user, make_entry, browser, submitted, role):
    owner = make_user("owner")
    user_id = make_user("subject", roles=ROLES[role])
    pending = submitted(owner, title="待审核的条目")
    adopted = make_entry(owner, title="已采纳的条目", status=Status.ADOPTED)
    if role == "admin":
        # An admin-only account cannot write a draft, so give it one: the question is whether it may submit.
        own_draft = make_entry(owner, title="管理员名下的草稿")
        with app.app_context():
            db.session.execute(update(Entry).where(Entry.id == own_draft).values(author_id=user_id))
            db.session.commit()
    else:
        own_draft = make_entry(user_id, title="自己的草稿")
    user = browser("subject")

    def entries_by_subject():
        with app.app_context():
            return db.session.scalar(select(db.func.count(Entry.id)).where(Entry.author_id == user_id,
                                                                           Entry.title == "电话邀约的开场白"))

    observed, effects = {}, {}
    observed["create entry"] = user.form_post("/entries/new", entry_form()).status_code
    effects["create entry"] = entries_by_subject() == 1
    observed["submit own draft"] = user.form_post(f"/entries/{own_draft}/submit").status_code
    effects["submit own draft"] = state(app, own_draft)[0] == Status.PENDING
    observed["view queue"] = user.get("/review").status_code
    effects["view queue"] = observed["view queue"] == 200
    observed["review a pending entry"] = user.form_post(f"/review/{pending}", review_form("adopt")).status_code
    effects["review a pending entry"] = state(app, pending)[0] == Status.ADOPTED
    observed["vote helpful"] = user.form_post(f"/entries/{adopted}/helpful").status_code
    with app.app_context():
        effects["vote helpful"] = db.session.get(HelpfulVote, (adopted, user_id)) is not None
    observed["retract"] = user.form_post(f"/entries/{adopted}/retract", {"reason": "内容过时"}).status_code
    effects["retract"] = state(app, adopted)[0] == Status.RETRACTED

    assert tuple(observed[a] for a in ACTIONS) == EXPECTED[role], observed
    # A 2xx/3xx answer did the thing; a refusal changed nothing.
    assert effects == {a: EXPECTED[role][i] < 400 for i, a in enumerate(ACTIONS)}


AUDIT_EXPECTED = {"agent": 403, "reviewer": 403, "leader": 403, "admin": 200}


@pytest.mark.parametrize("role", list(AUDIT_EXPECTED))
def test_permission_matrix_audit_log_column(app, make_user, browser, submitted, role):
    if "/admin/audit" not in {rule.rule for rule in app.url_map.iter_rules()}:
        pytest.skip("GET /admin/audit does not exist in the app yet: the audit-log column of the matrix is skipped")
    make_user("subject", roles=ROLES[role])
    submitted(make_user("owner"), title="写入审计日志的条目")
    response = browser("subject").get("/admin/audit")
    assert response.status_code == AUDIT_EXPECTED[role]
    if response.status_code == 200:
        assert "submitted" in response.get_data(as_text=True)  # the submission just made is in the log


# --- REVIEWS_REQUIRED -----------------------------------------------------------------------------


def test_two_required_reviews_adopt_on_the_second_adopt_by_another_reviewer(app, staff, api, client, submitted):
    app.config["REVIEWS_REQUIRED"] = 2
    entry_id = submitted(staff["alice"], kind="client_case")
    first = client.post(f"{API}/entries/{entry_id}/reviews", headers=api("rita"),
                        json=verdict(scores={"accuracy": 5, "usefulness": 5, "clarity": 5, "originality": 4}))
    assert first.status_code == 201 and first.get_json()["status"] == "pending"
    assert state(app, entry_id) == (Status.PENDING, None, 1, 1)
    assert [row[2] for row in ledger(app)] == ["review"]
    assert ("alice", "adopted") not in notified(app, entry_id)

    error_of(client.post(f"{API}/entries/{entry_id}/reviews", json=verdict(), headers=api("rita")), 409,
             "already_reviewed")

    second = client.post(f"{API}/entries/{entry_id}/reviews", headers=api("ray"),
                         json=verdict(scores={s: 3 for s in CRITERIA}))
    assert second.status_code == 201 and second.get_json()["status"] == "adopted"
    assert state(app, entry_id) == (Status.ADOPTED, 1, 1, 1)
    # Quality is the mean of every score of both adopting reviews: 31/8 = 3.875; 20 × 3.875/3 = 25.83 → 26.
    assert ledger(app)[1:] == [("ray", 2, "review", f"review:{entry_id}:1:{staff['ray']}"),
                               ("alice", 26, "entry_adopted", f"adopt:entry:{entry_id}")]
    assert [r[:3] for r in reviews(app, entry_id)] == [("rita", 1, "adopt"), ("ray", 1, "adopt")]
    assert audit_actions(app, entry_id).count("decision:adopt") == 2


def test_with_two_required_one_reject_rejects_and_adopts_count_per_revision(app, staff, make_user, api, client,
                                                                            submitted):
    app.config["REVIEWS_REQUIRED"] = 2
    make_user("remy", roles=["reviewer"])
    rejected = submitted(staff["alice"], title="会被驳回的")
    client.post(f"{API}/entries/{rejected}/reviews", json=verdict(), headers=api("rita"))
    response = client.post(f"{API}/entries/{rejected}/reviews", json=verdict("reject", comment="不合规"),
                           headers=api("ray"))
    assert response.get_json()["status"] == "rejected"
    assert state(app, rejected)[0] == Status.REJECTED

    returned = submitted(staff["alice"], title="会被退回的")
    client.post(f"{API}/entries/{returned}/reviews", json=verdict(), headers=api("rita"))
    client.post(f"{API}/entries/{returned}/reviews", json=verdict("revise", comment="再补充"), headers=api("ray"))
    client.put(f"{API}/entries/{returned}", headers=api("alice"),
               json={"title": "会被退回的", "body": "补充后的正文", "kind": "objection_handling", "base_revision": 1})
    client.post(f"{API}/entries/{returned}/submit", headers=api("alice"))
    # Rita's adopt of revision 1 does not count for revision 2: one new adopt is not enough.
    assert client.post(f"{API}/entries/{returned}/reviews", json=verdict(),
                       headers=api("remy")).get_json()["status"] == "pending"
    assert client.post(f"{API}/entries/{returned}/reviews", json=verdict(),
                       headers=api("rita")).get_json()["status"] == "adopted"
    assert state(app, returned) == (Status.ADOPTED, 2, 2, 2)
    assert [r[2] for r in ledger(app) if r[3] == f"adopt:entry:{returned}"] == ["entry_adopted"]
    assert not [r for r in ledger(app) if r[3] == f"adopt:entry:{rejected}"]
