"""Blueprints, one per area."""
from . import admin, api, api_review, api_search, auth, dashboard, entries, leaderboard, review, search  # noqa: F401


def register_blueprints(app):
    """Attach every blueprint to the app."""
    for module in (auth, entries, review, search, leaderboard, dashboard, api, admin):
        app.register_blueprint(module.bp)
