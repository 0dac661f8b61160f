"""What templates can use beyond Flask's defaults, and the headers every response carries."""
from flask import current_app
from flask_babel import format_datetime, get_locale, lazy_gettext as _l
from flask_login import current_user

from . import i18n
from .services import activity
from .forms import ROLE_LABELS
from .models import Status

STATUS_LABELS = {
    Status.DRAFT: _l("Draft"),
    Status.PENDING: _l("Pending review"),
    Status.RETURNED: _l("Returned for revision"),
    Status.ADOPTED: _l("Adopted"),
    Status.REJECTED: _l("Rejected"),
    Status.RETRACTED: _l("Retracted"),
}
FIELD_LABELS = {
    "title": _l("Title"),
    "kind": _l("Kind"),
    "products": _l("Product lines"),
    "segments": _l("Customer segments"),
    "tags": _l("Tags"),
}
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' https: data:; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)


def init_app(app):
    """Register template helpers and security headers."""
    app.jinja_env.globals.update(
        status_label=lambda status: STATUS_LABELS.get(status, status),
        role_label=lambda role: ROLE_LABELS.get(role, role),
        field_label=lambda name: FIELD_LABELS.get(name, name),
        category_name=lambda category: category.name(get_locale()),
        html_lang=i18n.html_lang,
        languages=lambda: current_app.config["LANGUAGES"],
        current_locale=lambda: str(get_locale()),
        unread_notifications=lambda: activity.unread_count(current_user) if current_user.is_authenticated else 0,
    )
    app.jinja_env.filters["datetime"] = lambda value, fmt="medium": format_datetime(value, fmt) if value else ""
    app.after_request(security_headers)


def security_headers(response):
    """A strict CSP with no inline script, and the usual hardening headers."""
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    return response
