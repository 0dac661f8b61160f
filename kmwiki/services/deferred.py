"""Writes of derived data that can wait: page-view counts and the first rendering of a revision's
HTML, gathered in the process and written together every few seconds.

Neither is a user's write. Writing them in the request made reading an entry a write transaction:
on SQLite the workers' readers queued behind each other's commits, and each commit expired the
session so the page loaded its entry again. They wait at most FLUSH_SECONDS (and are written when
the process exits normally); a killed process loses its last few seconds of view counts, and a
rendering is simply done again.
"""
import atexit
import logging
import threading
import time
import weakref
from collections import Counter

from flask import current_app
from sqlalchemy import bindparam, update

from ..extensions import db
from ..models import Entry, Revision

FLUSH_SECONDS = 2.0
EXTENSION = "kmwiki.deferred"

log = logging.getLogger(__name__)
_lock = threading.Lock()
_buffers = weakref.WeakSet()  # every app's, for the flush at exit

COUNT_VIEWS = (update(Entry).where(Entry.id == bindparam("entry_id"))
               .values(view_count=Entry.view_count + bindparam("views")))
KEEP_HTML = (update(Revision).where(Revision.id == bindparam("revision_id"))
             .values(html=bindparam("html"), html_version=bindparam("version")))


class Buffer:
    """One app's writes not yet made."""

    def __init__(self, engine):
        self.engine, self.views, self.html, self.next_flush = engine, Counter(), {}, 0.0

    def take(self):
        with _lock:
            views, html = self.views, self.html
            self.views, self.html = Counter(), {}
            self.next_flush = time.monotonic() + FLUSH_SECONDS
        return views, html

    def write(self):
        views, html = self.take()
        if not views and not html:
            return
        with self.engine.begin() as connection:
            if views:
                connection.execute(COUNT_VIEWS, [{"entry_id": k, "views": n} for k, n in views.items()])
            if html:
                connection.execute(KEEP_HTML, [{"revision_id": k, "html": text, "version": version}
                                               for k, (text, version) in html.items()])


def _buffer():
    with _lock:
        buffer = current_app.extensions.get(EXTENSION)
        if buffer is None:
            buffer = current_app.extensions[EXTENSION] = Buffer(db.engine)
            _buffers.add(buffer)
        return buffer


def _flush_when_due(buffer):
    with _lock:
        due = time.monotonic() >= buffer.next_flush
    if due:
        buffer.write()


def count_view(entry_id):
    """Count one view of an entry."""
    buffer = _buffer()
    with _lock:
        buffer.views[entry_id] += 1
    _flush_when_due(buffer)


def keep_html(revision_id, html, version):
    """Store a revision's rendered HTML (sanitized, by markup.render) for the next readers."""
    buffer = _buffer()
    with _lock:
        buffer.html[revision_id] = (html, version)
    _flush_when_due(buffer)


def flush():
    """Write this app's gathered writes now."""
    _buffer().write()


@atexit.register
def _flush_at_exit():
    for buffer in list(_buffers):
        try:
            buffer.write()
        except Exception:  # the database may be gone already
            log.warning("deferred writes not made at exit", exc_info=True)
