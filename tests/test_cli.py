"""The flask commands: init-db (migrations), create-user, demo-data."""
import os
from datetime import datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, func, insert, inspect, select, text

from conftest import POSTGRES_URL
from kmwiki import create_app
from kmwiki.demo import data as demo
from kmwiki.extensions import db
from kmwiki.models import AuditEvent, Branch, Category, Entry, Revision, Role, Status, Team, User, UserRole, Vocabulary
from kmwiki.services import entries
from kmwiki.services.taxonomy import DEFAULT_CATEGORIES

MIGRATION_SCHEMA = f"kmwiki_migration_test_{os.getpid()}"


@pytest.mark.parametrize("command", ["init-db", "create-user", "demo-data"])
def test_every_command_has_help(app, command):
    result = app.test_cli_runner().invoke(args=[command, "--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.output and len(result.output.splitlines()) > 3


@pytest.fixture
def empty_database_url(database_url):
    """A database without any table: a fresh SQLite file, or a fresh PostgreSQL schema."""
    if database_url.startswith("sqlite"):
        yield database_url
        return
    engine = create_engine(POSTGRES_URL)
    with engine.begin() as connection:
        connection.execute(text(f"DROP SCHEMA IF EXISTS {MIGRATION_SCHEMA} CASCADE"))
        connection.execute(text(f"CREATE SCHEMA {MIGRATION_SCHEMA}"))
    engine.dispose()
    yield f"{POSTGRES_URL}?options=-csearch_path%3D{MIGRATION_SCHEMA}"
    engine = create_engine(POSTGRES_URL)
    with engine.begin() as connection:
        connection.execute(text(f"DROP SCHEMA IF EXISTS {MIGRATION_SCHEMA} CASCADE"))
    engine.dispose()


def test_init_db_migrates_to_exactly_the_models(empty_database_url, tmp_path, monkeypatch):
    monkeypatch.setenv("KMWIKI_INSTANCE_PATH", str(tmp_path / "instance"))
    app = create_app({"SQLALCHEMY_DATABASE_URI": empty_database_url, "SECRET_KEY": "x"})
    result = app.test_cli_runner().invoke(args=["init-db"])
    assert result.exit_code == 0, result.output
    assert "21 categories, 4 rubric criteria" in result.output
    with app.app_context():
        with db.engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), db.metadata)
        assert differences == []  # the committed migrations build the schema the models describe
        assert db.session.scalar(select(func.count(Category.id))) == 21
    again = app.test_cli_runner().invoke(args=["init-db"])
    assert again.exit_code == 0 and "0 categories, 0 rubric criteria, 0 compliance rules, 0 point rules" in again.output
    with app.app_context():
        db.engine.dispose()


BEFORE_PUBLISHED_AT = "d5f2b8c40007"  # 0007, the last schema whose revisions do not say when they were published


def at(day):
    return datetime(2026, 11, 1, tzinfo=timezone.utc) + timedelta(days=day)


def old_history():
    """Revisions as 0007 stored them, and the audit events of the reviews that decided on them. Each
    revision is (entry, number, day written, day published as the backfill should find it, or None)."""
    entry_rows = [  # id, status, published_number, latest_number, adopted on day
        (1, Status.ADOPTED, 4, 4, 2),  # reviewed: 1 draft, 2 adopted, 3 a rejected edit, 4 an adopted edit
        (2, Status.ADOPTED, 1, 1, 1),  # imported as adopted: no review, no audit event
        (3, Status.PENDING, None, 1, None),  # one adopting review of two required: not published
        (4, Status.DRAFT, None, 1, None),
        (5, Status.ADOPTED, 2, 2, 1),  # imported, then an edit adopted by review: 1's publication left no trace
        (6, Status.ADOPTED, 2, 2, 1),  # published directly at 2 long after its adoption: not before day 6
    ]
    revision_rows = [(1, 1, 1, None), (1, 2, 2, 3), (1, 3, 4, None), (1, 4, 5, 6), (2, 1, 1, 1), (3, 1, 1, None),
                     (4, 1, 1, None), (5, 1, 1, None), (5, 2, 3, 4), (6, 1, 1, None), (6, 2, 6, 6)]
    decisions = [(1, "decision:adopt", 2, "adopted", 3), (1, "decision:reject", 3, "adopted", 4),
                 (1, "decision:adopt", 4, "adopted", 6), (1, "decision:adopt", 4, "adopted", 7),  # the first counts
                 (3, "decision:adopt", 1, "pending", 2), (5, "decision:adopt", 2, "adopted", 4),
                 (4, "decision:adopt", "1", "adopted", 2)]  # malformed details count for nothing
    return entry_rows, revision_rows, decisions


def test_the_published_at_migration_backfills_what_readers_saw_and_what_reviews_adopted(
        empty_database_url, tmp_path, monkeypatch):
    """Upgrade a 0007 database holding history; the backfill's limits are documented in 0008."""
    monkeypatch.setenv("KMWIKI_INSTANCE_PATH", str(tmp_path / "instance"))
    app = create_app({"SQLALCHEMY_DATABASE_URI": empty_database_url, "SECRET_KEY": "x"})
    entry_rows, revision_rows, decisions = old_history()
    with app.app_context():
        upgrade(revision=BEFORE_PUBLISHED_AT)
        assert "published_at" not in {c["name"] for c in inspect(db.engine).get_columns("revisions")}
        with db.engine.begin() as connection:
            connection.execute(insert(User), [{"id": i, "username": name, "display_name": name, "password_hash": "x"}
                                              for i, name in ((1, "alice"), (2, "bob"))])
            connection.execute(insert(UserRole), [{"user_id": i, "role": Role.AGENT} for i in (1, 2)])
            connection.execute(insert(Category), [{"id": 1, "vocabulary": Vocabulary.KIND, "slug": "faq",
                                                   "name_zh": "常见问答", "name_en": "FAQ"}])
            connection.execute(insert(Entry), [
                {"id": i, "title": f"条目{i}", "kind_id": 1, "status": status, "author_id": 1, "latest_number": latest,
                 "published_number": published, "adopted_at": at(adopted) if adopted else None}
                for i, status, published, latest, adopted in entry_rows])
            connection.execute(insert(Revision), [
                {"entry_id": e, "number": n, "author_id": 1, "created_at": at(day), "title": f"条目{e}",
                 "body": f"第 {n} 版", "kind_slug": "faq", "products": [], "segments": [], "tags": [], "note": "",
                 "html_version": 0} for e, n, day, _ in revision_rows])
            connection.execute(insert(AuditEvent), [
                {"actor_id": 1, "action": action, "entry_id": e, "details": {"revision": n, "status": status},
                 "created_at": at(day)} for e, action, n, status, day in decisions])
        upgrade()
        found = {(r.entry_id, r.number): r.published_at for r in db.session.scalars(select(Revision))}
        assert found == {(e, n): at(day) if day is not None else None for e, n, _, day in revision_rows}
        # Read through the rule: bob, who is not involved, reads entry 1's adopted revisions only.
        bob, entry = db.session.get(User, 2), db.session.get(Entry, 1)
        assert [r.number for r in entries.history(entry, bob)] == [4, 2]
        assert [r.number for r in entries.history(entry, db.session.get(User, 1))] == [4, 3, 2, 1]
        db.session.remove()
        downgrade(revision=BEFORE_PUBLISHED_AT)
        assert "published_at" not in {c["name"] for c in inspect(db.engine).get_columns("revisions")}
        db.engine.dispose()


def test_create_user_with_roles_team_and_password(app):
    with app.app_context():
        db.session.add(Team(name="浦东一部", branch=Branch(name="上海分公司")))
        db.session.commit()
    result = app.test_cli_runner().invoke(args=[
        "create-user", "wangfang", "--role", "reviewer", "--role", "agent", "--team", "浦东一部",
        "--name", "王芳", "--password", "long-enough-1"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == "wangfang"))
        assert user.roles == {Role.REVIEWER, Role.AGENT}
        assert user.team.name == "浦东一部" and user.display_name == "王芳"
        assert user.check_password("long-enough-1")


def test_create_user_prompts_for_the_password(app):
    result = app.test_cli_runner().invoke(args=["create-user", "lina", "--role", "agent"],
                                          input="typed-secret-1\ntyped-secret-1\n")
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert db.session.scalar(select(User).where(User.username == "lina")).check_password("typed-secret-1")


@pytest.mark.parametrize("args, message", [
    (["create-user", "x y", "--role", "agent", "--password", "long-enough-1"], "username"),
    (["create-user", "lina", "--role", "agent", "--password", "short"], "password"),
    (["create-user", "lina", "--role", "agent", "--team", "无此团队", "--password", "long-enough-1"], "无此团队"),
    (["create-user", "lina", "--role", "boss", "--password", "long-enough-1"], "boss"),
])
def test_create_user_refuses_bad_input_with_exit_code(app, args, message):
    result = app.test_cli_runner().invoke(args=args)
    assert result.exit_code != 0
    assert message in result.output


def test_create_user_refuses_a_taken_username(app, make_user):
    make_user("lina")
    result = app.test_cli_runner().invoke(args=["create-user", "lina", "--role", "agent", "--password", "long-enough-1"])
    assert result.exit_code == 1
    with app.app_context():
        assert db.session.scalar(select(func.count(User.id))) == 1


def test_demo_data_loads_a_realistic_organisation(app, client):
    result = app.test_cli_runner().invoke(args=["demo-data"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert db.session.scalar(select(func.count(Branch.id))) == 2
        assert db.session.scalar(select(func.count(Team.id))) == 4
        people = db.session.scalars(select(User)).all()
        assert len(people) >= 30
        held = set().union(*(u.roles for u in people))
        assert held == {Role.AGENT, Role.REVIEWER, Role.LEADER, Role.ADMIN}
        all_entries = db.session.scalars(select(Entry)).all()
        assert len(all_entries) >= 40
        adopted = [e for e in all_entries if e.status == Status.ADOPTED]
        kinds = {slug for vocabulary, slug, *_ in DEFAULT_CATEGORIES if vocabulary == Vocabulary.KIND}
        assert {e.kind.slug for e in adopted} == kinds
        assert all(e.published_number == e.latest_number for e in adopted)
        assert any(e.latest_number > 1 for e in adopted)
    assert client.login("agent", demo.DEMO_PASSWORD).headers["Location"] == "/"
    assert client.get("/").status_code == 200


def test_demo_data_only_goes_into_an_empty_database(app, make_user):
    make_user("someone")
    runner = app.test_cli_runner()
    refused = runner.invoke(args=["demo-data"])
    assert refused.exit_code == 1 and "empty" in refused.output
    skipped = runner.invoke(args=["demo-data", "--if-empty"])
    assert skipped.exit_code == 0
    with app.app_context():
        assert db.session.scalar(select(func.count(User.id))) == 1
