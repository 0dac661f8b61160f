"""Entry pages as every uninvolved reader sees them, rendered once and kept as files for all workers.

The page of adopted knowledge is the same for every reader with the same roles and language but
for the reader's own parts (kmwiki/personal.py). It is kept in the instance folder, at
cache/pages/<code fingerprint>/<language>/<roles>/<entry id>.html, where every worker and every
restart finds it; the operating system holds the files in memory once, not each worker.

A kept page is served only while all of these hold (the entry page's one query reads the first two):
- its entry's `page_version` is the one it was rendered at. The version is raised in the same
  transaction as every change to the entry itself (its face revision, status, classification,
  title), and right after it commits for the entries its published text links to, before and after
  the change (their "Linked from" panels list it);
- the `page_generation` token is the one it was rendered under. The token is replaced in the same
  transaction as a change that any page may show: renaming a person, team, branch or category
  (caching.SHOWN_NAMES), an entry leaving the public (retracted or deleted), a restored backup;
- it is younger than SHARED_PAGE_MAX_AGE: the related-entries panel ranks other entries, whose
  adoptions and edits do not raise this entry's version, so the panel lags by at most that long;
- it was rendered by this code: the fingerprint covers templates, translations and Python sources.
"""
import hashlib
import logging
import os
import secrets
import shutil
import threading
import time
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

from flask import current_app
from sqlalchemy import event, inspect, select, update
from sqlalchemy.orm import Session

from . import caching
from .extensions import db
from .models import Entry, EntryLink, PageGeneration, Revision, Status

ROOT = Path(__file__).resolve().parent.parent
FOLDER = os.path.join("cache", "pages")
CHANGED = "kmwiki.pages_changed"  # session.info: ids of entries whose pages this transaction changes
LINKED_TITLES = "kmwiki.pages_linked_titles"  # titles changed entries link to (or linked to, before)
RETIRE_ALL = "kmwiki.pages_retire_all"

log = logging.getLogger(__name__)


class PageKey(NamedTuple):
    """Which kept page: one per entry, language and set of roles."""

    entry_id: int
    locale: str
    roles: tuple


def read(key, generation, version):
    """The kept page for key if it is current for this generation and entry version, else None."""
    try:
        with open(_path(key), "rb") as kept:
            data = kept.read()
    except OSError:  # not kept yet (or unreadable: rendered again)
        return None
    header, _, page = data.partition(b"\n")
    try:
        kept_generation, kept_version, kept_at = header.decode().split(" ")
        current = kept_generation == generation and int(kept_version) == version
    except ValueError:
        return None
    if not current or time.time() - float(kept_at) > current_app.config["SHARED_PAGE_MAX_AGE"]:
        return None
    return page.decode()


def keep(key, generation, version, page):
    """Keep a page rendered at this generation and entry version; a page that cannot be written
    (a full disk) is only rendered again next time."""
    path = Path(_path(key))
    scratch = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    data = f"{generation} {version} {time.time():.3f}\n".encode() + page.encode()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        scratch.write_bytes(data)
        os.replace(scratch, path)  # readers see the old file or the new one, never half of one
    except OSError:
        log.exception("could not keep the shared page %s", path)
        scratch.unlink(missing_ok=True)


def clear(keep_this_release=False):
    """Forget the kept pages of every release (or of the others only); returns how many files went."""
    count = 0
    folders = Path(current_app.instance_path) / FOLDER
    for folder in (folders.iterdir() if folders.exists() else []):
        if not (keep_this_release and folder.name == fingerprint()):
            count += sum(1 for _ in folder.rglob("*.html"))
            shutil.rmtree(folder, ignore_errors=True)
    return count


def _path(key):
    """The page's file (a string: read on every entry view, where pathlib's parsing showed)."""
    roles = "+".join(key.roles) or "none"
    return os.path.join(current_app.instance_path, FOLDER, fingerprint(), key.locale, roles, f"{key.entry_id}.html")


@lru_cache(maxsize=1)
def fingerprint():
    """A digest of what renders pages: templates, translations and the Python package."""
    digest = hashlib.sha256()
    for folder, pattern in ((ROOT / "templates", "*.html"), (ROOT / "kmwiki", "*.py"), (ROOT / "kmwiki", "*.mo")):
        for path in sorted(folder.rglob(pattern)):
            digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


# --- what changes a page: collected while a transaction runs, written before it commits ----------


def changed(session, entry_ids):
    """The pages of these entries change with this transaction (for changes made with Core SQL)."""
    session.info.setdefault(CHANGED, set()).update(entry_ids)


def links_rewritten(session, entry):
    """Before a public entry's links are replaced: the pages it linked to lose it from "Linked from"
    (a draft's links show nowhere)."""
    if entry.is_public:
        old = session.scalars(select(EntryLink.target_title).where(EntryLink.source_id == entry.id))
        session.info.setdefault(LINKED_TITLES, set()).update(old)


def retire_all(session):
    """Every kept page is stale once this transaction commits."""
    session.info[RETIRE_ALL] = True


def generation():
    """The current generation token (None in a database made without it)."""
    return db.session.scalar(select(PageGeneration.token).where(PageGeneration.id == 1))


def ensure_generation(session):
    """The generation row, for a database made without the migrations (tests, create_all); returns
    how many rows it added."""
    if session.get(PageGeneration, 1) is not None:
        return 0
    session.add(PageGeneration(id=1, token=secrets.token_hex(16)))
    session.commit()
    return 1


@event.listens_for(Session, "after_flush")
def _collect(session, flush_context):
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, Entry):
            changed(session, [obj.id])
            if _leaves_the_public(obj, obj in session.deleted):
                retire_all(session)
        elif isinstance(obj, Revision) and obj not in session.dirty:  # a new revision, or one deleted
            changed(session, [obj.entry_id])


def _leaves_the_public(entry, deleted):
    """Whether a public entry is retracted or deleted: other pages may list it (related, linked from)."""
    if deleted:
        return entry.published_number is not None
    status = inspect(entry).attrs.status.history
    return status.has_changes() and entry.status == Status.RETRACTED


@event.listens_for(Session, "before_commit")
def _raise_versions(session):
    """The changed entries' own versions in their transaction (their rows are written in it anyway);
    the entries public ones link to are raised after the commit (_raise_linked)."""
    session.flush()  # what is still pending reaches _collect first
    entry_ids = session.info.pop(CHANGED, set())
    if entry_ids:
        session.execute(update(Entry).where(Entry.id.in_(entry_ids)).values(page_version=Entry.page_version + 1)
                        .execution_options(synchronize_session=False))
        linked = session.scalars(select(EntryLink.target_title).join(Entry, Entry.id == EntryLink.source_id).where(
            EntryLink.source_id.in_(entry_ids), Entry.published_number.is_not(None), Entry.status != Status.RETRACTED))
        session.info.setdefault(LINKED_TITLES, set()).update(linked)
    if session.info.pop(RETIRE_ALL, False) or session.info.get(caching.RENAMED):  # a name any page may show
        session.execute(update(PageGeneration).values(token=secrets.token_hex(16)))


@event.listens_for(Session, "after_commit")
def _raise_linked(session):
    """The pages whose "Linked from" panels list a changed entry, in a transaction of its own: raising
    other entries' rows inside the change would lock them in any order (deadlocks on PostgreSQL).
    Should this fail, the panels are stale until SHARED_PAGE_MAX_AGE retires their pages."""
    titles = session.info.pop(LINKED_TITLES, None)
    if not titles:
        return
    try:
        with session.get_bind().begin() as connection:
            connection.execute(update(Entry).where(Entry.title.in_(titles))
                               .values(page_version=Entry.page_version + 1))
    except Exception:
        log.exception("could not mark the pages linked from a changed entry")


@event.listens_for(Session, "after_rollback")
def _forget(session):
    for name in (CHANGED, LINKED_TITLES, RETIRE_ALL):
        session.info.pop(name, None)
