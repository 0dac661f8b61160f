"""The parts of a page that belong to its reader, so the rest can be rendered once for many readers.

Templates show the reader's own things through `personal`: `{{ personal.csrf() }}`,
`{{ personal.bell() }}`, and on the entry page the bookmark and helpful buttons, the view count
and the comments (with their delete buttons). A page rendered for one reader gets `Personal`,
which renders each part at once. A page rendered to be shared (blueprints/entries.py: the entry
page as every uninvolved reader sees it) gets `STAND_INS`, which leaves a marker where each part
goes; `fill()` puts one reader's parts in. Both ways render the parts with the same macros
(templates/_macros/personal.html), so a shared page reads exactly like one rendered for its reader.
"""
import re
import secrets

from flask import get_template_attribute
from flask_login import current_user
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup, escape

from .services import activity

# Random per process, so no entry text can contain a marker that fill() would replace.
MARKER_PREFIX = f"<!--personal-{secrets.token_hex(8)}:"
MARKER = re.compile(re.escape(MARKER_PREFIX) + r"(\w+)-->")
MACROS = "_macros/personal.html"


class Personal:
    """One reader's parts, rendered as the template asks for them. `reader` is the entry page's
    reading.ReaderState (bookmark, vote, counts, comments); other pages have none."""

    def __init__(self, entry=None, reader=None):
        self.entry = entry
        self.reader = reader

    def csrf(self):
        return generate_csrf()

    def name(self):
        return current_user.display_name

    def bell(self):
        count = self.reader.unread if self.reader else activity.unread_count(current_user)
        return _macro("bell")(count)

    def bookmark(self):
        return _macro("bookmark")(self.entry, self.reader.bookmarked)

    def helpful(self):
        return _macro("helpful")(self.entry, self.reader, current_user)

    def views(self):
        return _macro("views")(self.reader.view_count)

    def comments(self):
        return _macro("comments")(self.entry, self.reader.comments, current_user)


class StandIns:
    """Markers instead of parts, for a page rendered once and filled per reader."""

    def __getattr__(self, part):
        if part.startswith("_") or not hasattr(Personal, part):
            raise AttributeError(part)
        return lambda: Markup(f"{MARKER_PREFIX}{part}-->")


STAND_INS = StandIns()


def fill(page, personal):
    """The shared page with this reader's parts where the markers are (text escaped, as Jinja would)."""
    return MARKER.sub(lambda match: str(escape(getattr(personal, match[1])())), page)


def _macro(name):
    return get_template_attribute(MACROS, name)
