"""The review workflow: submit, decide (adopt / return / reject), retract; with points, audit and
notifications written in the same transaction as the status change."""
from dataclasses import dataclass, field
from statistics import mean

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from ..errors import Conflict, Forbidden, Invalid
from ..extensions import db
from ..labels import status_label
from ..models import (Decision, Entry, Reason, Review, ReviewScore, Role, RubricCriterion, Status, Team, User)
from ..models.base import utcnow
from . import access, activity, entries, guards, points, workflow

DEFAULT_RUBRIC = [
    ("accuracy", "准确性", "Accuracy", "内容是否准确、合规、符合条款", "Correct, compliant, true to the policy terms"),
    ("usefulness", "实用性", "Usefulness", "同事能否直接用在客户身上", "Colleagues can use it with clients right away"),
    ("clarity", "完整清晰", "Completeness and clarity", "结构完整、表达清楚、易于查找",
     "Complete, clearly written, easy to scan"),
    ("originality", "原创性", "Originality", "是否是一线的新经验，而非照搬资料", "Fresh first-hand experience, not copied material"),
]
COMMENT_MAX = 2000


@dataclass
class ReviewInput:
    """A reviewer's verdict as typed: scores per criterion slug, compliance, decision, comment."""

    scores: dict = field(default_factory=dict)
    compliance: bool = True
    decision: str = ""
    comment: str = ""

    @classmethod
    def from_json(cls, data):
        """Build from an API body, refusing wrong shapes with field messages."""
        if not isinstance(data, dict):
            raise Invalid(_l("A JSON object is required."))
        errors = {}
        scores = data.get("scores", {})
        if not isinstance(scores, dict) or not all(isinstance(v, int) and not isinstance(v, bool)
                                                   for v in scores.values()):
            errors["scores"] = [_l("Give each criterion a whole number from 1 to 5.")]
        compliance = data.get("compliance")
        if not isinstance(compliance, bool):
            errors["compliance"] = [_l("Say true or false.")]
        for name in ("decision", "comment"):
            if not isinstance(data.get(name, ""), str):
                errors[name] = [_l("Must be a string.")]
        if errors:
            raise Invalid(fields=errors)
        return cls(scores=scores, compliance=compliance, decision=data.get("decision", ""),
                   comment=data.get("comment", ""))


def ensure_default_rubric():
    """Insert missing rubric criteria; returns how many were added."""
    existing = set(db.session.scalars(select(RubricCriterion.slug)))
    added = [RubricCriterion(slug=slug, name_zh=zh, name_en=en, description_zh=dzh, description_en=den, position=i)
             for i, (slug, zh, en, dzh, den) in enumerate(DEFAULT_RUBRIC) if slug not in existing]
    db.session.add_all(added)
    db.session.commit()
    return len(added)


def criteria():
    """The active rubric, in order."""
    return db.session.scalars(select(RubricCriterion).where(RubricCriterion.active.is_(True))
                              .order_by(RubricCriterion.position, RubricCriterion.id)).all()


def lock_entry(entry_id):
    """Serialise every status change of one entry and return its fresh state.

    The first write of the transaction takes the row lock (PostgreSQL) or the database write lock
    (SQLite), so a concurrent decision waits and then sees what the first one did.
    """
    db.session.execute(update(Entry).where(Entry.id == entry_id).values(updated_at=Entry.updated_at)
                       .execution_options(synchronize_session=False))
    return db.session.get(Entry, entry_id, populate_existing=True)


def submit(entry_id, user):
    """Send a draft, a reworked return or unpublished edits to the review queue."""
    entries.get_visible(entry_id, user)
    entry = lock_entry(entry_id)
    if entry.status in (Status.PENDING, Status.REJECTED, Status.RETRACTED):
        db.session.rollback()
        raise workflow.IllegalTransition(_l("An entry that is “%(current)s” cannot be submitted.",
                                            current=status_label(entry.status)), current_status=str(entry.status))
    if not access.can_edit(entry, user) or not access.sends_own_edit(entry, user):
        db.session.rollback()
        raise Forbidden()
    if not access.can_submit(entry, user):
        db.session.rollback()
        raise workflow.IllegalTransition(_l("There is no new revision to submit."))
    workflow.move(entry, Status.PENDING)
    entry.review_number, entry.submitted_by_id, entry.submitted_at = entry.latest_number, user.id, utcnow()
    revision = entries.revision(entry, entry.latest_number)
    findings = guards.inspect(revision.title, revision.body)
    activity.audit(user, "submitted", entry, revision=entry.review_number, findings=findings)
    activity.notify(set(activity.reviewer_ids()) - {entry.author_id}, "review_requested", entry, user,
                    title=revision.title)
    db.session.commit()
    return entry


def validate(data):
    """Check a verdict's meaning against the rubric; returns the scores by criterion."""
    rubric = criteria()
    errors = {}
    scores = {}
    if not isinstance(data.compliance, bool):
        errors["compliance"] = [_l("Say whether the compliance check passed.")]
    for criterion in rubric:
        value = data.scores.get(criterion.slug)
        if not isinstance(value, int) or not 1 <= value <= 5:
            errors.setdefault("scores", []).append(_l("%(name)s: choose 1 to 5.", name=criterion.name_zh))
        else:
            scores[criterion] = value
    unknown = set(data.scores) - {c.slug for c in rubric}
    if unknown:
        errors.setdefault("scores", []).append(_l("Unknown: %(slugs)s", slugs=", ".join(sorted(unknown))))
    if data.decision not in set(Decision):
        errors["decision"] = [_l("Choose adopt, return for revision or reject.")]
    elif data.decision != Decision.ADOPT and not data.comment.strip():
        errors["comment"] = [_l("Tell the author why, so they can improve it.")]
    if len(data.comment) > COMMENT_MAX:
        errors["comment"] = [_l("At most %(n)s characters.", n=COMMENT_MAX)]
    if errors:
        raise Invalid(fields=errors)
    return scores


def decide(entry_id, data, reviewer):
    """Record a reviewer's decision on the pending revision and apply it."""
    entry = entries.get_visible(entry_id, reviewer)
    if not reviewer.has_role(Role.REVIEWER):
        raise Forbidden()
    if reviewer.id in {entry.author_id, entry.submitted_by_id} | access.writers_under_review(entry):
        raise Forbidden(_l("Nobody reviews their own entry."))
    scores = validate(data)
    entry = lock_entry(entry_id)
    if entry.status != Status.PENDING:
        db.session.rollback()
        raise workflow.IllegalTransition(_l("This entry is no longer waiting for review."),
                                         current_status=str(entry.status))
    revision = entries.revision(entry, entry.review_number)
    findings = guards.inspect(revision.title, revision.body)
    if data.decision == Decision.ADOPT:
        refuse_blocked_adoption(data, findings)
    review = record_review(entry, reviewer, data, scores, findings)
    points.award(reviewer.id, points.rule("review"), Reason.REVIEW,
                 f"review:{entry.id}:{review.revision_number}:{reviewer.id}", entry.id)
    activity.audit(reviewer, "reviewed", entry, revision=review.revision_number, decision=data.decision,
                   scores={c.slug: s for c, s in scores.items()}, compliance=data.compliance, findings=findings)
    apply_decision(entry, review, reviewer)
    db.session.commit()
    return review


def refuse_blocked_adoption(data, findings):
    if not data.compliance:
        db.session.rollback()
        raise Conflict(_l("An entry that fails the compliance check cannot be adopted."), code="adoption_blocked")
    blocked = guards.blocking(findings)
    if blocked:
        db.session.rollback()
        listed = "、".join(f["value"] for f in blocked)
        raise Conflict(_l("Adoption is blocked until this is removed: %(items)s", items=listed),
                       code="adoption_blocked", findings=findings)


def record_review(entry, reviewer, data, scores, findings):
    """Insert the review; the unique key turns a double submit into a clear conflict."""
    review = Review(entry_id=entry.id, revision_number=entry.review_number, reviewer_id=reviewer.id,
                    decision=data.decision, compliance_passed=data.compliance, comment=data.comment.strip(),
                    mean_score=mean(scores.values()), findings=findings, submitted_at=entry.submitted_at,
                    scores=[ReviewScore(criterion_id=c.id, score=s) for c, s in scores.items()])
    try:
        with db.session.begin_nested():
            db.session.add(review)
    except IntegrityError:
        db.session.rollback()
        raise Conflict(_l("You have already reviewed this revision."), code="already_reviewed") from None
    return review


def apply_decision(entry, review, reviewer):
    """Move the entry on: one reject rejects, a return sends it back, enough adopts adopt."""
    submitter = entry.submitted_by_id or entry.author_id
    told = {submitter, entry.author_id}
    if review.decision == Decision.REJECT:
        # A rejected edit leaves the adopted revision in place; a rejected new entry is rejected.
        workflow.move(entry, Status.ADOPTED if entry.published_number else Status.REJECTED)
        activity.notify(told, "rejected", entry, reviewer, comment=review.comment, title=entry.title)
    elif review.decision == Decision.REVISE:
        workflow.move(entry, Status.RETURNED)
        activity.notify(told, "returned", entry, reviewer, comment=review.comment, title=entry.title)
    elif adopting_reviews(entry) >= current_app.config["REVIEWS_REQUIRED"]:
        adopt(entry, reviewer)
    activity.audit(reviewer, f"decision:{review.decision}", entry, revision=review.revision_number,
                   status=str(entry.status))


def adopting_reviews(entry):
    return db.session.scalar(select(func.count()).where(
        Review.entry_id == entry.id, Review.revision_number == entry.review_number,
        Review.decision == Decision.ADOPT))


def adoption_quality(entry):
    """The mean rubric score over all adopting reviews of the pending revision."""
    return db.session.scalar(select(func.avg(ReviewScore.score)).join(Review).where(
        Review.entry_id == entry.id, Review.revision_number == entry.review_number,
        Review.decision == Decision.ADOPT))


def adopt(entry, reviewer):
    """Publish the reviewed revision and pay its author (or the editor of someone else's entry)."""
    number, submitter = entry.review_number, entry.submitted_by_id or entry.author_id
    is_edit = entry.published_number is not None
    quality = float(adoption_quality(entry))
    entries.make_public(entry, entries.revision(entry, number))
    workflow.move(entry, Status.ADOPTED)
    entry.adopted_at = entry.adopted_at or utcnow()
    if not is_edit:
        points.award(entry.author_id, points.adoption_amount(entry.kind.slug, quality, False),
                     Reason.ENTRY_ADOPTED, f"adopt:entry:{entry.id}", entry.id)
    elif submitter != entry.author_id:
        points.award(submitter, points.adoption_amount(entry.kind.slug, quality, True),
                     Reason.EDIT_ADOPTED, f"adopt:edit:{entry.id}:{number}", entry.id)
    activity.notify({submitter, entry.author_id}, "adopted", entry, reviewer, revision=number, title=entry.title)


def retract(entry_id, admin, reason):
    """Withdraw adopted knowledge (admins, with a reason) and reverse its adoption points."""
    if not admin.is_admin:
        raise Forbidden()
    if not (reason or "").strip():
        raise Invalid(fields={"reason": [_l("Say why the entry is retracted.")]})
    entries.get_visible(entry_id, admin)
    entry = lock_entry(entry_id)
    try:
        workflow.move(entry, Status.RETRACTED)
    except workflow.IllegalTransition:
        db.session.rollback()
        raise
    reversed_rows = points.reverse_entry(entry.id)
    activity.audit(admin, "retracted", entry, reason=reason.strip(), reversed=reversed_rows)
    activity.notify({entry.author_id}, "retracted", entry, admin, reason=reason.strip(), title=entry.title)
    db.session.commit()
    return entry


def queue():
    """Pending entries, oldest submission first, with their authors and teams loaded."""
    return db.session.scalars(
        select(Entry).where(Entry.status == Status.PENDING)
        .options(selectinload(Entry.author).selectinload(User.team).selectinload(Team.branch),
                 selectinload(Entry.kind))
        .order_by(Entry.submitted_at, Entry.id)).all()


def reviews_of(entry):
    """Every review of an entry, newest first."""
    return db.session.scalars(select(Review).where(Review.entry_id == entry.id)
                              .options(selectinload(Review.reviewer))
                              .order_by(Review.created_at.desc(), Review.id.desc())).all()


def visible_reviews(entry_id, user):
    """The reviews of an entry for those involved: author, submitter, reviewers and admins."""
    entry = entries.get_visible(entry_id, user)
    if not (access.wrote_or_sent(entry, user) or user.is_admin or user.has_role(Role.REVIEWER)):
        raise Forbidden()
    return reviews_of(entry)


def all_criteria():
    """Every rubric criterion, active or not, in order."""
    return db.session.scalars(select(RubricCriterion).order_by(RubricCriterion.position, RubricCriterion.id)).all()


def save_criterion(slug, name_zh, name_en, description_zh, description_en, active, actor):
    """Add a rubric criterion or change one (matched by its key); past reviews keep their scores. Audited."""
    slug = slug.strip().lower()
    criterion = db.session.scalar(select(RubricCriterion).where(RubricCriterion.slug == slug))
    if criterion is None:
        position = db.session.scalar(select(func.coalesce(func.max(RubricCriterion.position), 0))) + 1
        criterion = RubricCriterion(slug=slug, position=position)
        db.session.add(criterion)
    criterion.name_zh, criterion.name_en = name_zh.strip(), name_en.strip()
    criterion.description_zh, criterion.description_en = description_zh.strip(), description_en.strip()
    criterion.active = active
    activity.audit(actor, "rubric_saved", slug=slug, name_zh=criterion.name_zh, active=active)
    db.session.commit()
    return criterion
