"""Reading: bookmarks, comments and the personal home page's data."""
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..errors import Invalid
from ..forms import CommentForm, ConfirmForm
from ..models.reading import COMMENT_MAX
from ..services import entries, reading

bp = Blueprint("reading", __name__)


@bp.before_request
@login_required
def require_login():
    """Bookmarks and comments belong to signed-in staff."""


def require_csrf():
    """Every form post here carries the session's CSRF token."""
    if not ConfirmForm().validate_on_submit():
        raise Invalid()


def back_to(entry_id, anchor=None):
    """Back to a local page named by `next` (e.g. the bookmark list), else to the entry."""
    target = request.form.get("next", "")
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return redirect(target)
    return redirect(url_for("entries.view", entry_id=entry_id, _anchor=anchor))


@bp.post("/entries/<int:entry_id>/bookmark")
def bookmark(entry_id):
    """Keep or drop an entry (`keep` = 1 or 0 makes a double submit harmless; without it, toggle)."""
    require_csrf()
    wanted = {"1": True, "0": False}.get(request.form.get("keep", ""))
    if reading.set_bookmark(entry_id, current_user, wanted):
        flash(_("Bookmarked. Find it under My bookmarks."), "success")
    else:
        flash(_("Bookmark removed."), "info")
    return back_to(entry_id)


@bp.get("/me/bookmarks")
def bookmarks():
    """The entries the user keeps."""
    return render_template("reading/bookmarks.html", items=reading.bookmarks(current_user), form=ConfirmForm())


@bp.post("/entries/<int:entry_id>/comments")
def comment(entry_id):
    """Add a comment; invalid text comes back in the form with the reason, never lost."""
    form = CommentForm()
    body = form.body.data or ""
    try:
        if not form.validate_on_submit():
            raise Invalid(fields=form.errors)
        reading.add_comment(entry_id, current_user, body)
    except Invalid as error:
        entry = entries.get_visible(entry_id, current_user)
        return render_template("reading/comment_form.html", entry=entry, body=body, errors=error.fields.get("body", []),
                               form=ConfirmForm(), comment_max=COMMENT_MAX), 422
    flash(_("Comment posted."), "success")
    return back_to(entry_id, anchor="comments")


@bp.post("/entries/<int:entry_id>/comments/<int:comment_id>/delete")
def delete_comment(entry_id, comment_id):
    """Delete a comment (its author or an administrator)."""
    require_csrf()
    reading.delete_comment(entry_id, comment_id, current_user)
    flash(_("Comment deleted."), "info")
    return back_to(entry_id, anchor="comments")
