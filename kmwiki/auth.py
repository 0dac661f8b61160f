"""Sign-in wiring and the role checks used by every blueprint."""
from functools import wraps

from flask import g, request
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from .errors import Forbidden, Unauthorized
from .extensions import login_manager
from .services import tokens, users
from .sessions import VerifiedCookieSessions


def init_app(app):
    """Configure Flask-Login: sessions carry "id:auth_version", so a version bump ends them."""
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("Please sign in to continue.")
    login_manager.session_protection = "basic"
    login_manager.user_loader(users.load_session_user)
    app.session_interface = VerifiedCookieSessions()


def api_user():
    """The user of the current API request (bearer token), set by require_api_user."""
    return g.api_user


def require_api_user():
    """Authenticate an API request by its bearer token; the session cookie is not accepted."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    user = tokens.user_for(token.strip()) if scheme.lower() == "bearer" and token.strip() else None
    if user is None:
        raise Unauthorized(_l("A valid bearer token is required."))
    g.api_user = user


def acting_user():
    """The signed-in user of a page request, or the token's user of an API request."""
    return g.get("api_user") or current_user


def roles_required(*roles):
    """Allow the view only to users holding one of the roles (403 otherwise)."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            user = acting_user()
            if not user.is_authenticated:
                raise Unauthorized()
            if not user.has_role(*roles):
                raise Forbidden()
            return view(*args, **kwargs)

        return wrapped

    return decorator
