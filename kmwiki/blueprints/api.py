"""JSON API v1 (DESIGN §8): bearer tokens, entries, OpenAPI description."""
from flask import Blueprint, current_app, jsonify, request, url_for
from flask_babel import lazy_gettext as _l

from ..auth import api_user, require_api_user, roles_required
from ..errors import Invalid, KmwikiError
from ..extensions import csrf, limiter
from ..forms import UNSTORABLE, unstorable, whole_number
from ..models import Role, Vocabulary
from ..models.base import MAX_ID
from ..services import entries, feedback, ledger, rankings, taxonomy, tokens
from ..services.entries import BrowseFilter, EntryInput
from ..services.periods import Period
from .openapi import openapi_document

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)  # the API accepts bearer tokens only, never the session cookie, so CSRF cannot apply
PUBLIC_ENDPOINTS = {"api.create_token", "api.openapi"}


@bp.before_request
def authenticate():
    """Every endpoint but token creation and the description needs a bearer token."""
    if request.endpoint not in PUBLIC_ENDPOINTS:
        require_api_user()


def json_body():
    """The request's JSON object; a clear 400 when it is missing or not JSON, 422 naming each field that
    holds a character no database can store."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise KmwikiError(_l("The body must be a JSON object sent as application/json."))
    fields = {name: [UNSTORABLE] for name, value in data.items() if unstorable(name) or unstorable(value)}
    if fields:
        raise Invalid(fields=fields)
    return data


def base_revision(data):
    value = data.get("base_revision")
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_ID:
        raise Invalid(fields={"base_revision": [_l("An integer revision number is required.")]})
    return value


def entry_summary(entry):
    return {
        "id": entry.id,
        "title": entry.title,
        "kind": entry.kind.slug,
        "status": entry.status,
        "author": entry.author.username,
        "products": [c.slug for c in entry.products],
        "segments": [c.slug for c in entry.segments],
        "tags": [t.name for t in entry.tags],
        "updated_at": entry.updated_at.isoformat(),
        "url": url_for("api.get_entry", entry_id=entry.id),
    }


def entry_detail(entry, revision):
    return {
        "id": entry.id,
        "title": revision.title,
        "body": revision.body,
        "html": str(entries.rendered(revision)),
        "kind": revision.kind_slug,
        "products": revision.products,
        "segments": revision.segments,
        "tags": revision.tags,
        "status": entry.status,
        "revision": entry.latest_number,
        "published_revision": entry.published_number,
        "shown_revision": revision.number,
        "author": {"username": entry.author.username, "display_name": entry.author.display_name},
        "helpful_count": feedback.helpful_count(entry.id),
        "view_count": entry.view_count,
        "created_at": entry.created_at.isoformat(),
        "updated_at": entry.updated_at.isoformat(),
    }


def saved(entry, revision_number, status):
    return jsonify(id=entry.id, status=entry.status, revision=revision_number), status


@bp.post("/tokens")
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"])
def create_token():
    """Exchange a username and password for a bearer token."""
    data = json_body()
    token = tokens.issue(str(data.get("username", "")), str(data.get("password", "")),
                         current_app.config["API_TOKEN_DAYS"])
    return jsonify(token=token, token_type="Bearer", expires_in_days=current_app.config["API_TOKEN_DAYS"]), 201


@bp.delete("/tokens/current")
def revoke_token():
    """Revoke the token this request was made with."""
    tokens.revoke(request.headers["Authorization"].partition(" ")[2].strip(), api_user())
    return "", 204


@bp.get("/entries")
def list_entries():
    """Entries the caller can see, filtered like the browse page, newest first."""
    args = request.args
    criteria = BrowseFilter(kind=args.get("kind", ""), product=args.get("product", ""),
                            segment=args.get("segment", ""), tag=args.get("tag", ""),
                            status=args.get("status", ""), mine=args.get("mine") in {"1", "true"})
    per_page = min(max(args.get("per_page", 20, type=whole_number), 1), 100)
    page = entries.browse(api_user(), criteria, max(args.get("page", 1, type=whole_number), 1), per_page)
    return jsonify(total=page.total, page=page.page, per_page=per_page,
                   results=[entry_summary(e) for e in page.items])


@bp.post("/entries")
def create_entry():
    """Create a draft entry."""
    entry = entries.create(EntryInput.from_json(json_body()), api_user())
    return saved(entry, entry.latest_number, 201)


@bp.get("/entries/<int:entry_id>")
def get_entry(entry_id):
    """One entry as the caller may read it; `?revision=N` for a revision the caller may read."""
    user = api_user()
    entry = entries.get_visible(entry_id, user)
    number = request.args.get("revision", type=whole_number)
    number = entry.face_number if number is None else number
    return jsonify(entry_detail(entry, entries.visible_revision(entry, number, user)))


@bp.put("/entries/<int:entry_id>")
def update_entry(entry_id):
    """Save an edit based on `base_revision`; 409 when someone saved after that revision."""
    data = json_body()
    revision = entries.save_edit(entry_id, EntryInput.from_json(data), base_revision(data), api_user())
    return saved(revision.entry, revision.number, 200)


@bp.get("/entries/<int:entry_id>/revisions")
def list_revisions(entry_id):
    """The entry's revisions the caller may read, newest first."""
    user = api_user()
    entry = entries.get_visible(entry_id, user)
    return jsonify(revisions=[
        {"number": r.number, "author": r.author.username, "note": r.note, "title": r.title,
         "created_at": r.created_at.isoformat(), "published": r.published_at is not None}
        for r in entries.history(entry, user)])


@bp.get("/categories")
def list_categories():
    """The kinds, product lines and segments with their slugs and names."""
    return jsonify({
        vocabulary.value + "s": [{"slug": c.slug, "name_zh": c.name_zh, "name_en": c.name_en, "group": c.group}
                                 for c in taxonomy.categories(vocabulary)]
        for vocabulary in Vocabulary
    })


@bp.get("/leaderboard")
def leaderboard():
    """A ranked board: scope user/team/branch, period week/month/quarter/year/all; team and branch for leaders."""
    args = request.args
    scope = rankings.parse_scope(args.get("scope"))
    period = rankings.parse_period(args.get("period"))
    sort = rankings.parse_sort(args.get("sort"), scope)
    limit = min(max(args.get("limit", 100, type=whole_number), 1), 10_000)
    rows = rankings.leaderboard(scope, period, sort=sort, limit=limit, viewer=api_user())
    return jsonify(scope=scope, period=period, sort=sort if scope != rankings.Scope.USER else None,
                   rows=[row.as_dict() for row in rows])


@bp.get("/users/me/points")
def my_points():
    """The caller's total, rank in every period, and every ledger row, newest first."""
    user = api_user()
    standings = rankings.standings(user)
    return jsonify(
        total=standings[Period.ALL].points, rank=standings[Period.ALL].rank,
        ranks={period: {"rank": s.rank, "points": s.points, "ranked": s.ranked} for period, s in standings.items()},
        rows=[{"amount": award.amount, "reason": award.reason, "entry_id": award.entry_id,
               "entry_title": title, "created_at": award.created_at.isoformat()}
              for award, title in rankings.ledger_rows(user)])


@bp.get("/points")
@roles_required(Role.ADMIN)
def point_ledger():
    """Every user's ledger rows, newest first, filtered, in keyset pages, with the totals (admins)."""
    args = request.args
    per_page = min(max(args.get("per_page", 100, type=whole_number), 1), 500)
    page = ledger.browse(ledger.LedgerFilter.from_args(args), api_user(), before=ledger.cursor(args, "before"),
                         after=ledger.cursor(args, "after"), per_page=per_page)
    return jsonify(totals=page.totals.as_dict(), rows=[row.as_dict() for row in page.rows],
                   newer=page.newer, older=page.older)


@bp.get("/openapi.json")
def openapi():
    """The OpenAPI 3.1 description of this API."""
    return jsonify(openapi_document())
