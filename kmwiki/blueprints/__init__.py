"""Blueprints, one per area."""
from . import admin, api, api_review, auth, dashboard, entries, leaderboard, review  # noqa: F401 (api_review adds routes)


def register_blueprints(app):
    """Attach every blueprint to the app."""
    for module in (auth, entries, review, leaderboard, dashboard, api, admin):
        app.register_blueprint(module.bp)
