"""Sign in and out, profile, password change, UI language."""
from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from ..errors import Invalid
from ..extensions import limiter
from ..forms import LanguageForm, LoginForm, PasswordForm
from ..i18n import LANG_COOKIE
from ..services import users

bp = Blueprint("auth", __name__)


def safe_next(target):
    """Only same-site relative paths may be redirected to after login."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


def login_limit():
    return current_app.config["LOGIN_RATE_LIMIT"]


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(login_limit, methods=["POST"])
def login():
    """Show the sign-in form and sign the user in."""
    form = LoginForm(next=request.args.get("next", ""))
    if form.validate_on_submit():
        user = users.authenticate(form.username.data, form.password.data)
        if user is not None:
            login_user(user, remember=form.remember.data)
            return redirect(safe_next(form.next.data) or url_for("entries.home"))
        form.password.errors = [_("Wrong username or password.")]
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
@login_required
def logout():
    """Sign out everywhere: the session version moves on, so copied cookies die too."""
    users.end_sessions(current_user)
    logout_user()
    flash(_("You have signed out."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/profile", methods=["GET", "POST"])
@login_required
def profile():
    """Show the profile and change the password."""
    form = PasswordForm()
    if form.validate_on_submit():
        try:
            user = users.change_password(current_user, form.current_password.data, form.new_password.data)
        except Invalid as error:
            form.current_password.errors = error.fields.get("current_password", [])
            form.new_password.errors = error.fields.get("new_password", [])
        else:
            login_user(user)  # stay signed in here under the new version
            flash(_("Your password has been changed. Other devices have been signed out."), "success")
            return redirect(url_for("auth.profile"))
    return render_template("auth/profile.html", form=form, team=users.team_of(current_user))


@bp.post("/language")
def language():
    """Switch the UI language and remember it (cookie, and profile when signed in)."""
    form = LanguageForm()
    lang = form.lang.data if form.validate_on_submit() else None
    response = redirect(safe_next(form.next.data) or url_for("entries.home"))
    if lang in current_app.config["LANGUAGES"]:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 24 * 3600, httponly=True, samesite="Lax")
        if current_user.is_authenticated:
            users.set_locale(current_user, lang)
    return response
