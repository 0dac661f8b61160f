"""Who may see and change an entry. The Python checks and the SQL filter sit side by side
so the two stay the same rule."""
from sqlalchemy import and_, false, or_, true

from ..models import Entry, Role, Status

CONTRIBUTOR_ROLES = (Role.AGENT, Role.REVIEWER, Role.LEADER)
# Readers see adopted entries; their authors also see them in every other state.
PUBLIC_STATUSES = (Status.ADOPTED,)
EDITABLE_BY_AUTHOR = (Status.DRAFT, Status.RETURNED)


def can_contribute(user):
    """Agents, reviewers and leaders write entries (DESIGN §1)."""
    return user.is_authenticated and user.has_role(*CONTRIBUTOR_ROLES)


def can_view(entry, user):
    """True when the user may read the entry at all."""
    if not user.is_authenticated:
        return False
    if entry.status in PUBLIC_STATUSES or entry.author_id == user.id or user.is_admin:
        return True
    return entry.status == Status.PENDING and user.has_role(Role.REVIEWER)


def visible_clause(user):
    """SQL filter equal to can_view for a query over Entry."""
    if not user.is_authenticated:
        return false()
    if user.is_admin:
        return true()
    clauses = [Entry.status.in_(PUBLIC_STATUSES), Entry.author_id == user.id]
    if user.has_role(Role.REVIEWER):
        clauses.append(Entry.status == Status.PENDING)
    return or_(*clauses)


def public_clause():
    """SQL filter for what every reader sees (used where counts must leak nothing)."""
    return and_(Entry.status.in_(PUBLIC_STATUSES))


def can_edit(entry, user):
    """Authors edit their drafts and returned entries; any contributor edits adopted knowledge."""
    if not can_contribute(user):
        return False
    if entry.status in EDITABLE_BY_AUTHOR:
        return entry.author_id == user.id
    return entry.status == Status.ADOPTED
