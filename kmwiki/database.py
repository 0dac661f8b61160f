"""Database wiring: SQLAlchemy, migrations, and SQLite pragmas."""
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import Engine

from .extensions import db, migrate

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def init_app(app):
    """Bind SQLAlchemy and Flask-Migrate to the app."""
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
