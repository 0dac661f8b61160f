"""UI language: Simplified Chinese by default, English selectable and remembered."""
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
    if not has_request_context():  # CLI and background work speak the default language
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    if current_user and current_user.is_authenticated and current_user.locale in languages:
        return current_user.locale
    chosen = request.cookies.get(LANG_COOKIE)
    return chosen if chosen in languages else current_app.config["BABEL_DEFAULT_LOCALE"]


def html_lang():
    """The value of <html lang>: zh-CN or en."""
    return "zh-CN" if str(get_locale()).startswith("zh") else "en"
