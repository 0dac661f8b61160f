"""Fixtures: a fresh app per test on SQLite and (when configured) PostgreSQL, a CSRF-aware client,
and factories that create users and entries through the services."""
import os
import re
import threading

import pytest
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text

from babel.messages.frontend import CommandLineInterface

from kmwiki import ROOT, create_app
from kmwiki.blueprints import entries as entry_pages
from kmwiki.extensions import db
from kmwiki.models import Status, User
from kmwiki.search import index
from kmwiki.services import defaults, entries, users
from kmwiki.services.entries import EntryInput

SHARED_DATA = ROOT.parent / "shared" / "data"
POSTGRES_URL = os.environ.get("KMWIKI_TEST_POSTGRES_URL")
PASSWORD = "secret-pass-1"
CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')
_pg_schema_ready = False


class WikiClient(FlaskClient):
    """A test client that signs in and sends the CSRF token like a browser would."""

    def csrf_token(self):
        page = self.get("/login").get_data(as_text=True)
        match = CSRF_RE.search(page)
        return match.group(1) or match.group(2)

    def form_post(self, url, data=None, **kwargs):
        """POST a form with this session's CSRF token."""
        data = dict(data or {})
        data.setdefault("csrf_token", self.csrf_token())
        return self.post(url, data=data, **kwargs)

    def login(self, username, password=PASSWORD):
        return self.form_post("/login", {"username": username, "password": password})


@pytest.fixture(scope="session", autouse=True)
def compiled_catalog():
    """Compile the Chinese catalog when it is missing or older than the .po (as `make` does)."""
    po = ROOT / "kmwiki" / "translations" / "zh" / "LC_MESSAGES" / "messages.po"
    mo = po.with_suffix(".mo")
    if not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
        CommandLineInterface().run(["pybabel", "-q", "compile", "-d", str(po.parents[2])])


@pytest.fixture(scope="session")
def postgres_schema_url():
    """A schema of its own for this test run, so parallel runs on one database never meet."""
    if not POSTGRES_URL:
        pytest.skip("KMWIKI_TEST_POSTGRES_URL is not set: the PostgreSQL run of this test is skipped")
    schema = f"kmwiki_test_{os.getpid()}"
    engine = create_engine(POSTGRES_URL)
    with engine.begin() as connection:
        connection.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    with engine.begin() as connection:
        connection.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request, tmp_path):
    """Each database test runs on SQLite and, when KMWIKI_TEST_POSTGRES_URL is set, on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    return request.getfixturevalue("postgres_schema_url")


def reset_postgres():
    """Create the schema once per run, then empty every table between tests (much faster than DDL)."""
    global _pg_schema_ready
    if not _pg_schema_ready:
        db.create_all()
        _pg_schema_ready = True
    tables = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
    with db.engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture
def app(request, database_url, tmp_path, monkeypatch):
    """A kmwiki app with an empty, migrated-equivalent database and its own instance folder.

    The search index is written after commits only in tests marked `search_index` (the others do
    not search, and indexing every commit would double the suite's time).
    """
    monkeypatch.setenv("KMWIKI_INSTANCE_PATH", str(tmp_path / "instance"))
    app = create_app({
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
        "LOGIN_RATE_LIMIT": "1000 per minute",
        "SEARCH_INDEX_UPDATES": request.node.get_closest_marker("search_index") is not None,
    })
    app.test_client_class = WikiClient
    with app.app_context():
        if database_url.startswith("postgresql"):
            reset_postgres()
        else:
            db.create_all()
        defaults.ensure_defaults()
    yield app
    index.close_searcher()
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def entry_page(client, entry_id):
    """An entry page's HTML, asserting it was served."""
    response = client.get(f"/entries/{entry_id}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


@pytest.fixture
def other_worker(app):
    """A second app on the same database and instance folder: another gunicorn worker."""
    worker = create_app(dict(app.config))
    worker.test_client_class = WikiClient
    yield worker
    with worker.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def renders(monkeypatch):
    """Each rendering of the entry template: "shared" (with stand-ins) or "own" (for one reader)."""
    calls = []
    render = entry_pages.render_entry

    def counted(entry, revision, parts=None):
        calls.append("own" if parts is None else "shared")
        return render(entry, revision, parts)

    monkeypatch.setattr(entry_pages, "render_entry", counted)
    return calls


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def make_client(app):
    """Another independent browser, e.g. a second editor."""
    return app.test_client


@pytest.fixture
def make_user(app):
    """Create a user through the service: make_user("alice", roles=["agent"])."""

    def factory(username, roles=("agent",), display_name=None, team=None, password=PASSWORD):
        with app.app_context():
            team_row = users.get_or_create_team(*team.split("/")) if team else None
            user = users.create_user(username, password, roles, display_name=display_name, team=team_row)
            return user.id

    return factory


@pytest.fixture
def make_entry(app):
    """Create an entry through the service; returns its id."""

    def factory(author_id, title="客户说保费太贵怎么办", body="先倾听，再算保障缺口。", kind="objection_handling",
                products=("critical_illness",), segments=("young_family",), tags=("保费",), status=Status.DRAFT):
        with app.app_context():
            author = db.session.get(User, author_id)
            data = EntryInput(title=title, body=body, kind=kind, products=list(products),
                              segments=list(segments), tags=list(tags))
            return entries.create(data, author, status=status).id

    return factory


def entry_form(**overrides):
    """Form data for the entry editor, with sensible defaults."""
    data = {"title": "电话邀约的开场白", "kind": "sales_technique", "products": ["life"],
            "segments": ["single"], "tags": "电话邀约, 开场白", "body": "## 开场\n\n先报姓名和来意。", "note": ""}
    data.update(overrides)
    return data


@pytest.fixture
def api(client):
    """Bearer headers for a user, one token each: api("rita")."""
    cache = {}

    def headers(username):
        if username not in cache:
            response = client.post("/api/v1/tokens", json={"username": username, "password": PASSWORD})
            assert response.status_code == 201, response.get_json()
            cache[username] = {"Authorization": "Bearer " + response.get_json()["token"]}
        return cache[username]

    return headers


def run_together(app, work, count):
    """Run work(i) in `count` threads, each in its own app context, released by one barrier;
    returns each thread's result or exception."""
    barrier = threading.Barrier(count)
    results = [None] * count

    def runner(i):
        with app.app_context():
            try:
                barrier.wait(timeout=30)
                results[i] = work(i)
            except Exception as error:  # collected and asserted by the test
                results[i] = error
            finally:
                db.session.remove()

    threads = [threading.Thread(target=runner, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a worker hung"
    return results
