"""Who may see, change, submit and review an entry. The Python checks and the SQL filter sit side
by side so the two stay the same rule."""
from sqlalchemy import and_, false, or_, select, true

from ..extensions import db
from ..models import Entry, Revision, Role, Status

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


def sees_every_revision(entry, user):
    """Those involved in an entry read each of its revisions: its author, admins, and reviewers while it
    is under review (they judge the pending edit against the adopted text)."""
    return user.is_authenticated and (entry.author_id == user.id or user.is_admin
                                      or (entry.status == Status.PENDING and user.has_role(Role.REVIEWER)))


def can_view_revision(entry, revision, user):
    """Readers of an entry read the revisions that were published; the others stay with those involved
    and with whoever wrote or submitted them: a draft may still hold client data (an ID or mobile
    number) the guards had the author remove before adoption, and a rejected edit was never approved."""
    return can_view(entry, user) and (
        revision.published_at is not None or sees_every_revision(entry, user) or revision.author_id == user.id
        or (entry.submitted_by_id == user.id and revision.number == entry.review_number))


def revision_clause(user):
    """SQL filter equal to can_view_revision for a query over Revision joined to its Entry."""
    if not user.is_authenticated:
        return false()
    if user.is_admin:
        return true()
    clauses = [Revision.published_at.is_not(None), Entry.author_id == user.id, Revision.author_id == user.id,
               and_(Entry.submitted_by_id == user.id, Revision.number == Entry.review_number)]
    if user.has_role(Role.REVIEWER):
        clauses.append(Entry.status == Status.PENDING)
    return and_(visible_clause(user), or_(*clauses))


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
    if entry.status == Status.ADOPTED and not entry.has_unpublished_changes:
        return False
    return sends_own_edit(entry, user)


def sends_own_edit(entry, user):
    """Unpublished changes to adopted knowledge go to review only by whoever wrote the newest of them:
    an adopted edit pays its submitter, so nobody may send (and be paid for) someone else's edit."""
    if not entry.has_unpublished_changes:
        return True
    return db.session.scalar(select(Revision.author_id).where(
        Revision.entry_id == entry.id, Revision.number == entry.latest_number)) == user.id


def wrote_or_sent(entry, user):
    """Whether the user is the entry's author or sent its current revision to review."""
    return user.id in {entry.author_id, entry.submitted_by_id}


def can_review(entry, user):
    """Reviewers decide on pending entries, never on their own work: not as its author, its submitter,
    nor as the writer of any revision under review (an edit that someone else sent on)."""
    return (user.is_authenticated and user.has_role(Role.REVIEWER) and entry.status == Status.PENDING
            and not wrote_or_sent(entry, user) and user.id not in writers_under_review(entry))


def writers_under_review(entry):
    """Who wrote the revisions a review decides on: every one after the adopted revision."""
    return set(db.session.scalars(select(Revision.author_id).where(
        Revision.entry_id == entry.id, Revision.number > (entry.published_number or 0),
        Revision.number <= (entry.review_number or 0))))
