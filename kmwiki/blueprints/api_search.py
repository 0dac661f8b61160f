"""JSON API v1, search: full-text search and similar titles. Routes attach to the API blueprint."""
from flask import jsonify, request

from ..auth import api_user
from ..errors import KmwikiError
from ..services import search
from .api import bp
from .search import search_request


@bp.get("/search")
def search_entries():
    """`?q=&kind=&product=&segment=&tag=&sort=relevance|newest|helpful&page=` → results and facets."""
    found = search.search(search_request(request.args), api_user())
    if found.message:
        raise KmwikiError(found.message, code="empty_query")
    return jsonify(
        total=found.total, page=found.page, pages=found.pages, suggestion=found.suggestion or None,
        results=[{"id": h.id, "title": h.title, "snippet": str(h.snippet), "score": h.score, "kind": h.kind,
                  "status": h.status, "author": h.author} for h in found.hits],
        facets={name: [{"value": v, "count": n} for v, n in counts] for name, counts in found.facets.items()})


@bp.get("/entries/similar")
def similar_entries():
    """Adopted entries like a title being typed (`?title=`), to improve them instead of duplicating."""
    return jsonify(results=search.similar(request.args.get("title", "")))
