"""Configuration layering, the instance folder and the generated secret key."""
import importlib

from kmwiki import ROOT, create_app
from kmwiki.extensions import db


def test_defaults_then_instance_file_then_environment(tmp_path, monkeypatch):
    instance = tmp_path / "instance"
    instance.mkdir()
    (instance / "config.py").write_text('ENTRIES_PER_PAGE = 7\nTIMEZONE = "Asia/Hong_Kong"\n')
    monkeypatch.setenv("KMWIKI_INSTANCE_PATH", str(instance))
    monkeypatch.setenv("KMWIKI_TIMEZONE", "Asia/Urumqi")
    app = create_app()
    assert app.instance_path == str(instance)
    assert app.config["ENTRIES_PER_PAGE"] == 7  # from instance/config.py
    assert app.config["TIMEZONE"] == "Asia/Urumqi"  # the environment wins
    assert app.config["MAX_BODY_CHARS"] == 200_000  # untouched default


def test_environment_values_are_parsed_as_json(tmp_path, monkeypatch):
    monkeypatch.setenv("KMWIKI_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("KMWIKI_ENTRIES_PER_PAGE", "50")
    assert create_app().config["ENTRIES_PER_PAGE"] == 50


def test_secret_key_is_generated_once_and_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("KMWIKI_INSTANCE_PATH", str(tmp_path))
    monkeypatch.delenv("KMWIKI_SECRET_KEY", raising=False)
    first = create_app().config["SECRET_KEY"]
    second = create_app().config["SECRET_KEY"]
    assert len(first) == 64 and first == second
    secret_file = tmp_path / "secret_key"
    assert secret_file.read_text() == first
    assert secret_file.stat().st_mode & 0o077 == 0


def test_configured_secret_key_is_not_written(tmp_path, monkeypatch):
    monkeypatch.setenv("KMWIKI_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("KMWIKI_SECRET_KEY", "from-the-environment")
    assert create_app().config["SECRET_KEY"] == "from-the-environment"
    assert not (tmp_path / "secret_key").exists()


def test_relative_sqlite_uri_lives_in_the_instance_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("KMWIKI_INSTANCE_PATH", str(tmp_path))
    app = create_app()
    with app.app_context():
        assert db.engine.url.database == str(tmp_path / "kmwiki.db")


def test_wsgi_module_exposes_the_app(tmp_path, monkeypatch):
    monkeypatch.setenv("KMWIKI_INSTANCE_PATH", str(tmp_path))
    monkeypatch.syspath_prepend(str(ROOT))
    module = importlib.import_module("wsgi")
    assert importlib.reload(module).app.name == "kmwiki"


def test_connections_are_pinged_before_use_except_sqlite(tmp_path, monkeypatch):
    """A database server may drop an idle connection; a SQLite file cannot, so no query is spent on it."""
    monkeypatch.setenv("KMWIKI_INSTANCE_PATH", str(tmp_path))
    sqlite_app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.db'}"})
    server_app = create_app({"SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://nobody@127.0.0.1:1/none"})
    with sqlite_app.app_context():
        assert db.engine.pool._pre_ping is False
    with server_app.app_context():
        assert db.engine.pool._pre_ping is True
