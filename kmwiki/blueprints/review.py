"""Review pages: submitting, the queue, the review form, helpful votes, retraction, notifications."""
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import get_locale, gettext as _
from flask_login import current_user, login_required

from ..auth import roles_required
from ..errors import Conflict, Invalid, KmwikiError
from ..forms import ConfirmForm, RetractForm, review_form
from ..models import Role
from ..services import access, activity, diff, entries, feedback, guards, review, taxonomy

bp = Blueprint("review", __name__)


@bp.before_request
@login_required
def require_login():
    """Every page here is for signed-in staff."""


def back_to(entry_id):
    return redirect(url_for("entries.view", entry_id=entry_id))


@bp.post("/entries/<int:entry_id>/submit")
def submit(entry_id):
    """Send the entry's newest revision to the review queue."""
    if not ConfirmForm().validate_on_submit():
        raise Invalid()
    review.submit(entry_id, current_user)
    flash(_("Submitted for review. You will be notified of the decision."), "success")
    return back_to(entry_id)


@bp.get("/review")
@roles_required(Role.REVIEWER)
def queue():
    """Pending entries, oldest first."""
    return render_template("review/queue.html", items=review.queue())


@bp.route("/review/<int:entry_id>", methods=["GET", "POST"])
@roles_required(Role.REVIEWER)
def decide(entry_id):
    """Read the submitted revision, score it and decide."""
    entry = entries.get_visible(entry_id, current_user)
    rubric = review.criteria()
    form = review_form(rubric, get_locale())
    if form.validate_on_submit():
        try:
            review.decide(entry_id, form.to_input(rubric), current_user)
        except Invalid as error:
            flash_field_errors(error)
        except Conflict as error:  # decided meanwhile, or blocked: keep the page and what was typed
            flash(str(error.message), "error")
            entry = entries.get_visible(entry_id, current_user)
            return render_review_page(entry, form, rubric), 409
        else:
            flash(_("Your decision has been recorded."), "success")
            return redirect(url_for("review.queue"))
    return render_review_page(entry, form, rubric), 422 if form.errors or request.method == "POST" else 200


def flash_field_errors(error):
    for messages in error.fields.values():
        for message in messages:
            flash(str(message), "error")


def render_review_page(entry, form, rubric):
    number = entry.review_number or entry.latest_number
    submitted = entries.visible_revision(entry, number, current_user)  # a decided, unpublished edit is not theirs
    published = entries.revision(entry, entry.published_number) if entry.published_number else None
    return render_template(
        "review/decide.html", entry=entry, form=form, rubric=rubric, revision=submitted,
        html=entries.rendered(submitted), findings=guards.inspect(submitted.title, submitted.body),
        changes=diff.body_lines(published.body, submitted.body) if published else None,
        field_changes=diff.field_changes(published, submitted, taxonomy.display_namer(get_locale()))
        if published else [],
        past_reviews=review.reviews_of(entry), can_review=access.can_review(entry, current_user))


@bp.post("/entries/<int:entry_id>/helpful")
def helpful(entry_id):
    """Mark an entry helpful (once per reader)."""
    if not ConfirmForm().validate_on_submit():
        raise Invalid()
    try:
        feedback.vote_helpful(entry_id, current_user)
    except KmwikiError as error:
        if error.status != 409:
            raise
        flash(str(error.message), "info")
    else:
        flash(_("Thank you! The author has been told this helped."), "success")
    return back_to(entry_id)


@bp.post("/entries/<int:entry_id>/retract")
@roles_required(Role.ADMIN)
def retract(entry_id):
    """Withdraw adopted knowledge, with a reason; its adoption points are reversed."""
    form = RetractForm()
    if not form.validate_on_submit():
        flash(_("Say why the entry is retracted."), "error")
        return back_to(entry_id)
    review.retract(entry_id, current_user, form.reason.data)
    flash(_("The entry has been retracted and its points reversed."), "success")
    return back_to(entry_id)


@bp.get("/notifications")
def notifications():
    """The user's notifications, newest first."""
    return render_template("review/notifications.html", items=activity.notifications(current_user),
                           form=ConfirmForm())


@bp.post("/notifications/read")
def mark_read():
    """Mark every notification read."""
    if not ConfirmForm().validate_on_submit():
        raise Invalid()
    activity.mark_all_read(current_user)
    return redirect(url_for("review.notifications"))
