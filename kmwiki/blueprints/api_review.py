"""JSON API v1, review workflow: submit, the queue, decisions, helpful votes, retraction.

Routes attach to the one API blueprint (authentication and error handling live there)."""
from flask import jsonify, url_for

from ..auth import api_user, roles_required
from ..models import Role
from ..services import feedback, review
from ..services.review import ReviewInput
from .api import bp, json_body


def review_json(item):
    return {
        "id": item.id, "entry_id": item.entry_id, "revision": item.revision_number,
        "reviewer": item.reviewer.username, "decision": item.decision, "compliance": item.compliance_passed,
        "scores": {s.criterion.slug: s.score for s in item.scores}, "mean_score": round(item.mean_score, 2),
        "comment": item.comment, "findings": item.findings, "created_at": item.created_at.isoformat(),
    }


@bp.post("/entries/<int:entry_id>/submit")
def submit_entry(entry_id):
    """Draft, returned entry or unpublished edit → pending review."""
    entry = review.submit(entry_id, api_user())
    return jsonify(id=entry.id, status=entry.status, revision=entry.review_number)


@bp.get("/reviews/queue")
@roles_required(Role.REVIEWER)
def review_queue():
    """Pending entries, oldest submission first (reviewers)."""
    return jsonify(results=[{
        "id": e.id, "title": e.title, "kind": e.kind.slug, "author": e.author.username,
        "team": e.author.team.name if e.author.team else None, "revision": e.review_number,
        "is_edit": e.published_number is not None, "submitted_at": e.submitted_at.isoformat(),
        "url": url_for("api.get_entry", entry_id=e.id, revision=e.review_number),
    } for e in review.queue()])


@bp.post("/entries/<int:entry_id>/reviews")
@roles_required(Role.REVIEWER)
def create_review(entry_id):
    """A reviewer's decision: `{scores:{criterion:1..5}, compliance, decision: adopt|revise|reject, comment}`."""
    item = review.decide(entry_id, ReviewInput.from_json(json_body()), api_user())
    return jsonify(review=review_json(item), status=item.entry.status), 201


@bp.get("/entries/<int:entry_id>/reviews")
def list_reviews(entry_id):
    """Reviews of an entry, for its author, submitter, reviewers and admins."""
    return jsonify(reviews=[review_json(r) for r in review.visible_reviews(entry_id, api_user())])


@bp.post("/entries/<int:entry_id>/helpful")
def vote_helpful(entry_id):
    """One helpful vote per reader; never on one's own entry."""
    return jsonify(helpful_count=feedback.vote_helpful(entry_id, api_user())), 201


@bp.get("/rubric")
def rubric():
    """The active rubric criteria (score each 1–5)."""
    return jsonify(criteria=[{"slug": c.slug, "name_zh": c.name_zh, "name_en": c.name_en}
                             for c in review.criteria()])
