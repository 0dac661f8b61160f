"""Page-view counts, gathered in the process and written together every few seconds.

A view is a statistic, not a user's write: writing each one in its own transaction made every
entry page a write, and on SQLite the workers' readers then queued behind each other's commits.
Counts wait at most FLUSH_SECONDS (and are written when the process exits normally); a killed
process loses its last few seconds of counts, never anything a user saved.
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
from ..models import Entry

FLUSH_SECONDS = 2.0
EXTENSION = "kmwiki.views"

log = logging.getLogger(__name__)
_lock = threading.Lock()
_buffers = weakref.WeakSet()  # every app's, for the flush at exit


class ViewBuffer:
    """One app's views not yet written."""

    def __init__(self, engine):
        self.engine, self.counts, self.next_flush = engine, Counter(), 0.0

    def take(self):
        with _lock:
            counts, self.counts = self.counts, Counter()
            self.next_flush = time.monotonic() + FLUSH_SECONDS
        return counts

    def write(self):
        counts = self.take()
        if not counts:
            return
        statement = (update(Entry).where(Entry.id == bindparam("entry_id"))
                     .values(view_count=Entry.view_count + bindparam("views")))
        with self.engine.begin() as connection:
            connection.execute(statement, [{"entry_id": k, "views": n} for k, n in counts.items()])


def _buffer():
    with _lock:
        buffer = current_app.extensions.get(EXTENSION)
        if buffer is None:
            buffer = current_app.extensions[EXTENSION] = ViewBuffer(db.engine)
            _buffers.add(buffer)
        return buffer


def record(entry_id):
    """Count one view of an entry; writes the gathered counts when they are due."""
    buffer = _buffer()
    with _lock:
        buffer.counts[entry_id] += 1
        due = time.monotonic() >= buffer.next_flush
    if due:
        buffer.write()


def flush():
    """Write this app's gathered counts now."""
    _buffer().write()


@atexit.register
def _flush_at_exit():
    for buffer in list(_buffers):
        try:
            buffer.write()
        except Exception:  # the database may be gone already
            log.warning("page views not written at exit", exc_info=True)
