"""What every reader sees alike, kept in each worker process until the content behind it changes.

After any commit that changed entries, their revisions or helpful votes (what search/sync.py
reindexes), `content_changed()` replaces a stamp file in the instance folder. Every process
compares the stamp (one stat call) before it uses what it keeps, and drops everything when the
stamp moved, so a change made in one worker is seen by all of them on their next request. The
stamp moves only after the commit, so nothing kept can be older than the stamp it is kept under.

Only what is the same for every signed-in reader belongs here (rendered HTML of public content,
in one language); anything that depends on who asks is rendered per request. Besides entries
(search/sync.py moves the stamp for those), what is kept shows the names of people, teams and
categories: renaming one moves the stamp too (the listeners at the end). Whole entry pages are kept
as files for every worker instead, with exact versions per entry (kmwiki/pages.py). Small parts whose
key holds everything they show are kept with no stamp at all (`rendered_once`).
"""
import os
import threading
import time
from collections import OrderedDict
from pathlib import Path

from flask import current_app, has_app_context
from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from .models import Branch, Category, SynonymGroup, Team, User

STAMP_FILE = "content_stamp"
MAX_ITEMS = 1000  # related panels of a few KB (entry pages are kept as files, kmwiki/pages.py): a few MB per worker
EXTENSION = "kmwiki.shared"
AGED = "kmwiki.shared_for_a_while"
RENDERED = "kmwiki.rendered_once"
RENDERED_MAX = 5000  # personal parts and leaderboard rows; a kept row with its key is ~1 KB: ~5 MB per worker at most


class SharedCache:
    """A bounded, least-recently-used map that empties itself when the stamp file changes."""

    def __init__(self, stamp_path):
        self.stamp_path = stamp_path
        self.items = OrderedDict()
        self.stamp = None
        self.lock = threading.Lock()

    def current_stamp(self):
        try:
            status = os.stat(self.stamp_path)
        except FileNotFoundError:
            return None
        return status.st_ino, status.st_mtime_ns

    def get(self, key, compute):
        value, stamp = self.lookup(key)
        if value is None:
            value = self.store(key, compute(), stamp)
        return value

    def lookup(self, key):
        """(the value kept for key or None, the stamp to store a new value under; values are never
        None). Read the stamp before the database, so nothing is kept under a newer stamp than it shows."""
        stamp = self.current_stamp()
        with self.lock:
            if stamp != self.stamp:
                self.items.clear()
                self.stamp = stamp
            elif key in self.items:
                self.items.move_to_end(key)
                return self.items[key], stamp
        return None, stamp

    def store(self, key, value, stamp):
        """Keep value under the stamp lookup() gave, unless the content changed since; returns it."""
        with self.lock:
            if self.stamp == stamp:
                self.items[key] = value
                if len(self.items) > MAX_ITEMS:
                    self.items.popitem(last=False)
        return value


def shared():
    """This app's cache (one per instance folder)."""
    cache = current_app.extensions.get(EXTENSION)
    if cache is None:
        cache = current_app.extensions.setdefault(EXTENSION, SharedCache(Path(current_app.instance_path) / STAMP_FILE))
    return cache


def remembered(key, compute):
    """compute()'s value for key, computed once per process while the content is unchanged."""
    return shared().get(key, compute)


def remembered_for(key, seconds, compute):
    """compute()'s value for key, kept per process for up to `seconds` whatever changes meanwhile:
    for summaries where a few minutes' lag is harmless and computing them again after every change
    is not (put what must never lag, such as the page generation, into the key)."""
    kept = current_app.extensions.setdefault(AGED, {})
    found = kept.get(key)
    now = time.monotonic()
    if found is None or now - found[0] > seconds:
        if len(kept) >= MAX_ITEMS:
            kept.clear()
        found = kept[key] = (now, compute())
    return found[1]


def rendered_once(key, render):
    """render()'s HTML (a str) for key, kept per process for good: for parts of pages that are a pure
    function of what the key holds (every figure and name they show, and the language), so nothing
    can make them stale but new code, which comes with a new process."""
    kept = current_app.extensions.setdefault(RENDERED, {})
    html = kept.get(key)
    if html is None:
        if len(kept) >= RENDERED_MAX:
            kept.clear()
        html = kept[key] = str(render())
    return html


def content_changed():
    """Tell every process that content changed: the stamp file is replaced by a new one."""
    path = shared().stamp_path
    scratch = path.with_name(f".{STAMP_FILE}.{os.getpid()}.{threading.get_ident()}")
    scratch.write_bytes(os.urandom(8))
    os.replace(scratch, path)  # a new inode, so the stamp differs even within one clock tick


# Names that shared pages show, by model: a commit that changes one retires what is kept.
SHOWN_NAMES = {User: ("display_name", "team_id"), Team: ("name", "branch_id"), Branch: ("name",),
               Category: ("name_zh", "name_en")}
RENAMED = "kmwiki.shared_renamed"
# Lists kept here whole (services/taxonomy.py, services/search.py): a row more, less or changed
# changes them. Entry pages do not show them, so they stay (pages.py retires those on RENAMED).
KEPT_WHOLE = (Category, SynonymGroup)
LISTS_CHANGED = "kmwiki.kept_lists_changed"


@event.listens_for(Session, "after_flush")
def _note_renames(session, flush_context):
    for obj in session.dirty:
        fields = SHOWN_NAMES.get(type(obj), ())
        if any(inspect(obj).attrs[name].history.has_changes() for name in fields):
            session.info[RENAMED] = True
    if any(isinstance(obj, KEPT_WHOLE) for obj in (*session.new, *session.dirty, *session.deleted)):
        session.info[LISTS_CHANGED] = True


@event.listens_for(Session, "after_commit")
def _retire_renamed(session):
    renamed = session.info.pop(RENAMED, False)
    lists_changed = session.info.pop(LISTS_CHANGED, False)
    if (renamed or lists_changed) and has_app_context():
        content_changed()


@event.listens_for(Session, "after_rollback")
def _forget_renames(session):
    session.info.pop(RENAMED, None)
    session.info.pop(LISTS_CHANGED, None)
