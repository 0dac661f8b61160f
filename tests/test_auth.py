"""Sign-in, sessions, password change, CSRF, rate limits and language choice, over HTTP."""
import subprocess
import sys
import time

import pytest
from sqlalchemy import select

from conftest import PASSWORD, WikiClient
from kmwiki import ROOT, create_app
from kmwiki.extensions import db
from kmwiki.models import AuditEvent, User

REDIS_URL = "redis://127.0.0.1:6379"


def test_anonymous_is_sent_to_login(client):
    response = client.get("/entries/new")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_login_and_logout(client, make_user):
    make_user("alice", display_name="李丽")
    response = client.login("alice")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert "李丽" in client.get("/").get_data(as_text=True)
    response = client.form_post("/logout")
    assert response.status_code == 302
    assert client.get("/").status_code == 302


def test_wrong_password_shows_error_and_keeps_username(client, make_user):
    make_user("alice")
    response = client.login("alice", "wrong-password")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "用户名或密码错误" in page
    assert 'value="alice"' in page


def test_unknown_user_cannot_login(client):
    assert client.login("nobody").status_code == 200
    assert client.get("/").status_code == 302


def test_login_redirects_only_to_local_next(client, make_user):
    make_user("alice")
    token = client.csrf_token()
    data = {"username": "alice", "password": "secret-pass-1", "csrf_token": token}
    response = client.post("/login", data=dict(data, next="https://evil.example/x"))
    assert response.headers["Location"] == "/"
    client.form_post("/logout")
    response = client.post("/login", data=dict(data, next="/entries?kind=faq", csrf_token=client.csrf_token()))
    assert response.headers["Location"] == "/entries?kind=faq"


def test_post_without_csrf_token_is_refused(client, make_user):
    make_user("alice")
    response = client.post("/login", data={"username": "alice", "password": "secret-pass-1"})
    assert response.status_code == 400
    assert client.get("/").status_code == 302


def test_logout_invalidates_copied_session_cookie(app, client, make_user):
    make_user("alice")
    client.login("alice")
    stolen = client.get_cookie("session").value
    client.form_post("/logout")
    other = app.test_client()
    other.set_cookie("session", stolen)
    assert other.get("/").status_code == 302


def test_password_change_ends_other_sessions_but_not_this_one(app, client, make_user):
    make_user("alice")
    client.login("alice")
    second = app.test_client()
    second.login("alice")
    response = client.form_post("/profile", {"current_password": "secret-pass-1",
                                             "new_password": "new-pass-123", "confirm": "new-pass-123"})
    assert response.status_code == 302
    assert client.get("/").status_code == 200
    assert second.get("/").status_code == 302
    client.form_post("/logout")
    assert client.login("alice", "new-pass-123").headers["Location"] == "/"


def test_password_change_with_wrong_current_password_fails(client, make_user):
    make_user("alice")
    client.login("alice")
    response = client.form_post("/profile", {"current_password": "nope-nope",
                                             "new_password": "new-pass-123", "confirm": "new-pass-123"})
    assert response.status_code == 200
    assert "当前密码不正确" in response.get_data(as_text=True)


def test_login_is_rate_limited(app, client, make_user):
    app.config["LOGIN_RATE_LIMIT"] = "3 per minute"
    make_user("alice")
    answers = [client.login("alice", "wrong-password") for _ in range(4)]
    assert [answer.status_code for answer in answers] == [200, 200, 200, 429]
    assert [answer.headers["X-RateLimit-Remaining"] for answer in answers[:3]] == ["2", "1", "0"]
    assert "Retry-After" in answers[3].headers
    assert "X-RateLimit-Remaining" not in client.get("/login").headers  # no limit on showing the form


APP_WIDE_LIMIT = """
import sys
from kmwiki import create_app
app = create_app({"SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": "sqlite:///" + sys.argv[1],
                  "RATELIMIT_DEFAULT": "2 per minute"})
print([app.test_client().get("/login").status_code for _ in range(3)])
"""


def test_app_wide_limits_apply_when_configured(tmp_path, monkeypatch):
    """Without app-wide limits the check before every request is left out (kmwiki/extensions.py);
    with one configured it is there and counts every page. In a process of its own: the limiter
    keeps the first default limits it is given for the life of the process."""
    monkeypatch.setenv("KMWIKI_INSTANCE_PATH", str(tmp_path))
    plain = create_app({"SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'a.db'}"})
    assert [plain.test_client().get("/login").status_code for _ in range(3)] == [200, 200, 200]
    run = subprocess.run([sys.executable, "-c", APP_WIDE_LIMIT, str(tmp_path / "b.db")], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert run.stdout.strip() == "[200, 200, 429]", run.stderr


def test_language_switch_is_remembered(app, client, make_user):
    make_user("alice")
    client.login("alice")
    assert 'lang="zh-CN"' in client.get("/").get_data(as_text=True)
    response = client.form_post("/language", {"lang": "en", "next": "/entries"})
    assert response.headers["Location"] == "/entries"
    page = client.get("/").get_data(as_text=True)
    assert 'lang="en"' in page and "Recent changes" in page
    with app.app_context():
        assert db.session.scalar(db.select(User.locale).where(User.username == "alice")) == "en"


def test_language_cookie_applies_before_login(client):
    client.form_post("/language", {"lang": "en"})
    assert "Sign in" in client.get("/login").get_data(as_text=True)


def test_security_headers_on_every_page(client):
    response = client.get("/login")
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_login_limit_is_shared_through_redis(tmp_path, monkeypatch):
    """Two app instances (two server processes) count attempts in one Redis store."""
    redis = pytest.importorskip("redis")
    store = redis.Redis.from_url(REDIS_URL)
    try:
        store.ping()
    except redis.exceptions.ConnectionError:
        pytest.skip(f"no Redis at {REDIS_URL}")
    # Flask-Limiter keeps the first key prefix it is given for the life of the process, so use one fixed prefix.
    prefix = "kmwiki-test-shared-limit"
    for key in store.scan_iter(f"*{prefix}*"):
        store.delete(key)
    monkeypatch.setenv("KMWIKI_INSTANCE_PATH", str(tmp_path))
    settings = {"SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'db.sqlite'}",
                "RATELIMIT_STORAGE_URI": REDIS_URL, "RATELIMIT_KEY_PREFIX": prefix, "LOGIN_RATE_LIMIT": "2 per minute"}
    first, second = create_app(settings), create_app(settings)
    for app in (first, second):
        app.test_client_class = WikiClient
        with app.app_context():
            db.create_all()
    assert first.test_client().login("nobody").status_code == 200
    assert second.test_client().login("nobody").status_code == 200
    assert first.test_client().login("nobody").status_code == 429
    assert any(store.scan_iter(f"*{prefix}*"))  # the count really lives in Redis
    for app in (first, second):
        with app.app_context():
            db.engine.dispose()


def test_sign_ins_and_failed_attempts_are_audited(app, client, make_user):
    make_user("alice")
    client.login("alice")
    client.post("/api/v1/tokens", json={"username": "alice", "password": "wrong-password"})
    client.post("/api/v1/tokens", json={"username": "nobody", "password": "x"})
    with app.app_context():
        events = [(e.action, e.actor_id is not None, e.details["channel"], e.details["username"])
                  for e in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert events == [("signed_in", True, "web", "alice"), ("sign_in_failed", False, "api", "alice"),
                      ("sign_in_failed", False, "api", "nobody")]


def remembered_browser(app, username):
    """A browser that signed in with "keep me signed in", then lost its session cookie (closed)."""
    browser = app.test_client()
    assert browser.form_post("/login", {"username": username, "password": PASSWORD, "remember": "y"}).status_code == 302
    remember = browser.get_cookie("remember_token")
    assert remember is not None
    reopened = app.test_client()
    reopened.set_cookie("remember_token", remember.value)
    return browser, reopened, remember


def test_remember_me_signs_in_again_for_a_bounded_time(app, make_user):
    make_user("alice")
    _, reopened, remember = remembered_browser(app, "alice")
    assert reopened.get("/").status_code == 200  # signed in again from the remember cookie alone
    assert remember.expires is not None
    lifetime = remember.expires.timestamp() - time.time()
    assert 13 * 86400 < lifetime <= app.config["REMEMBER_COOKIE_DURATION"] + 60  # 14 days, not forever


def test_logout_ends_remember_me_cookies_everywhere(app, make_user):
    make_user("alice")
    browser, reopened, remember = remembered_browser(app, "alice")
    assert browser.form_post("/logout").status_code == 302
    stale = app.test_client()
    stale.set_cookie("remember_token", remember.value)
    assert stale.get("/").status_code == 302  # the copy kept elsewhere no longer signs in


def test_password_change_ends_remember_me_cookies(app, make_user):
    make_user("alice")
    browser, _, remember = remembered_browser(app, "alice")
    assert browser.form_post("/profile", {"current_password": PASSWORD, "new_password": "new-pass-123",
                                          "confirm": "new-pass-123"}).status_code == 302
    stale = app.test_client()
    stale.set_cookie("remember_token", remember.value)
    assert stale.get("/").status_code == 302


# Session cookies are verified once per worker (kmwiki/sessions.py), the session user read in one row.

def signed_in_cookie(app, client, username="alice"):
    client.login(username)
    assert client.get("/").status_code == 200  # verified and kept by this app from here on
    return client.get_cookie("session").value


def test_a_changed_byte_in_a_verified_cookie_is_refused(app, client, make_user):
    make_user("alice")
    cookie = signed_in_cookie(app, client)
    payload, _, signature = cookie.rpartition(".")
    forged = app.test_client()
    forged.set_cookie("session", payload + "." + ("A" if signature[0] != "A" else "B") + signature[1:])
    assert forged.get("/").status_code == 302
    honest = app.test_client()
    honest.set_cookie("session", cookie)
    assert honest.get("/").status_code == 200


def test_a_verified_cookie_still_expires(app, client, make_user, monkeypatch):
    make_user("alice")
    cookie = signed_in_cookie(app, client)
    lifetime = app.permanent_session_lifetime.total_seconds()
    later = time.time() + lifetime + 5
    monkeypatch.setattr(time, "time", lambda: later)  # itsdangerous and kmwiki.sessions both read it
    late = app.test_client()
    late.set_cookie("session", cookie)
    assert late.get("/").status_code == 302
    fresh = create_app({**app.config, "TESTING": True})  # a worker that never saw it: refused as well
    with fresh.test_client() as other:
        other.set_cookie("session", cookie)
        assert other.get("/").status_code == 302


def test_each_request_gets_its_own_copy_of_a_verified_session(app):
    sessions = app.session_interface
    cookie = sessions.get_signing_serializer(app).dumps({"_flashes": [["info", "saved"]], "kept": "yes"})
    with app.test_request_context(headers={"Cookie": f"session={cookie}"}) as context:
        first = sessions.open_session(app, context.request)
        first["_flashes"].append(["info", "changed by this request, never saved"])
        first["kept"] = "no"
        second = sessions.open_session(app, context.request)  # verified and kept by the first
    assert second == {"_flashes": [["info", "saved"]], "kept": "yes"}


def test_another_secret_key_does_not_accept_a_verified_cookie(app, client, make_user):
    make_user("alice")
    cookie = signed_in_cookie(app, client)
    other = create_app({**app.config, "SECRET_KEY": "another-secret"})
    with other.test_client() as stranger:
        stranger.set_cookie("session", cookie)
        assert stranger.get("/").status_code == 302


def test_role_changes_reach_an_open_session_at_its_next_request(app, make_client, make_user):
    make_user("root", roles=["admin"])
    target = make_user("rita", roles=["reviewer", "agent"])
    reviewer = make_client()
    reviewer.login("rita")
    assert reviewer.get("/review").status_code == 200
    admin = make_client()
    admin.login("root")
    assert admin.form_post(f"/admin/users/{target}", {"display_name": "rita", "roles": ["agent"], "team": 0,
                                                      "active": "y"}).status_code == 302
    assert reviewer.get("/").status_code == 200  # still signed in
    assert reviewer.get("/review").status_code == 403


def test_the_session_user_is_one_plain_row_that_cannot_be_changed_by_mistake(app, make_user):
    from dataclasses import FrozenInstanceError

    from kmwiki.models import Role, UserRole
    from kmwiki.services import users
    user_id = make_user("alice", roles=["agent", "reviewer"])
    with app.app_context():
        version = db.session.get(User, user_id).auth_version
        db.session.expunge_all()
        user = users.load_session_user(f"{user_id}:{version}")
        assert isinstance(user, users.SessionUser) and user.roles == {Role.AGENT, Role.REVIEWER}
        assert user.get_id() == f"{user_id}:{version}" and user.is_authenticated and not user.is_admin
        assert not db.session.identity_map  # no ORM instance was made
        with pytest.raises(FrozenInstanceError):
            user.locale = "en"  # a change that would be lost: it must go through users.model()
        stored = users.model(user)
        stored.role_rows.append(UserRole(role=Role.LEADER.value))
        db.session.commit()
        assert users.load_session_user(f"{user_id}:{version}").roles == {Role.AGENT, Role.REVIEWER, Role.LEADER}
        assert users.load_session_user(f"{user_id}:{version + 1}") is None


