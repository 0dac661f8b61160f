"""Entry pages: home, browse, create, read, edit, history, diff, revert, recent changes."""
from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import get_locale, gettext as _
from flask_login import current_user, login_required
from markupsafe import Markup

from .. import caching, pages, personal
from ..errors import Forbidden, Invalid, NotFound
from ..forms import ConfirmForm, EntryForm, RetractForm, whole_number
from ..models import Role, Status, Vocabulary
from ..services import access, deferred, diff, entries, guards, reading, review, taxonomy
from ..services.entries import BrowseFilter, EditConflict

bp = Blueprint("entries", __name__)


@bp.before_request
@login_required
def require_login():
    """Every knowledge page is for signed-in staff only."""


def entry_form(formdata=None):
    """An entry form with its pickers filled from the category data."""
    form = EntryForm(formdata=formdata) if formdata is not None else EntryForm()
    form.set_choices(taxonomy.categories(Vocabulary.KIND), taxonomy.categories(Vocabulary.PRODUCT),
                     taxonomy.categories(Vocabulary.SEGMENT), get_locale())
    return form


def namer():
    """Category names in the reader's language, for showing changed fields."""
    return taxonomy.display_namer(get_locale())


def browse_filter():
    """Browse criteria from the query string."""
    args = request.args
    return BrowseFilter(kind=args.get("kind", ""), product=args.get("product", ""),
                        segment=args.get("segment", ""), tag=args.get("tag", ""),
                        status=args.get("status", ""), mine=args.get("mine") == "1")


@bp.get("/")
def home():
    """The user's standing, work waiting for them, newest knowledge and knowledge for their segments."""
    return render_template("entries/home.html", page=reading.home_page(current_user),
                           recent=entries.recent_changes(current_user, limit=8))


@bp.get("/entries")
def browse():
    """Browse visible entries by kind, product line, segment, tag and status."""
    criteria = browse_filter()
    page = entries.browse(current_user, criteria, request.args.get("page", 1, type=whole_number),
                          current_app.config["ENTRIES_PER_PAGE"])
    return render_template("entries/browse.html", page=page, criteria=criteria,
                           kinds=taxonomy.categories(Vocabulary.KIND),
                           products=taxonomy.categories(Vocabulary.PRODUCT),
                           segments=taxonomy.categories(Vocabulary.SEGMENT),
                           tags=entries.popular_tags(40), statuses=list(Status))


@bp.route("/entries/new", methods=["GET", "POST"])
def new():
    """Write a new entry; it starts as the author's private draft."""
    if not access.can_contribute(current_user):
        raise Forbidden()
    form = entry_form()
    if request.method == "GET":
        form.title.data = request.args.get("title", "")[:200]
    if form.validate_on_submit():
        try:
            entry = entries.create(form.to_input(), current_user)
        except Invalid as error:
            form.add_errors(error.fields)
        else:
            flash(_("Draft saved. Only you can see it for now."), "success")
            warn_about_findings(form)
            return redirect(url_for("entries.view", entry_id=entry.id))
    return render_template("entries/edit.html", form=form, entry=None), 422 if form.errors else 200


@bp.get("/entries/<int:entry_id>")
def view(entry_id):
    """Read an entry as its readers see it. Most readers of adopted knowledge see the same page but
    for their own parts (kmwiki/personal.py), so it is rendered once, kept for every worker
    (kmwiki/pages.py) and filled in for each reader: two queries instead of eight."""
    reader = current_user._get_current_object()  # once: each use of the proxy looks the user up
    shared = shared_state(entry_id, reader)
    if shared is None:
        entry = entries.get_for_reading(entry_id, reader)
        deferred.count_view(entry.id)
        return render_entry(entry, entries.visible_revision(entry, entry.face_number, reader))
    page, _ = shared_page(*shared, reader)
    deferred.count_view(entry_id)
    return personal.fill(page, personal.Personal(shared[1].entry, shared[1]))


def shared_state(entry_id, reader):
    """(the shared page's key, the reader's state) when this reader is served the shared page,
    else None (the entry may not exist either: the caller's own rendering answers that)."""
    key = shared_page_key(entry_id, reader)
    state = reading.reader_state(entry_id, reader) if key else None
    if state is None or not reads_shared_page(state.entry, reader):
        return None
    return key, state


def shared_page_key(entry_id, reader):
    """The shared page's key for this request, or None when it must be rendered for this reader
    alone: administrators see more, a query string or a message to show makes the page differ."""
    roles = reader.roles
    if Role.ADMIN in roles or request.query_string or "_flashes" in session:
        return None
    return pages.PageKey(entry_id, str(get_locale()), tuple(sorted(roles)))


def reads_shared_page(facts, reader):
    """Whether the reader sees the entry as everyone does: adopted with no edit waiting, and the
    reader neither wrote nor sent it (those see reviews and findings; nobody reviews it now)."""
    return (facts.status == Status.ADOPTED and not facts.has_unpublished_changes
            and not access.wrote_or_sent(facts, reader))


def shared_page(key, state, reader):
    """(the page every uninvolved reader shares, whether it was rendered now): the kept one while it
    is current, else rendered with stand-ins for the readers' parts and kept under the generation and
    version read before rendering, so it is never older than they say."""
    page = pages.read(key, state.page_generation, state.entry.page_version)
    if page is not None:
        return page, False
    entry = entries.get_for_reading(key.entry_id, reader)
    page = render_entry(entry, entries.visible_revision(entry, entry.face_number, reader), personal.STAND_INS)
    if state.page_generation:
        pages.keep(key, state.page_generation, state.entry.page_version, page)
    return page, True


def warm_page(entry_id):
    """For `flask pages warm`, in a request context signed in as a stand-in reader: keep the entry's
    shared page unless it is kept and current. True when it was rendered."""
    reader = current_user._get_current_object()
    shared = shared_state(entry_id, reader)
    return shared is not None and shared_page(*shared, reader)[1]


@bp.get("/entries/<int:entry_id>/revisions/<int:number>")
def revision(entry_id, number):
    """Read one old or unpublished revision, if this reader may (services/access.py can_view_revision)."""
    entry = entries.get_for_reading(entry_id, current_user)
    return render_entry(entry, entries.visible_revision(entry, number, current_user))


def render_entry(entry, revision, parts=None):
    """The entry page; `parts` are the reader's own (personal.Personal) or stand-ins for sharing."""
    html = entries.rendered(revision)
    can_review = access.can_review(entry, current_user)  # a query for reviewers of pending entries: once
    involved = access.wrote_or_sent(entry, current_user) or current_user.is_admin or can_review
    # The author and reviewers see what the guards find in the newest text, and the reviews so far;
    # the newest text only when they may read it, and the link to a waiting revision likewise.
    latest = (revision if revision.number == entry.latest_number else entries.revision(entry, entry.latest_number)) \
        if involved or entry.has_unpublished_changes else None
    reads_latest = latest is not None and access.can_view_revision(entry, latest, current_user)
    return render_template(
        "entries/view.html", entry=entry, revision=revision, html=html, toc=reading.toc(html),
        linked_from=entries.linked_from(entry), related_html=related_panel(entry, keep=parts is None),
        personal=parts or personal.Personal(entry, reading.reader_state(entry.id, current_user)),
        can_edit=access.can_edit(entry, current_user), can_submit=access.can_submit(entry, current_user),
        can_review=can_review, reads_latest=reads_latest,
        findings=guards.inspect(latest.title, latest.body) if involved and reads_latest else None,
        reviews=review.reviews_of(entry) if involved else [],
        retract_form=RetractForm() if current_user.is_admin else None)


def related_panel(entry, keep=True):
    """The related-entries panel: the same for every reader, so rendered once per process and
    language until content changes (the query weighs hundreds of entries at scale). A page kept
    whole for sharing holds it already: kept apart as well, it would take a second cache place."""
    def render():
        return render_template("reading/_related.html", related=reading.related(entry))
    return Markup(caching.remembered(("related", entry.id, str(get_locale())), render) if keep else render())


@bp.route("/entries/<int:entry_id>/edit", methods=["GET", "POST"])
def edit(entry_id):
    """Edit an entry on top of the revision the editor started from."""
    entry = entries.get_visible(entry_id, current_user)
    if not access.can_edit(entry, current_user):
        raise Forbidden()
    form = entry_form()
    start = entries.newest_visible(entry, current_user)
    if request.method == "GET":
        form.fill_from(start)
        form.rebase(entry.latest_number)  # a save still comes after revisions the editor may not read
    if form.validate_on_submit():
        base = form.base_revision.data or 0
        try:
            saved = entries.save_edit(entry_id, form.to_input(), base, current_user)
        except EditConflict as conflict:
            return render_conflict(conflict, form), 409
        except Invalid as error:
            form.add_errors(error.fields)
        else:
            flash(_("Saved as revision %(number)s.", number=saved.number), "success")
            warn_about_findings(form)
            return redirect(url_for("entries.view", entry_id=entry_id))
    return render_template("entries/edit.html", form=form, entry=entry, start=start), 422 if form.errors else 200


def warn_about_findings(form):
    """Tell the author at once when the text holds personal data or a mis-selling phrase."""
    found = guards.inspect(form.title.data or "", form.body.data or "")
    if guards.blocking(found):
        flash(_("Check the compliance notes below: this text cannot be adopted as it is."), "warning")
    elif found["rules"]:
        flash(_("Check the compliance notes below: a reviewer will look at the flagged phrases."), "info")


def render_conflict(conflict, form):
    """Show what the other editor changed, and keep this editor's text to merge and save again."""
    entry = conflict.entry
    # Only what this editor may read: the newest such revision, against the one their edit started from.
    latest = entries.newest_visible(entry, current_user)
    try:
        base = entries.newest_visible(entry, current_user, upto=conflict.base)
    except NotFound:
        base = None
    theirs = diff.body_lines(base.body if base else "", latest.body)
    yours = diff.body_lines(latest.body, form.body.data or "")
    form.rebase(entry.latest_number)  # saving again now means: I have seen the other change
    return render_template("entries/conflict.html", entry=entry, form=form, base=base, latest=latest, start=latest,
                           changed=base is None or base.number != latest.number, theirs=theirs, yours=yours,
                           their_fields=diff.field_changes(base, latest, namer()) if base else [])


@bp.get("/entries/<int:entry_id>/history")
def history(entry_id):
    """The revisions of an entry this reader may read, newest first, with pickers to compare two."""
    entry = entries.get_visible(entry_id, current_user)
    return render_template("entries/history.html", entry=entry, revisions=entries.history(entry, current_user),
                           can_edit=access.can_edit(entry, current_user), form=ConfirmForm())


@bp.get("/entries/<int:entry_id>/diff")
def compare(entry_id):
    """The difference between two revisions this reader may read (?a=OLD&b=NEW)."""
    entry = entries.get_visible(entry_id, current_user)
    args = request.args
    a, b = entries.compared(entry, args.get("a", type=whole_number), args.get("b", type=whole_number), current_user)
    return render_template("entries/diff.html", entry=entry, a=a, b=b,
                           lines=diff.body_lines(a.body, b.body), fields=diff.field_changes(a, b, namer()))


@bp.post("/entries/<int:entry_id>/revert/<int:number>")
def revert(entry_id, number):
    """Save an old revision again as the newest one."""
    form = ConfirmForm()
    if not form.validate_on_submit():
        raise Invalid()
    try:
        saved = entries.revert(entry_id, number, form.base_revision.data or 0, current_user)
    except EditConflict:
        flash(_("Someone saved a newer revision meanwhile. Review the history and try again."), "warning")
        return redirect(url_for("entries.history", entry_id=entry_id))
    flash(_("Reverted: revision %(number)s now holds the content of revision %(old)s.",
            number=saved.number, old=number), "success")
    return redirect(url_for("entries.view", entry_id=entry_id))


@bp.get("/recent")
def recent():
    """Recent changes across the entries the user can see."""
    return render_template("entries/recent.html", changes=entries.recent_changes_compared(current_user, limit=100))


@bp.get("/wiki/<path:title>")
def wikilink(title):
    """Follow a `[[Title]]` link: open the entry, or offer to write it."""
    entry = entries.find_by_title(title, current_user)
    if entry is not None:
        return redirect(url_for("entries.view", entry_id=entry.id))
    return render_template("entries/missing.html", title=title), 404
