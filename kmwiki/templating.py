"""What templates can use beyond Flask's defaults, and the headers every response carries."""
from flask import current_app
from flask_babel import format_datetime, format_timedelta, get_locale, gettext as _, lazy_gettext as _l

from . import i18n, personal
from .forms import ROLE_LABELS
from .labels import status_label
from .models import Decision
from .models.base import utcnow

FIELD_LABELS = {
    "title": _l("Title"),
    "kind": _l("Kind"),
    "products": _l("Product lines"),
    "segments": _l("Customer segments"),
    "tags": _l("Tags"),
}
DECISION_LABELS = {
    Decision.ADOPT: _l("Adopted"),
    Decision.REVISE: _l("Returned for revision"),
    Decision.REJECT: _l("Rejected"),
}
NOTIFICATION_TEXTS = {
    "review_requested": _l("%(actor)s submitted an entry for review:"),
    "adopted": _l("%(actor)s adopted your entry:"),
    "returned": _l("%(actor)s returned your entry for revision:"),
    "rejected": _l("%(actor)s rejected your entry:"),
    "retracted": _l("%(actor)s retracted your entry:"),
    "comment": _l("%(actor)s commented on your entry:"),
}
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' https: data:; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)


def init_app(app):
    """Register template helpers and security headers."""
    app.jinja_env.globals.update(
        status_label=status_label,
        role_label=lambda role: ROLE_LABELS.get(role, role),
        field_label=lambda name: FIELD_LABELS.get(name, name),
        category_name=lambda category: category.name(get_locale()),
        html_lang=i18n.html_lang,
        languages=lambda: current_app.config["LANGUAGES"],
        current_locale=lambda: str(get_locale()),
        decision_label=lambda decision: DECISION_LABELS.get(decision, decision),
        notification_text=notification_text,
        age=age,
        age_days=lambda moment: (utcnow() - moment).days if moment else 0,
        chrome=personal.chrome,
    )
    app.jinja_env.filters["datetime"] = lambda value, fmt="medium": format_datetime(value, fmt) if value else ""
    app.context_processor(lambda: {"personal": personal.Personal()})  # entry pages pass their own
    app.after_request(security_headers)


def age(moment):
    """How long ago, in words: "3 days"."""
    return format_timedelta(utcnow() - moment, threshold=1.1) if moment else ""


def notification_text(notification):
    """A notification's sentence in the reader's language."""
    actor = notification.actor.display_name if notification.actor else _("The system")
    return NOTIFICATION_TEXTS.get(notification.kind, notification.kind) % {"actor": actor}


SECURITY_HEADERS = (
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("X-Frame-Options", "DENY"),
)
HTTPS_HEADERS = (("Strict-Transport-Security", "max-age=31536000"),)


def security_headers(response):
    """A strict CSP with no inline script, and the usual hardening headers, where a view did not set
    its own (attachments do). The names present are looked up once: werkzeug's setdefault raises and
    catches an exception for every header that is missing, which all of these usually are."""
    present = {name.lower() for name, _ in response.headers}
    wanted = SECURITY_HEADERS + HTTPS_HEADERS if current_app.config["HTTPS"] else SECURITY_HEADERS
    for name, value in wanted:
        if name.lower() not in present:
            response.headers.add(name, value)
    return response
