"""The search page, similar-title suggestions for the editor, and the knowledge-gap list."""
from flask import Blueprint, jsonify, render_template, request, url_for
from flask_login import current_user, login_required

from ..auth import roles_required
from ..forms import whole_number
from ..models import Role, Vocabulary
from ..services import search, taxonomy

bp = Blueprint("search", __name__)


@bp.before_request
@login_required
def require_login():
    """Search is for signed-in staff."""


def search_request(args):
    """The search request in a query string (shared by the page and the API)."""
    return search.SearchRequest(text=args.get("q", ""), kind=args.get("kind", ""), product=args.get("product", ""),
                                segment=args.get("segment", ""), tag=args.get("tag", ""),
                                sort=args.get("sort", "relevance"), page=args.get("page", 1, type=whole_number) or 1)


@bp.get("/search")
def results():
    """Search results with facets, snippets and sorting."""
    wanted = search_request(request.args)
    found = search.search(wanted, current_user) if request.args else search.SearchResult()
    names = {v: {c.slug: c for c in taxonomy.categories(v)} for v in Vocabulary}
    return render_template("search/results.html", wanted=wanted, found=found, names=names,
                           sorts=search.SORTS)


@bp.get("/search/similar")
def similar():
    """Adopted entries like the title being typed in the editor (`?title=`), for the page's script."""
    found = search.similar(request.args.get("title", ""))
    return jsonify(similar=[{"id": hit["id"], "title": hit["title"],
                             "url": url_for("entries.view", entry_id=hit["id"])} for hit in found])


@bp.get("/search/gaps")
@roles_required(Role.LEADER, Role.ADMIN)
def gaps():
    """Questions that found nothing, most frequent first: where knowledge is missing."""
    return render_template("search/gaps.html", misses=search.top_misses(100))
