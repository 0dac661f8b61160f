"""Readers' helpful votes: one per reader and entry, never on one's own, paid to the author."""
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from ..errors import Conflict, Forbidden
from ..database import insert_once
from ..extensions import db
from ..models import HelpfulVote
from ..models.base import utcnow
from ..search import sync
from . import access, entries, points


def vote_helpful(entry_id, user):
    """Record one helpful vote and pay the author (within the daily cap); returns the new count."""
    entry = entries.get_visible(entry_id, user)
    if not access.can_contribute(user):
        raise Forbidden()
    if entry.author_id == user.id:
        raise Forbidden(_l("You cannot vote for your own entry."))
    if not entry.is_public:
        raise Conflict(_l("Only adopted knowledge can be voted helpful."), code="not_adopted")
    if insert_once(HelpfulVote, {"entry_id": entry.id, "user_id": user.id, "created_at": utcnow()},
                   ["entry_id", "user_id"]) is None:
        db.session.rollback()
        raise Conflict(_l("You have already marked this entry helpful."), code="already_voted")
    points.award_helpful(entry.author_id, entry.id, user.id)
    sync.mark(db.session, entry.id)  # "most helpful" sorting reads the count from the index
    db.session.commit()
    return helpful_count(entry.id)


def helpful_count(entry_id):
    """How many readers marked the entry helpful."""
    return db.session.scalar(select(func.count()).where(HelpfulVote.entry_id == entry_id))
