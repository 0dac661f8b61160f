"""Database wiring: SQLAlchemy, migrations, and SQLite pragmas."""
from contextlib import closing
from functools import lru_cache
from pathlib import Path

from flask import g, has_request_context
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from .extensions import db, migrate

DIALECT_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}

HOT_CONNECTION = "kmwiki_hot_connection"  # flask.g: the request's pooled connection for hot_row

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def init_app(app):
    """Bind SQLAlchemy and Flask-Migrate to the app."""
    if str(app.config["SQLALCHEMY_DATABASE_URI"]).startswith("sqlite"):
        # A file has no server to drop the connection: the ping would be one more query per request.
        options = app.config["SQLALCHEMY_ENGINE_OPTIONS"]
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {k: v for k, v in options.items() if k != "pool_pre_ping"}
    db.init_app(app)
    app.teardown_request(_release_hot_connection)
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


def hot_row(statement, **values):
    """The first row of a read that runs on (nearly) every request, or None; by the DBAPI cursor.

    The signed-in user and an entry page's reader state are read on every view, and SQLAlchemy's
    execution and the ORM session's transaction around them cost more Python than the queries:
    about a third of a kept entry page's time in Flask (py-spy in a gunicorn worker). So the
    statement is compiled once per dialect and run as plain SQL, on the session's connection when
    it has a transaction open (its own writes are seen), else on a pooled connection kept until the
    request ends (outside a request, for this one read). Rows come as the driver gives them
    (SQLite: 0/1 for booleans, datetimes as text); the statement's binds are named, no lists, and
    their values pass through their types' bind processors.
    """
    return _run(statement, values, _first)


def hot_rows(statement, **values):
    """Every row of such a read (hot_row), as the driver gives them."""
    return _run(statement, values, _all)


def _run(statement, values, fetch):
    sql, order, defaults, processors = _compiled(statement, db.engine.dialect)
    values = {**defaults, **values}
    for name, process in processors.items():
        values[name] = process(values[name])
    arguments = values if order is None else [values[name] for name in order]
    if db.session.registry.has() and db.session().in_transaction():
        return fetch(db.session.connection().connection, sql, arguments)
    if has_request_context():
        connection = g.get(HOT_CONNECTION)
        if connection is None:
            connection = g.setdefault(HOT_CONNECTION, db.engine.raw_connection())
        return fetch(connection, sql, arguments)
    with closing(db.engine.raw_connection()) as connection:  # back to the pool, rolled back
        return fetch(connection, sql, arguments)


def _release_hot_connection(exc=None):
    """The request's hot-read connection back to the pool, rolled back (teardown_request: an app
    context can outlive many requests, as `flask pages warm` does)."""
    connection = g.pop(HOT_CONNECTION, None)
    if connection is not None:
        connection.close()


@lru_cache(maxsize=64)
def _compiled(statement, dialect):
    """(SQL text, bind names in positional order or None for named styles, the literal binds'
    values, {bind name: its type's bind processor} for the binds that have one)."""
    compiled = statement.compile(dialect=dialect)
    defaults = {name: value for name, value in compiled.construct_params(_check=False).items() if value is not None}
    processors = {name: process for bind, name in compiled.bind_names.items()
                  if (process := bind.type.bind_processor(dialect)) is not None}
    return compiled.string, compiled.positiontup, defaults, processors


def _first(connection, sql, arguments):
    return _fetched(connection, sql, arguments, lambda cursor: cursor.fetchone())


def _all(connection, sql, arguments):
    return _fetched(connection, sql, arguments, lambda cursor: cursor.fetchall())


def _fetched(connection, sql, arguments, fetch):
    cursor = connection.cursor()
    try:
        cursor.execute(sql, arguments)
        return fetch(cursor)
    finally:
        cursor.close()


def insert_once(model, values, unique_columns):
    """INSERT … ON CONFLICT DO NOTHING: the row's primary key if inserted, None if it existed.

    The unique key decides, in one statement, without a savepoint — which matters on SQLite, where
    the driver commits a savepoint that opens the transaction.
    """
    statement = (DIALECT_INSERTS[db.engine.dialect.name](model).values(**values)
                 .on_conflict_do_nothing(index_elements=unique_columns).returning(*model.__table__.primary_key))
    return db.session.execute(statement).first()
