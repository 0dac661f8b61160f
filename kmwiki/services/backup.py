"""Online backup and restore of an installation: the database, the search index and attachments
in one .tar.gz, taken while the wiki keeps running.

Consistency: the database is copied first as one snapshot (SQLite's backup API, or pg_dump's
snapshot), then the index under Whoosh's write lock (no writer can change it mid-copy), then the
attachments (immutable files). Whatever the index or the folder gained after the database snapshot
is reconciled at restore: `search-check --repair` runs, and unreferenced files are harmless.
"""
import json
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from flask import current_app
from sqlalchemy import func, select

from .. import pages
from ..errors import KmwikiError
from ..extensions import db
from ..models import Entry, User
from ..search import index as search_index

FORMAT = 1
DATABASE_FILES = {"sqlite": "kmwiki.sqlite3", "postgresql": "kmwiki.pgdump"}


class BackupError(KmwikiError):
    """A backup or restore that cannot be done; the message says why."""


def backup(target):
    """Write a backup archive to `target` (a new file); returns the manifest."""
    target = Path(target)
    if target.exists():
        raise BackupError(f"{target} exists; choose a new file name")
    with tempfile.TemporaryDirectory(prefix="kmwiki-backup-") as folder:
        work = Path(folder)
        manifest = _manifest()
        _dump_database(work / DATABASE_FILES[manifest["database"]])
        _copy_index(work / "search_index")
        _copy_folder(_attachments_dir(), work / "attachments")
        (work / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
        partial = target.with_name(target.name + ".partial")  # never a half-written archive under the real name
        with tarfile.open(partial, "w:gz") as archive:
            for item in sorted(work.iterdir()):
                archive.add(item, arcname=item.name)
        partial.replace(target)
    return manifest


def restore(source, force=False):
    """Bring back a backup archive; refuses to overwrite a database holding users unless force."""
    source = Path(source)
    if not source.is_file():
        raise BackupError(f"{source} is not a file")
    if not force and db.session.scalar(select(func.count(User.id))):
        raise BackupError("the database already holds users; pass --force to replace everything with the backup")
    with tempfile.TemporaryDirectory(prefix="kmwiki-restore-") as folder:
        work = Path(folder)
        with tarfile.open(source, "r:gz") as archive:
            archive.extractall(work, filter="data")
        manifest = json.loads((work / "manifest.json").read_text(encoding="utf-8"))
        if manifest.get("format") != FORMAT or manifest.get("database") != _dialect():
            raise BackupError(f"this backup holds a {manifest.get('database')} database (format "
                              f"{manifest.get('format')}); this installation uses {_dialect()}")
        db.session.remove()
        _load_database(work / DATABASE_FILES[manifest["database"]])
        _replace_index(work / "search_index")
        _replace_folder(work / "attachments", _attachments_dir())
    pages.clear()  # pages kept since the backup may carry versions the restored entries reach again
    return manifest


def _manifest():
    return {"format": FORMAT, "database": _dialect(), "created_at": datetime.now(timezone.utc).isoformat(),
            "entries": db.session.scalar(select(func.count(Entry.id))),
            "users": db.session.scalar(select(func.count(User.id)))}


def _dialect():
    return db.engine.dialect.name


def _attachments_dir():
    return Path(current_app.instance_path) / "attachments"


def _sqlite_path():
    return Path(db.engine.url.database)


def _pg_url():
    """The database URL for libpq tools (pg_dump, pg_restore), without SQLAlchemy's driver name."""
    return db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


def _pg_schema():
    """The schema named by a search_path option in the URL, if any (else everything is dumped)."""
    options = db.engine.url.query.get("options", "")
    return options.split("search_path=", 1)[1].split(",")[0].strip() if "search_path=" in options else None


def _dump_database(target):
    if _dialect() == "sqlite":
        source, copy = sqlite3.connect(_sqlite_path()), sqlite3.connect(target)
        try:
            source.backup(copy)  # one consistent snapshot, while others keep writing
        finally:
            copy.close()
            source.close()
        return
    schema = _pg_schema()
    _run(["pg_dump", "--format=custom", "--no-owner", f"--file={target}"]
         + ([f"--schema={schema}"] if schema else []) + [_pg_url()])


def _load_database(source):
    if _dialect() == "sqlite":
        db.engine.dispose()
        path = _sqlite_path()
        for leftover in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            leftover.unlink(missing_ok=True)  # the old database's journal must not be applied to the new one
        shutil.copyfile(source, path)
        return
    db.engine.dispose()
    _run(["pg_restore", "--clean", "--if-exists", "--no-owner", "--single-transaction",
          f"--dbname={_pg_url()}", str(source)])


def _run(command):
    try:
        subprocess.run(command, check=True, capture_output=True, text=True)
    except FileNotFoundError:
        raise BackupError(f"{command[0]} is not installed; PostgreSQL backups need the PostgreSQL client tools")
    except subprocess.CalledProcessError as error:
        raise BackupError(f"{command[0]} failed: {error.stderr.strip()[-500:]}")


def _copy_index(target):
    ix = search_index.get_index()
    lock = ix.lock("WRITELOCK")  # the lock every index writer takes: no segment changes mid-copy
    lock.acquire(blocking=True)
    try:
        shutil.copytree(search_index.index_dir(), target,
                        ignore=shutil.ignore_patterns("*.tmp", "*WRITELOCK"))
    finally:
        lock.release()


def _replace_index(source):
    current_app.extensions.pop("kmwiki.search_index", None)
    _replace_folder(source, search_index.index_dir())
    ix = search_index.get_index()  # opens it, or rebuilds it from the restored database if unreadable
    missing, stale, orphaned = search_index.check(ix)
    if missing or stale or orphaned:  # what the index gained or lacked around the database snapshot
        search_index.update(ix, set(missing) | set(stale) | set(orphaned))


def _copy_folder(source, target):
    if source.is_dir():
        shutil.copytree(source, target)
    else:
        target.mkdir()


def _replace_folder(source, target):
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target)
