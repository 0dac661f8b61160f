"""Database wiring: SQLAlchemy, migrations, and SQLite pragmas."""
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from .extensions import db, migrate

DIALECT_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def init_app(app):
    """Bind SQLAlchemy and Flask-Migrate to the app."""
    if str(app.config["SQLALCHEMY_DATABASE_URI"]).startswith("sqlite"):
        # A file has no server to drop the connection: the ping would be one more query per request.
        options = app.config["SQLALCHEMY_ENGINE_OPTIONS"]
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {k: v for k, v in options.items() if k != "pool_pre_ping"}
    db.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS))


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record):
    # Foreign keys are off by default in SQLite; WAL and a busy timeout let workers wait, not fail.
    if type(dbapi_connection).__module__ != "sqlite3":
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def insert_once(model, values, unique_columns):
    """INSERT … ON CONFLICT DO NOTHING: the row's primary key if inserted, None if it existed.

    The unique key decides, in one statement, without a savepoint — which matters on SQLite, where
    the driver commits a savepoint that opens the transaction.
    """
    statement = (DIALECT_INSERTS[db.engine.dialect.name](model).values(**values)
                 .on_conflict_do_nothing(index_elements=unique_columns).returning(*model.__table__.primary_key))
    return db.session.execute(statement).first()
