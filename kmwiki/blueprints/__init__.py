"""Blueprints, one per area."""
from . import admin, api, auth, dashboard, entries, leaderboard, review


def register_blueprints(app):
    """Attach every blueprint to the app."""
    for module in (auth, entries, review, leaderboard, dashboard, api, admin):
        app.register_blueprint(module.bp)
