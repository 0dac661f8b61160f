"""The parts of a page that belong to its reader, so the rest can be rendered once for many readers.

Templates show the reader's own things through `personal`: `{{ personal.csrf() }}`,
`{{ personal.bell() }}`, and on the entry page the bookmark and helpful buttons, the view count
and the comments (with their delete buttons). A page rendered for one reader gets `Personal`,
which renders each part at once. A page rendered to be shared (blueprints/entries.py: the entry
page as every uninvolved reader sees it) gets `STAND_INS`, which leaves a marker where each part
goes; `fill()` puts one reader's parts in. Both ways render the parts with the same macros
(templates/_macros/personal.html), so a shared page reads exactly like one rendered for its reader.
"""
import hashlib
import hmac
import re
from functools import cached_property
from typing import NamedTuple

from flask import current_app, get_template_attribute, render_template, request, session
from flask_babel import get_locale
from flask_login import current_user
from flask_wtf.csrf import generate_csrf
from jinja2 import pass_context
from markupsafe import Markup, escape

from . import caching
from .services import activity

MACROS = "_macros/personal.html"
EXTENSION = "kmwiki.personal_marker"
TOKEN_STAND_IN = "@@form-token@@"  # where a kept part's form token goes: no macro writes "@" itself
SIGNED = "kmwiki.signed_form_tokens"
SIGNED_MAX = 10_000  # sessions per worker
ENTRY_STAND_IN = 9_876_543_210_123  # where its entry id goes (in URLs): no count or entry reaches it


class Personal:
    """One reader's parts, rendered as the template asks for them. `reader` is the entry page's
    reading.ReaderState (bookmark, vote, counts, comments); other pages have none.

    Most parts have few forms (bookmarked or not, a count) whatever the entry: each form is rendered
    once per process and language, and the entry and the session's form token are put in (_kept)."""

    def __init__(self, entry=None, reader=None):
        self.entry = entry
        self.reader = reader

    @cached_property
    def user(self):
        return current_user._get_current_object()  # once: each use of the proxy looks the user up

    @cached_property
    def token(self):
        return form_token()

    @cached_property
    def locale(self):
        return str(get_locale())

    def csrf(self):
        return self.token

    def name(self):
        return self.user.display_name

    def search_query(self):
        """What the header's search box holds: the question on the results page, else nothing."""
        return request.args.get("q", "") if request.endpoint == "search.results" else ""

    def here(self):
        """Where the language switch comes back to."""
        return request.full_path if request.query_string else request.path

    def bell(self):
        count = self.reader.unread if self.reader else activity.unread_count(self.user)
        return self._kept(("bell", count), lambda token, entry_id: _macro("bell")(count))

    def bookmark(self):
        bookmarked = self.reader.bookmarked
        return self._kept(("bookmark", bookmarked),
                          lambda token, entry_id: _macro("bookmark")(entry_id, bookmarked, token))

    def helpful(self):
        public, count = self.entry.is_public, self.reader.helpful_count
        can_vote = self.entry.author_id != self.user.id and not self.reader.voted
        return self._kept(("helpful", public, can_vote, count),
                          lambda token, entry_id: _macro("helpful")(entry_id, public, can_vote, count, token))

    def views(self):
        count = self.reader.view_count
        return self._kept(("views", count), lambda token, entry_id: _macro("views")(count))

    def comments(self):
        if self.reader.comments:  # with delete buttons for this reader's own: rendered for them
            return _macro("comments")(self.entry, self.reader.comments, self.user, self.token)
        return self._kept(("no comments",),
                          lambda token, entry_id: _macro("comments")(_EntryStandIn(entry_id), [], None, token))

    def _kept(self, key, render):
        """render(token, entry_id)'s HTML for this form of a part, rendered once per process and
        language with stand-ins for the form token and the entry, which are put in per reader."""
        html = caching.rendered_once(("personal", self.locale, *key), lambda: render(TOKEN_STAND_IN, ENTRY_STAND_IN))
        if self.entry is not None:
            html = html.replace(str(ENTRY_STAND_IN), str(self.entry.id))
        return Markup(html.replace(TOKEN_STAND_IN, self.token))


class _EntryStandIn(NamedTuple):
    id: int


class StandIns:
    """Markers instead of parts, for a page rendered once and filled per reader."""

    def __getattr__(self, part):
        if part.startswith("_") or not hasattr(Personal, part):
            raise AttributeError(part)
        return lambda: Markup(f"{marker()[0]}{part}-->")


STAND_INS = StandIns()


def fill(page, personal):
    """The shared page with this reader's parts where the markers are (text escaped, as Jinja would)."""
    return marker()[1].sub(lambda match: str(escape(getattr(personal, match[1])())), page)


@pass_context
def chrome(context, part):
    """The site's head links, header or footer (templates/_chrome/) for this page's reader. Each is the
    same for everyone with the same language and roles but for the reader's own parts, so it is
    rendered once per process with markers, and filled (or, on a page rendered to be shared, left
    with its markers for fill() to fill later): rendering it anew was ~1.3 ms of every page."""
    user = current_user._get_current_object()
    roles = tuple(sorted(user.roles)) if user.is_authenticated else None
    html = caching.rendered_once(("chrome", part, str(get_locale()), roles),
                                 lambda: render_template(f"_chrome/{part}.html", personal=STAND_INS))
    reader = context["personal"]
    return Markup(html if reader is STAND_INS else fill(html, reader))


def form_token():
    """The session's signed CSRF form token. Flask-WTF signs it anew on every request; a token without
    a time limit (WTF_CSRF_TIME_LIMIT None) stays valid for its session however old its signature,
    so each worker signs a session's token once: signing cost ~0.08 ms of every shared page."""
    raw = session.get(current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"))
    if raw is None or current_app.config.get("WTF_CSRF_TIME_LIMIT") is not None:
        return generate_csrf()
    signed = current_app.extensions.setdefault(SIGNED, {})
    token = signed.get(raw)
    if token is None:
        if len(signed) >= SIGNED_MAX:
            signed.clear()
        token = signed[raw] = generate_csrf()
    return token


def marker():
    """(the markers' prefix, their pattern) for this app. Derived from the secret key, so every
    worker fills the pages the others kept (kmwiki/pages.py), and no entry text can hold a marker:
    sanitized HTML keeps no comments, and nobody who writes one could know it anyway."""
    found = current_app.extensions.get(EXTENSION)
    if found is None:
        secret = str(current_app.config["SECRET_KEY"]).encode()
        prefix = "<!--personal-" + hmac.new(secret, b"kmwiki personal parts", hashlib.sha256).hexdigest()[:16] + ":"
        found = current_app.extensions[EXTENSION] = (prefix, re.compile(re.escape(prefix) + r"(\w+)-->"))
    return found


def _macro(name):
    return get_template_attribute(MACROS, name)
