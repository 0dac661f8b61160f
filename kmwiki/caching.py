"""What every reader sees alike, kept in each worker process until the content behind it changes.

After any commit that changed entries, their revisions or helpful votes (what search/sync.py
reindexes), `content_changed()` replaces a stamp file in the instance folder. Every process
compares the stamp (one stat call) before it uses what it keeps, and drops everything when the
stamp moved, so a change made in one worker is seen by all of them on their next request. The
stamp moves only after the commit, so nothing kept can be older than the stamp it is kept under.

Only what is the same for every signed-in reader belongs here (rendered HTML of public content,
in one language); anything that depends on who asks is rendered per request.
"""
import os
import threading
from collections import OrderedDict
from pathlib import Path

from flask import current_app

STAMP_FILE = "content_stamp"
MAX_ITEMS = 2000  # a few KB each: a few MB per worker
EXTENSION = "kmwiki.shared"


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
        stamp = self.current_stamp()
        with self.lock:
            if stamp != self.stamp:
                self.items.clear()
                self.stamp = stamp
            elif key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
        value = compute()
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


def content_changed():
    """Tell every process that content changed: the stamp file is replaced by a new one."""
    path = shared().stamp_path
    scratch = path.with_name(f".{STAMP_FILE}.{os.getpid()}.{threading.get_ident()}")
    scratch.write_bytes(os.urandom(8))
    os.replace(scratch, path)  # a new inode, so the stamp differs even within one clock tick
