"""Blueprints, one per area."""
from . import admin, api, auth, entries


def register_blueprints(app):
    """Attach every blueprint to the app."""
    app.register_blueprint(auth.bp)
    app.register_blueprint(entries.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(admin.bp)
