"""Blueprints, one per area."""
from . import (admin, api, api_review, api_search, auth, dashboard, editor, entries, leaderboard, reading,  # noqa: F401
               review, search)


def register_blueprints(app):
    """Attach every blueprint to the app."""
    for module in (auth, entries, editor, reading, review, search, leaderboard, dashboard, api, admin):
        app.register_blueprint(module.bp)
