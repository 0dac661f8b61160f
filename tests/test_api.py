"""The JSON API over HTTP (DESIGN §8): bearer tokens, entries, categories, limits, errors, OpenAPI."""
import base64
import hashlib
import re
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from conftest import PASSWORD
from kmwiki.extensions import db
from kmwiki.models import ApiToken, Entry, Revision, Status, User
from kmwiki.models.base import utcnow

API = "/api/v1"
ENTRY = {"title": "客户嫌重疾险保费贵", "body": "先倾听，再算**保障缺口**。", "kind": "objection_handling",
         "products": ["critical_illness"], "segments": ["young_family"], "tags": ["保费", "重疾"]}


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def issue_token(client, username, password=PASSWORD):
    """A fresh bearer token for a user, through the API."""
    response = client.post(f"{API}/tokens", json={"username": username, "password": password})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["token"]


def assert_error(response, status, code=None):
    """The response is the JSON error envelope with this status; returns the inner error object."""
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/json"
    assert "Location" not in response.headers
    error = response.get_json()["error"]
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    if code is not None:
        assert error["code"] == code
    return error


def entry_count(app):
    with app.app_context():
        return db.session.scalar(select(db.func.count(Entry.id)))


def revisions_of(app, entry_id):
    """(number, title, body, author username) of every stored revision, oldest first."""
    with app.app_context():
        rows = db.session.scalars(select(Revision).where(Revision.entry_id == entry_id).order_by(Revision.number))
        return [(r.number, r.title, r.body, r.author.username) for r in rows]


@pytest.fixture
def token_for(client):
    """Issue a token: token_for("alice")."""
    return lambda username, password=PASSWORD: issue_token(client, username, password)


# --- tokens ---------------------------------------------------------------------------------------


def test_valid_credentials_get_a_token_that_reads_entries(app, client, make_user, make_entry):
    alice = make_user("alice")
    make_entry(alice, title="已采纳的经验", status=Status.ADOPTED)
    response = client.post(f"{API}/tokens", json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 201
    assert response.mimetype == "application/json"
    body = response.get_json()
    token = body["token"]
    assert isinstance(token, str) and len(token) >= 32
    assert body["token_type"] == "Bearer"
    with app.app_context():
        row = db.session.scalar(select(ApiToken))
        assert row.user.username == "alice"
        assert row.digest == hashlib.sha256(token.encode()).hexdigest()  # only the digest is stored
        assert row.revoked_at is None and row.expires_at > utcnow()
    listing = client.get(f"{API}/entries", headers=bearer(token))
    assert listing.status_code == 200
    assert [e["title"] for e in listing.get_json()["results"]] == ["已采纳的经验"]


def test_bad_credentials_get_a_401_envelope_and_no_token(app, client, make_user):
    make_user("alice")
    for credentials in ({"username": "alice", "password": "wrong-password"}, {"username": "nobody", "password": PASSWORD},
                        {"username": "", "password": ""}, {"username": "alice"}, {}):
        response = client.post(f"{API}/tokens", json=credentials)
        assert_error(response, 401, "unauthorized")
        assert "token" not in response.get_json()
    with app.app_context():
        assert db.session.scalar(select(db.func.count(ApiToken.id))) == 0


def test_token_request_that_is_not_a_json_object_is_400(app, client, make_user):
    make_user("alice")
    for kwargs in ({"data": f"username=alice&password={PASSWORD}", "content_type": "application/x-www-form-urlencoded"},
                   {"data": '{"username": "alice",', "content_type": "application/json"},
                   {"data": "", "content_type": "application/json"},
                   {"json": ["alice", PASSWORD]}):
        assert_error(client.post(f"{API}/tokens", **kwargs), 400)
    with app.app_context():
        assert db.session.scalar(select(db.func.count(ApiToken.id))) == 0


def test_token_endpoint_is_rate_limited(app, client, make_user):
    app.config["LOGIN_RATE_LIMIT"] = "3 per minute"
    make_user("alice")
    statuses = [client.post(f"{API}/tokens", json={"username": "alice", "password": "wrong-password"}).status_code
                for _ in range(3)]
    assert statuses == [401, 401, 401]
    assert_error(client.post(f"{API}/tokens", json={"username": "alice", "password": PASSWORD}), 429)


# --- authentication -------------------------------------------------------------------------------


@pytest.mark.parametrize("authorization", [
    None, "", "garbage", "Bearer", "Bearer ", "Bearer not-a-real-token", "Token abc",
    "Basic " + base64.b64encode(f"alice:{PASSWORD}".encode()).decode(),
], ids=["none", "empty", "garbage", "bearer-only", "bearer-blank", "unknown-token", "other-scheme", "basic"])
def test_requests_without_a_valid_bearer_token_get_401_json(app, client, make_user, authorization):
    make_user("alice")
    for accept in ("application/json", "text/html"):
        headers = {"Accept": accept}
        if authorization is not None:
            headers["Authorization"] = authorization
        for response in (client.get(f"{API}/entries", headers=headers),
                         client.post(f"{API}/entries", json=ENTRY, headers=headers),
                         client.delete(f"{API}/tokens/current", headers=headers)):
            assert_error(response, 401, "unauthorized")  # never a redirect to /login, never an HTML page
    assert entry_count(app) == 0


def test_session_cookie_alone_does_not_authenticate_the_api(app, client, make_user):
    make_user("alice")
    assert client.login("alice").status_code == 302
    assert client.get("/").status_code == 200  # the browser session itself works
    assert_error(client.get(f"{API}/entries"), 401)
    assert_error(client.post(f"{API}/entries", json=ENTRY), 401)
    assert entry_count(app) == 0


def test_bearer_scheme_is_case_insensitive(client, make_user, token_for):
    make_user("alice")
    token = token_for("alice")
    assert client.get(f"{API}/entries", headers={"Authorization": f"bearer {token}"}).status_code == 200


# --- tokens die -----------------------------------------------------------------------------------


def test_web_logout_ends_api_tokens(make_client, make_user):
    make_user("alice")
    browser, api = make_client(), make_client()
    token = issue_token(api, "alice")
    assert api.get(f"{API}/entries", headers=bearer(token)).status_code == 200
    browser.login("alice")
    assert browser.form_post("/logout").status_code == 302
    assert_error(api.get(f"{API}/entries", headers=bearer(token)), 401)
    fresh = issue_token(api, "alice")
    assert api.get(f"{API}/entries", headers=bearer(fresh)).status_code == 200


def test_password_change_ends_api_tokens(app, make_client, make_user):
    make_user("alice")
    browser, api = make_client(), make_client()
    token = issue_token(api, "alice")
    browser.login("alice")
    response = browser.form_post("/profile", {"current_password": PASSWORD,
                                              "new_password": "new-pass-123", "confirm": "new-pass-123"})
    assert response.status_code == 302
    assert_error(api.get(f"{API}/entries", headers=bearer(token)), 401)
    assert_error(api.post(f"{API}/tokens", json={"username": "alice", "password": PASSWORD}), 401)
    fresh = issue_token(api, "alice", "new-pass-123")
    assert api.get(f"{API}/entries", headers=bearer(fresh)).status_code == 200


def test_revoking_the_current_token_ends_only_that_token(app, client, make_user, token_for):
    make_user("alice")
    token, other = token_for("alice"), token_for("alice")
    response = client.delete(f"{API}/tokens/current", headers=bearer(token))
    assert response.status_code == 204
    assert response.get_data() == b""
    with app.app_context():
        row = db.session.scalar(select(ApiToken).where(ApiToken.digest == hashlib.sha256(token.encode()).hexdigest()))
        assert row.revoked_at is not None
    assert_error(client.get(f"{API}/entries", headers=bearer(token)), 401)
    assert_error(client.delete(f"{API}/tokens/current", headers=bearer(token)), 401)
    assert client.get(f"{API}/entries", headers=bearer(other)).status_code == 200


def test_expired_token_is_refused(app, client, make_user, token_for):
    make_user("alice")
    token = token_for("alice")
    assert client.get(f"{API}/entries", headers=bearer(token)).status_code == 200
    with app.app_context():
        db.session.execute(update(ApiToken).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    assert_error(client.get(f"{API}/entries", headers=bearer(token)), 401)


def test_deactivated_users_token_is_refused(app, client, make_user, token_for):
    make_user("alice")
    token = token_for("alice")
    with app.app_context():
        db.session.execute(update(User).where(User.username == "alice").values(active=False))
        db.session.commit()
    assert_error(client.get(f"{API}/entries", headers=bearer(token)), 401)
    assert_error(client.post(f"{API}/tokens", json={"username": "alice", "password": PASSWORD}), 401)


# --- create ---------------------------------------------------------------------------------------


def test_agent_creates_a_draft(app, client, make_user, token_for):
    make_user("alice")
    response = client.post(f"{API}/entries", json=dict(ENTRY, note="首次记录"), headers=bearer(token_for("alice")))
    assert response.status_code == 201
    body = response.get_json()
    assert body == {"id": body["id"], "status": "draft", "revision": 1}
    with app.app_context():
        entry = db.session.get(Entry, body["id"])
        assert entry.author.username == "alice"
        assert entry.status == Status.DRAFT
        assert entry.title == ENTRY["title"] and entry.kind.slug == "objection_handling"
        assert [c.slug for c in entry.products] == ["critical_illness"]
        assert [c.slug for c in entry.segments] == ["young_family"]
        assert sorted(t.name for t in entry.tags) == sorted(ENTRY["tags"])
        assert entry.latest_number == 1 and entry.published_number is None
    assert revisions_of(app, body["id"]) == [(1, ENTRY["title"], ENTRY["body"], "alice")]


def test_lists_are_optional_when_creating(app, client, make_user, token_for):
    make_user("alice")
    response = client.post(f"{API}/entries", json={"title": "理赔材料清单", "body": "身份证、病历、发票。", "kind": "faq"},
                           headers=bearer(token_for("alice")))
    assert response.status_code == 201
    with app.app_context():
        entry = db.session.get(Entry, response.get_json()["id"])
        assert entry.categories == [] and entry.tags == []


def test_missing_fields_are_named(app, client, make_user, token_for):
    make_user("alice")
    error = assert_error(client.post(f"{API}/entries", json={}, headers=bearer(token_for("alice"))), 422, "invalid")
    assert {"title", "body", "kind"} <= set(error["fields"])
    assert all(isinstance(m, str) and m for msgs in error["fields"].values() for m in msgs)
    assert entry_count(app) == 0


WRONG_VALUES = [
    ({"title": "   "}, "title"),
    ({"title": "长" * 201}, "title"),
    ({"title": 42}, "title"),
    ({"body": " \n "}, "body"),
    ({"body": ["正文"]}, "body"),
    ({"kind": "no_such_kind"}, "kind"),
    ({"kind": 3}, "kind"),
    ({"products": ["spaceship"]}, "products"),
    ({"products": "medical"}, "products"),
    ({"segments": ["martians"]}, "segments"),
    ({"tags": "保费, 重疾"}, "tags"),
    ({"tags": 7}, "tags"),
    ({"tags": ["保费", 7]}, "tags"),
    ({"tags": [f"标签{i}" for i in range(11)]}, "tags"),
    ({"note": {"text": "x"}}, "note"),
]


def test_wrong_values_are_422_naming_the_field(app, client, make_user, token_for):
    make_user("alice")
    token = token_for("alice")
    for override, field in WRONG_VALUES:
        response = client.post(f"{API}/entries", json=dict(ENTRY, **override), headers=bearer(token))
        error = assert_error(response, 422, "invalid")
        assert field in error["fields"], (override, error)
        if field in ("products", "segments") and isinstance(override[field], list):
            assert override[field][0] in error["fields"][field][0]  # the unknown slug is named
    assert entry_count(app) == 0


def test_create_with_a_body_that_is_not_a_json_object_is_400(app, client, make_user, token_for):
    make_user("alice")
    token = token_for("alice")
    for kwargs in ({"json": [ENTRY]}, {"json": "title"}, {"data": "{", "content_type": "application/json"},
                   {"data": "title=x", "content_type": "application/x-www-form-urlencoded"}):
        assert_error(client.post(f"{API}/entries", headers=bearer(token), **kwargs), 400)
    assert entry_count(app) == 0


def test_admin_only_account_cannot_create_entries(app, client, make_user, token_for):
    make_user("root", roles=["admin"])
    assert_error(client.post(f"{API}/entries", json=ENTRY, headers=bearer(token_for("root"))), 403, "forbidden")
    assert entry_count(app) == 0


# --- read -----------------------------------------------------------------------------------------


def test_get_entry_returns_its_fields(client, make_user, make_entry, token_for):
    alice = make_user("alice", display_name="李丽")
    entry_id = make_entry(alice, title="客户说保费太贵怎么办", body="## 先倾听\n\n再算保障缺口。",
                          products=("critical_illness", "medical"), segments=("young_family",), tags=("保费",))
    response = client.get(f"{API}/entries/{entry_id}", headers=bearer(token_for("alice")))
    assert response.status_code == 200 and response.mimetype == "application/json"
    body = response.get_json()
    assert body["id"] == entry_id
    assert body["title"] == "客户说保费太贵怎么办"
    assert body["body"] == "## 先倾听\n\n再算保障缺口。"
    assert "先倾听</h2>" in body["html"] and "<p>再算保障缺口。</p>" in body["html"]
    assert body["kind"] == "objection_handling"
    assert body["products"] == ["medical", "critical_illness"]  # stored in the categories' display order
    assert body["segments"] == ["young_family"]
    assert body["tags"] == ["保费"]
    assert body["status"] == "draft"
    assert body["revision"] == 1 and body["published_revision"] is None
    assert body["author"] == {"username": "alice", "display_name": "李丽"}
    assert body["helpful_count"] == 0


def test_entry_html_is_sanitized(client, make_user, make_entry, token_for):
    alice = make_user("alice")
    entry_id = make_entry(alice, body='正文<script>alert("x")</script>\n\n[点我](javascript:alert(1))\n\n'
                                       '<img src=x onerror=alert(1)>')
    body = client.get(f"{API}/entries/{entry_id}", headers=bearer(token_for("alice"))).get_json()
    assert "<script>" in body["body"]  # the author's text is kept as typed
    html = body["html"].lower()
    assert "<script" not in html
    assert "&lt;script&gt;" in html  # shown as text, not dropped
    assert not re.search(r"<[a-z][^>]*\son\w+\s*=", html)  # no event-handler attribute on any tag
    assert not re.search(r"""href\s*=\s*["']?\s*javascript:""", html)


def test_drafts_are_hidden_from_other_agents_and_reviewers_but_not_admins(client, make_user, make_entry, token_for):
    alice = make_user("alice")
    make_user("bob")
    make_user("rita", roles=["reviewer", "agent"])
    make_user("root", roles=["admin"])
    entry_id = make_entry(alice, title="私人草稿")
    for name in ("bob", "rita"):
        token = token_for(name)
        error = assert_error(client.get(f"{API}/entries/{entry_id}", headers=bearer(token)), 404, "not_found")
        assert "私人草稿" not in error["message"]
        assert_error(client.get(f"{API}/entries/{entry_id}/revisions", headers=bearer(token)), 404)
    response = client.get(f"{API}/entries/{entry_id}", headers=bearer(token_for("root")))
    assert response.status_code == 200 and response.get_json()["title"] == "私人草稿"


def test_pending_entry_is_visible_to_reviewers_only(client, make_user, make_entry, token_for):
    alice = make_user("alice")
    make_user("bob")
    make_user("rita", roles=["reviewer", "agent"])
    entry_id = make_entry(alice, status=Status.PENDING)
    assert_error(client.get(f"{API}/entries/{entry_id}", headers=bearer(token_for("bob"))), 404)
    assert client.get(f"{API}/entries/{entry_id}", headers=bearer(token_for("rita"))).status_code == 200


def test_missing_entry_is_404(client, make_user, make_entry, token_for):
    alice = make_user("alice")
    entry_id = make_entry(alice, status=Status.ADOPTED)
    token = token_for("alice")
    assert_error(client.get(f"{API}/entries/{entry_id + 1000}", headers=bearer(token)), 404, "not_found")
    assert_error(client.get(f"{API}/entries/{entry_id + 1000}/revisions", headers=bearer(token)), 404)


def test_revision_parameter_returns_that_revision(client, make_user, make_entry, token_for):
    alice = make_user("alice")
    entry_id = make_entry(alice, body="第一版")
    token = token_for("alice")
    saved = client.put(f"{API}/entries/{entry_id}", json=dict(ENTRY, body="第二版", base_revision=1),
                       headers=bearer(token))
    assert saved.status_code == 200
    latest = client.get(f"{API}/entries/{entry_id}", headers=bearer(token)).get_json()
    assert (latest["body"], latest["revision"], latest["shown_revision"]) == ("第二版", 2, 2)
    first = client.get(f"{API}/entries/{entry_id}?revision=1", headers=bearer(token)).get_json()
    assert (first["body"], first["revision"], first["shown_revision"]) == ("第一版", 2, 1)
    assert first["title"] == "客户说保费太贵怎么办" and first["kind"] == "objection_handling"
    assert_error(client.get(f"{API}/entries/{entry_id}?revision=9", headers=bearer(token)), 404)


# --- update ---------------------------------------------------------------------------------------


def test_author_saves_an_edit_as_a_new_revision(app, client, make_user, make_entry, token_for):
    alice = make_user("alice")
    entry_id = make_entry(alice)
    response = client.put(f"{API}/entries/{entry_id}",
                          json=dict(ENTRY, title="新标题", body="补充了算账步骤", note="补充", base_revision=1),
                          headers=bearer(token_for("alice")))
    assert response.status_code == 200
    assert response.get_json() == {"id": entry_id, "status": "draft", "revision": 2}
    assert revisions_of(app, entry_id)[-1] == (2, "新标题", "补充了算账步骤", "alice")
    with app.app_context():
        entry = db.session.get(Entry, entry_id)
        assert entry.latest_number == 2 and entry.title == "新标题"
        assert sorted(t.name for t in entry.tags) == sorted(ENTRY["tags"])


def test_edit_needs_an_integer_base_revision(app, client, make_user, make_entry, token_for):
    alice = make_user("alice")
    entry_id = make_entry(alice)
    token = token_for("alice")
    for base in ("missing", None, "1", 1.5, True, False, [1]):
        payload = dict(ENTRY, body="改过的")
        if base != "missing":
            payload["base_revision"] = base
        error = assert_error(client.put(f"{API}/entries/{entry_id}", json=payload, headers=bearer(token)),
                             422, "invalid")
        assert "base_revision" in error["fields"], base
    assert [r[0] for r in revisions_of(app, entry_id)] == [1]


def test_edit_with_invalid_fields_is_422_and_saves_nothing(app, client, make_user, make_entry, token_for):
    alice = make_user("alice")
    entry_id = make_entry(alice)
    response = client.put(f"{API}/entries/{entry_id}", json=dict(ENTRY, title="", products=["spaceship"],
                                                                 base_revision=1),
                          headers=bearer(token_for("alice")))
    error = assert_error(response, 422)
    assert {"title", "products"} <= set(error["fields"])
    assert [r[0] for r in revisions_of(app, entry_id)] == [1]


def test_stale_base_revision_is_a_409_and_nothing_is_overwritten(app, client, make_user, make_entry, token_for):
    alice = make_user("alice")
    make_user("bob")
    entry_id = make_entry(alice, status=Status.ADOPTED, body="原文")
    first = client.put(f"{API}/entries/{entry_id}", json=dict(ENTRY, body="爱丽丝的修改", base_revision=1),
                       headers=bearer(token_for("alice")))
    assert first.status_code == 200 and first.get_json()["revision"] == 2
    stale = client.put(f"{API}/entries/{entry_id}", json=dict(ENTRY, body="鲍勃的修改", base_revision=1),
                       headers=bearer(token_for("bob")))
    error = assert_error(stale, 409, "edit_conflict")
    assert error["current_revision"] == 2
    assert [(r[0], r[2], r[3]) for r in revisions_of(app, entry_id)] == [(1, "原文", "alice"), (2, "爱丽丝的修改", "alice")]
    with app.app_context():
        assert db.session.get(Entry, entry_id).latest_number == 2


def test_future_base_revision_is_also_a_conflict(app, client, make_user, make_entry, token_for):
    alice = make_user("alice")
    entry_id = make_entry(alice)
    response = client.put(f"{API}/entries/{entry_id}", json=dict(ENTRY, body="新内容", base_revision=5),
                          headers=bearer(token_for("alice")))
    assert assert_error(response, 409, "edit_conflict")["current_revision"] == 1
    assert [r[0] for r in revisions_of(app, entry_id)] == [1]


def test_other_agent_cannot_edit_someones_draft(app, client, make_user, make_entry, token_for):
    alice = make_user("alice")
    make_user("bob")
    entry_id = make_entry(alice, body="爱丽丝的草稿")
    response = client.put(f"{API}/entries/{entry_id}", json=dict(ENTRY, body="鲍勃改的", base_revision=1),
                          headers=bearer(token_for("bob")))
    assert_error(response, 404, "not_found")  # the draft is invisible to bob, so it is not even there
    assert revisions_of(app, entry_id) == [(1, "客户说保费太贵怎么办", "爱丽丝的草稿", "alice")]


def test_admin_may_read_but_not_edit_someones_draft(app, client, make_user, make_entry, token_for):
    alice = make_user("alice")
    make_user("root", roles=["admin"])
    entry_id = make_entry(alice)
    response = client.put(f"{API}/entries/{entry_id}", json=dict(ENTRY, body="管理员改的", base_revision=1),
                          headers=bearer(token_for("root")))
    assert_error(response, 403, "forbidden")
    assert [r[0] for r in revisions_of(app, entry_id)] == [1]


def test_pending_entry_cannot_be_edited(app, client, make_user, make_entry, token_for):
    alice = make_user("alice")
    make_user("rita", roles=["reviewer", "agent"])
    entry_id = make_entry(alice, status=Status.PENDING)
    for name in ("alice", "rita"):
        response = client.put(f"{API}/entries/{entry_id}", json=dict(ENTRY, body="审核中改的", base_revision=1),
                              headers=bearer(token_for(name)))
        assert_error(response, 409, "conflict")
    assert [r[0] for r in revisions_of(app, entry_id)] == [1]


def test_any_agent_edits_adopted_knowledge_and_readers_keep_the_adopted_text(app, client, make_user, make_entry,
                                                                               token_for):
    alice = make_user("alice")
    make_user("bob")
    make_user("carol")
    entry_id = make_entry(alice, title="已采纳的标题", body="已采纳的原文", status=Status.ADOPTED)
    response = client.put(f"{API}/entries/{entry_id}",
                          json=dict(ENTRY, title="鲍勃的新标题", body="鲍勃的改进", base_revision=1),
                          headers=bearer(token_for("bob")))
    assert response.status_code == 200
    assert response.get_json() == {"id": entry_id, "status": "adopted", "revision": 2}
    assert revisions_of(app, entry_id)[-1] == (2, "鲍勃的新标题", "鲍勃的改进", "bob")
    carol = bearer(token_for("carol"))
    body = client.get(f"{API}/entries/{entry_id}", headers=carol).get_json()
    assert (body["title"], body["body"]) == ("已采纳的标题", "已采纳的原文")
    assert "已采纳的原文" in body["html"] and "鲍勃" not in body["html"]
    assert (body["revision"], body["published_revision"], body["shown_revision"]) == (2, 1, 1)
    assert body["status"] == "adopted"
    listed = client.get(f"{API}/entries", headers=carol).get_json()["results"]
    assert [e["title"] for e in listed] == ["已采纳的标题"]
    with app.app_context():
        entry = db.session.get(Entry, entry_id)
        assert (entry.published_number, entry.latest_number, entry.title) == (1, 2, "已采纳的标题")


def test_saving_unchanged_content_adds_no_revision(app, client, make_user, token_for):
    make_user("alice")
    token = token_for("alice")
    entry_id = client.post(f"{API}/entries", json=ENTRY, headers=bearer(token)).get_json()["id"]
    response = client.put(f"{API}/entries/{entry_id}", json=dict(ENTRY, base_revision=1), headers=bearer(token))
    assert response.status_code == 200 and response.get_json()["revision"] == 1
    assert [r[0] for r in revisions_of(app, entry_id)] == [1]


# --- list -----------------------------------------------------------------------------------------


@pytest.fixture
def catalogue(make_user, make_entry):
    """Three adopted entries by alice and bob, plus private drafts of both."""
    alice, bob = make_user("alice"), make_user("bob")
    ids = {
        "family": make_entry(alice, title="家庭保障方案", kind="client_case", products=("critical_illness", "life"),
                             segments=("young_family",), tags=("家庭保障",), status=Status.ADOPTED),
        "claims": make_entry(bob, title="理赔材料清单", kind="claims_service", products=("medical",),
                             segments=("general",), tags=("出险",), status=Status.ADOPTED),
        "pension": make_entry(bob, title="养老规划话术", kind="sales_technique", products=("annuity",),
                              segments=("retirement",), tags=("养老", "家庭保障"), status=Status.ADOPTED),
        "alice_draft": make_entry(alice, title="爱丽丝的草稿", kind="client_case", products=("critical_illness",),
                                  segments=("young_family",), tags=("家庭保障",)),
        "bob_draft": make_entry(bob, title="鲍勃的草稿", kind="claims_service", products=("medical",),
                                segments=("general",), tags=("出险",)),
    }
    return ids


def titles(client, token, query=""):
    response = client.get(f"{API}/entries{query}", headers=bearer(token))
    assert response.status_code == 200
    body = response.get_json()
    return body["total"], sorted(e["title"] for e in body["results"])


def test_list_shows_visible_entries_with_summaries(client, catalogue, token_for):
    token = token_for("alice")
    body = client.get(f"{API}/entries", headers=bearer(token)).get_json()
    assert body["total"] == 4 and body["page"] == 1 and body["per_page"] == 20
    assert sorted(e["title"] for e in body["results"]) == ["养老规划话术", "家庭保障方案", "爱丽丝的草稿", "理赔材料清单"]
    claims = next(e for e in body["results"] if e["id"] == catalogue["claims"])
    assert claims["kind"] == "claims_service" and claims["status"] == "adopted" and claims["author"] == "bob"
    assert claims["products"] == ["medical"] and claims["segments"] == ["general"] and claims["tags"] == ["出险"]
    assert claims["url"] == f"{API}/entries/{catalogue['claims']}"
    assert client.get(claims["url"], headers=bearer(token)).status_code == 200


def test_list_filters_show_only_visible_matches(client, catalogue, make_user, token_for):
    make_user("carol")  # carol has no drafts, so every match she gets must be adopted
    token = token_for("carol")
    for query, expected in (
        ("?kind=client_case", ["家庭保障方案"]),
        ("?kind=faq", []),
        ("?product=critical_illness", ["家庭保障方案"]),
        ("?product=medical", ["理赔材料清单"]),
        ("?segment=retirement", ["养老规划话术"]),
        ("?segment=general", ["理赔材料清单"]),
        ("?tag=家庭保障", ["养老规划话术", "家庭保障方案"]),
        ("?tag=出险", ["理赔材料清单"]),
        ("?tag=没有这个标签", []),
        ("?status=draft", []),
        ("?status=adopted", ["养老规划话术", "家庭保障方案", "理赔材料清单"]),
        ("?product=medical&segment=general", ["理赔材料清单"]),
        ("?tag=家庭保障&segment=young_family", ["家庭保障方案"]),
    ):
        assert titles(client, token, query) == (len(expected), sorted(expected)), query


def test_mine_filter_lists_own_entries_including_drafts(client, catalogue, token_for):
    token = token_for("bob")
    for query, expected in (
        ("?mine=1", ["养老规划话术", "理赔材料清单", "鲍勃的草稿"]),
        ("?mine=true&tag=出险", ["理赔材料清单", "鲍勃的草稿"]),
        ("?mine=1&status=draft", ["鲍勃的草稿"]),
        ("?mine=0", ["养老规划话术", "家庭保障方案", "理赔材料清单", "鲍勃的草稿"]),
    ):
        assert titles(client, token, query) == (len(expected), sorted(expected)), query


@pytest.mark.parametrize("query, expected", [
    ("?kind=client_case&product=critical_illness", ["家庭保障方案"]),
    ("?kind=claims_service&segment=general", ["理赔材料清单"]),
    ("?kind=sales_technique&product=annuity&segment=retirement&tag=养老", ["养老规划话术"]),
], ids=["kind+product", "kind+segment", "all-four"])
def test_list_filters_combine_kind_with_product_or_segment(client, catalogue, make_user, token_for, query, expected):
    make_user("carol")
    assert titles(client, token_for("carol"), query) == (len(expected), expected)


def test_drafts_of_others_never_appear_in_results_or_totals(client, catalogue, make_user, token_for):
    make_user("rita", roles=["reviewer", "agent"])
    for name, own_draft in (("alice", "爱丽丝的草稿"), ("rita", None)):
        token = token_for(name)
        for query in ("", "?status=draft", "?kind=claims_service", "?product=medical", "?tag=出险", "?per_page=1"):
            body = client.get(f"{API}/entries{query}", headers=bearer(token)).get_json()
            found = {e["title"] for e in body["results"]}
            assert "鲍勃的草稿" not in found
            assert own_draft is not None or "爱丽丝的草稿" not in found
        assert titles(client, token, "?status=draft") == ((1, [own_draft]) if own_draft else (0, []))
        assert titles(client, token, "")[0] == (4 if own_draft else 3)
    make_user("root", roles=["admin"])
    assert titles(client, token_for("root"), "")[0] == 5


def test_list_pages_through_entries(client, make_user, make_entry, token_for):
    alice = make_user("alice")
    ids = [make_entry(alice, title=f"经验{i}", status=Status.ADOPTED) for i in range(5)]
    token = token_for("alice")
    seen = []
    for page in (1, 2, 3):
        body = client.get(f"{API}/entries?per_page=2&page={page}", headers=bearer(token)).get_json()
        assert body["total"] == 5 and body["page"] == page and body["per_page"] == 2
        assert len(body["results"]) == (2 if page < 3 else 1)
        seen += [e["id"] for e in body["results"]]
    assert sorted(seen) == sorted(ids)  # every entry exactly once
    assert seen == sorted(ids, reverse=True)  # newest first
    beyond = client.get(f"{API}/entries?per_page=2&page=4", headers=bearer(token)).get_json()
    assert beyond["results"] == [] and beyond["total"] == 5
    clamped = client.get(f"{API}/entries?per_page=0&page=0", headers=bearer(token)).get_json()
    assert (clamped["per_page"], clamped["page"], len(clamped["results"])) == (1, 1, 1)
    assert client.get(f"{API}/entries?per_page=5000", headers=bearer(token)).get_json()["per_page"] == 100


# --- revisions and categories ---------------------------------------------------------------------


def test_revisions_are_listed_newest_first(client, make_user, make_entry, token_for):
    alice = make_user("alice")
    make_user("bob")
    entry_id = make_entry(alice, status=Status.ADOPTED)
    client.put(f"{API}/entries/{entry_id}", json=dict(ENTRY, body="二", note="第二次", base_revision=1),
               headers=bearer(token_for("alice")))
    client.put(f"{API}/entries/{entry_id}", json=dict(ENTRY, title="三", body="三", base_revision=2),
               headers=bearer(token_for("bob")))
    response = client.get(f"{API}/entries/{entry_id}/revisions", headers=bearer(token_for("alice")))
    assert response.status_code == 200
    revisions = response.get_json()["revisions"]
    assert [(r["number"], r["author"], r["published"]) for r in revisions] == [
        (3, "bob", False), (2, "alice", False), (1, "alice", True)]
    assert revisions[0]["title"] == "三" and revisions[1]["note"] == "第二次"
    assert all(r["created_at"] for r in revisions)
    # Alice's unpublished revision 2 is not bob's to read (test_revision_access has the whole rule).
    listed = client.get(f"{API}/entries/{entry_id}/revisions", headers=bearer(token_for("bob"))).get_json()
    assert [(r["number"], r["author"]) for r in listed["revisions"]] == [(3, "bob"), (1, "alice")]


def test_categories_list_the_design_slugs(client, make_user, token_for):
    make_user("alice")
    response = client.get(f"{API}/categories", headers=bearer(token_for("alice")))
    assert response.status_code == 200
    body = response.get_json()
    assert {c["slug"] for c in body["kinds"]} == {
        "client_case", "sales_technique", "objection_handling", "product_knowledge", "claims_service", "faq"}
    assert {c["slug"] for c in body["products"]} == {
        "medical", "critical_illness", "accident", "life", "annuity", "participating", "property", "auto"}
    assert {c["slug"] for c in body["segments"]} == {
        "single", "young_family", "child_education", "retirement", "high_value", "potential", "general"}
    assert {"slug": "claims_service", "name_zh": "理赔服务", "name_en": "Claims service", "group": ""} in body["kinds"]
    groups = {c["slug"]: c["group"] for c in body["segments"]}
    assert groups["young_family"] == "life_stage" and groups["high_value"] == "value_tier"
    assert_error(client.get(f"{API}/categories"), 401)


# --- limits and errors ----------------------------------------------------------------------------


def test_body_over_the_size_limit_is_413_json(app, client, make_user, make_entry, token_for):
    alice = make_user("alice")
    entry_id = make_entry(alice)
    token = token_for("alice")
    app.config["MAX_CONTENT_LENGTH"] = 1000
    big = dict(ENTRY, body="很长的正文" * 400)
    assert_error(client.post(f"{API}/entries", json=big, headers=bearer(token)), 413)
    assert_error(client.put(f"{API}/entries/{entry_id}", json=dict(big, base_revision=1), headers=bearer(token)), 413)
    assert_error(client.post(f"{API}/tokens", json={"username": "alice", "password": "x" * 2000}), 413)
    assert entry_count(app) == 1
    assert [r[0] for r in revisions_of(app, entry_id)] == [1]
    assert client.post(f"{API}/entries", json=ENTRY, headers=bearer(token)).status_code == 201


def test_unknown_api_path_is_a_json_404(client, make_user, token_for):
    make_user("alice")
    token = token_for("alice")
    for path in (f"{API}/nope", f"{API}/entries/abc", "/api/v2/entries"):
        for headers in ({}, bearer(token), {"Accept": "text/html"}):
            assert_error(client.get(path, headers=headers), 404)


def test_wrong_method_is_a_json_405(client, make_user, make_entry, token_for):
    alice = make_user("alice")
    entry_id = make_entry(alice)
    token = token_for("alice")
    for method, path in (("delete", f"{API}/entries"), ("patch", f"{API}/entries/{entry_id}"),
                         ("get", f"{API}/tokens"), ("post", f"{API}/categories"), ("put", f"{API}/openapi.json")):
        for headers in (bearer(token), {"Accept": "text/html"}):
            assert_error(getattr(client, method)(path, headers=headers), 405)


# --- OpenAPI --------------------------------------------------------------------------------------


def test_openapi_document_is_public(client):
    response = client.get(f"{API}/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    document = response.get_json()
    assert document["openapi"] == "3.1.0"
    assert document["info"]["title"] and document["info"]["version"]
    assert document["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer"}
    assert document["paths"]["/tokens"]["post"]["security"] == []


def test_openapi_describes_every_api_route_and_method(app, client):
    paths = client.get(f"{API}/openapi.json").get_json()["paths"]
    described = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(API) or rule.rule == f"{API}/openapi.json":
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule[len(API):])
        assert path in paths, f"{rule.rule} is not described"
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert method.lower() in paths[path], f"{method} {rule.rule} is not described"
            described.add((method.lower(), path))
            operation = paths[path][method.lower()]
            assert operation["responses"] and operation["operationId"]
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path":
                    assert "{" + parameter["name"] + "}" in path
    assert ("post", "/tokens") in described and ("put", "/entries/{entry_id}") in described
    assert len(described) >= 8


def test_openapi_references_all_resolve(client):
    document = client.get(f"{API}/openapi.json").get_json()
    schemas = document["components"]["schemas"]

    def refs(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "$ref":
                    yield value
                else:
                    yield from refs(value)
        elif isinstance(node, list):
            for item in node:
                yield from refs(item)

    found = list(refs(document))
    assert found
    for ref in found:
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.removeprefix("#/components/schemas/") in schemas, ref


def test_error_responses_carry_the_headers_their_status_promises(client, make_user):
    assert client.delete("/api/v1/entries").headers["Allow"]
    unauthorized = client.get("/api/v1/entries")
    assert unauthorized.headers["WWW-Authenticate"].startswith("Bearer")


def test_revision_zero_is_not_the_current_revision(client, make_user, make_entry):
    alice = make_user("alice")
    entry_id = make_entry(alice)
    token = client.post("/api/v1/tokens", json={"username": "alice", "password": PASSWORD}).get_json()["token"]
    response = client.get(f"/api/v1/entries/{entry_id}?revision=0", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 404
