"""UI language: Simplified Chinese by default, English selectable and remembered."""
import functools

from babel import Locale
from flask import current_app, has_request_context, request
from flask_babel import get_locale
from flask_login import current_user

from .extensions import babel

LANG_COOKIE = "kmwiki_lang"


def init_app(app):
    """Bind Flask-Babel with kmwiki's locale choice."""
    babel.init_app(app, locale_selector=select_locale)


def select_locale():
    """The signed-in user's saved language, else the language cookie, else the default."""
    languages = current_app.config["LANGUAGES"]
    default = current_app.config["BABEL_DEFAULT_LOCALE"]
    if not has_request_context():  # CLI and background work speak the default language
        return _locale(default)
    user = current_user._get_current_object()
    if user.is_authenticated and user.locale in languages:
        return _locale(user.locale)
    chosen = request.cookies.get(LANG_COOKIE)
    return _locale(chosen if chosen in languages else default)


@functools.lru_cache(maxsize=8)
def _locale(identifier):
    """Flask-Babel would parse the chosen identifier on every request; a Locale is immutable."""
    return Locale.parse(identifier)


def html_lang():
    """The value of <html lang>: zh-CN or en."""
    return "zh-CN" if str(get_locale()).startswith("zh") else "en"
