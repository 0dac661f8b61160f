"""Blueprints, one per area, and what every URL may carry."""
from flask import request
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import NotFound
from werkzeug.routing import IntegerConverter

from ..errors import KmwikiError
from ..forms import unstorable
from ..models.base import MAX_ID
from . import (admin, api, api_review, api_search, auth, dashboard, editor, entries, leaderboard, reading,  # noqa: F401
               review, search)


class IdConverter(IntegerConverter):
    """`<int:…>` in every route: a number larger than any id names nothing (404), where the database would
    fail. Raised here, not by werkzeug's `max`: a rule refused that way lets a sibling rule with another
    method answer 405."""

    def to_python(self, value):
        number = super().to_python(value)
        if number > MAX_ID:
            raise NotFound()
        return number


def refuse_unstorable_urls():
    """A NUL in the path or query string is a broken link or an attack, and no database text holds it: 400 for
    every page and endpoint, before a filter or a search sends it to the database."""
    if unstorable(request.path) or any(unstorable(k) or unstorable(v) for k, v in request.args.items(multi=True)):
        raise KmwikiError(_l("The address contains a character that is not allowed (a NUL byte)."), code="bad_url")


def register_blueprints(app):
    """Attach every blueprint to the app."""
    app.url_map.converters["int"] = IdConverter  # before the first rule is added: rules bind it then
    app.before_request(refuse_unstorable_urls)
    for module in (auth, entries, editor, reading, review, search, leaderboard, dashboard, api, admin):
        app.register_blueprint(module.bp)
