"""Hardening headers on every kind of response, and cookies: HttpOnly and SameSite always, Secure
with HSTS when KMWIKI_HTTPS=1."""
import pytest

from kmwiki import create_app


def assert_hardened(response):
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "'unsafe-inline'" not in policy.split("script-src", 1)[1].split(";")[0]
    assert "frame-ancestors 'none'" in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"


@pytest.mark.parametrize("path", ["/login", "/", "/entries/999999", "/static/css/kmwiki.css", "/api/v1/entries",
                                  "/api/v1/openapi.json", "/no/such/page"])
def test_every_kind_of_response_is_hardened(client, path):
    response = client.get(path)
    try:
        assert_hardened(response)
    finally:
        response.close()  # a static file is streamed from an open file


def test_session_cookie_is_http_only_and_same_site(client, make_user):
    make_user("alice")
    client.login("alice")
    cookie = client.get_cookie("session")
    assert cookie.http_only and cookie.same_site == "Lax" and not cookie.secure
    assert "Strict-Transport-Security" not in client.get("/").headers


def test_https_setting_makes_cookies_secure_and_asks_for_hsts(tmp_path, monkeypatch):
    monkeypatch.setenv("KMWIKI_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("KMWIKI_HTTPS", "1")
    app = create_app({"SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/db.sqlite3"})
    assert app.config["SESSION_COOKIE_SECURE"] and app.config["REMEMBER_COOKIE_SECURE"]
    response = app.test_client().get("/login", base_url="https://localhost")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    assert "Secure" in response.headers["Set-Cookie"]
