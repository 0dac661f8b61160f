"""Who may see, change, submit and review an entry. The Python checks and the SQL filter sit side
by side so the two stay the same rule."""
from sqlalchemy import and_, false, or_, true

from ..models import Entry, Role, Status

CONTRIBUTOR_ROLES = (Role.AGENT, Role.REVIEWER, Role.LEADER)
IN_REVIEW = (Status.PENDING, Status.RETURNED)


def can_contribute(user):
    """Agents, reviewers and leaders write entries (DESIGN §1)."""
    return user.is_authenticated and user.has_role(*CONTRIBUTOR_ROLES)


def can_view(entry, user):
    """Readers see adopted knowledge; authors and submitters their own work; reviewers the queue."""
    if not user.is_authenticated:
        return False
    if entry.is_public or entry.author_id == user.id or user.is_admin:
        return True
    if entry.submitted_by_id == user.id and entry.status in IN_REVIEW:
        return True  # an editor follows their own edit through review
    return entry.status == Status.PENDING and user.has_role(Role.REVIEWER)


def public_clause():
    """SQL filter for what every reader sees (where counts and facets must leak nothing)."""
    return and_(Entry.published_number.is_not(None), Entry.status != Status.RETRACTED)


def visible_clause(user):
    """SQL filter equal to can_view for a query over Entry."""
    if not user.is_authenticated:
        return false()
    if user.is_admin:
        return true()
    clauses = [public_clause(), Entry.author_id == user.id,
               and_(Entry.submitted_by_id == user.id, Entry.status.in_(IN_REVIEW))]
    if user.has_role(Role.REVIEWER):
        clauses.append(Entry.status == Status.PENDING)
    return or_(*clauses)


def can_edit(entry, user):
    """Authors edit their drafts; whoever submitted a returned revision reworks it; any contributor
    edits adopted knowledge (the edit is reviewed again). Nothing under review changes."""
    if not can_contribute(user):
        return False
    if entry.status == Status.DRAFT:
        return entry.author_id == user.id
    if entry.status == Status.RETURNED:
        return (entry.submitted_by_id or entry.author_id) == user.id
    return entry.status == Status.ADOPTED


def can_submit(entry, user):
    """A draft, a reworked return, or unpublished edits of adopted knowledge can go to review —
    each revision once: a returned or rejected revision must be edited before it is sent again."""
    if not can_edit(entry, user) or entry.latest_number == entry.review_number:
        return False
    return entry.status != Status.ADOPTED or entry.has_unpublished_changes


def can_review(entry, user):
    """Reviewers decide on pending entries, never on their own work."""
    return (user.is_authenticated and user.has_role(Role.REVIEWER) and entry.status == Status.PENDING
            and user.id not in {entry.author_id, entry.submitted_by_id})
