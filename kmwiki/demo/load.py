"""Load the demo organisation and knowledge (kmwiki/demo/data.py) through the real services, so
reviews, points, notifications and the audit log look like a few months of real use."""
import random
from datetime import timedelta

from sqlalchemy import select, update

from ..extensions import db
from ..models import (AuditEvent, Entry, HelpfulVote, Notification, PointAward, Review, Revision, Role,
                      Status)
from ..models.base import utcnow
from ..services import entries, feedback, review, users
from ..services.entries import EntryInput
from ..services.review import ReviewInput
from .data import BRANCHES, DEMO_PASSWORD, ENTRIES, USERS

__all__ = ["DEMO_PASSWORD", "ENTRIES", "finish", "load_entry", "load_people"]
HISTORY_DAYS = 120
# Tables whose rows carry an entry id and a time: shifted together to give the demo a past.
DATED_BY_ENTRY = [(Revision, Revision.entry_id), (Review, Review.entry_id), (PointAward, PointAward.entry_id),
                  (AuditEvent, AuditEvent.entry_id), (Notification, Notification.entry_id),
                  (HelpfulVote, HelpfulVote.entry_id)]
RETURN_COMMENT = "思路很好，但缺少具体的话术示例和客户反馈，请补充一两段真实对话后再提交。"


def load_people():
    """Create the branches, teams and users; returns users by username."""
    teams = {}
    for branch in BRANCHES:
        for team_name in branch["teams"]:
            teams[team_name] = users.get_or_create_team(branch["name"], team_name)
    people = {}
    for person in USERS:
        people[person["username"]] = users.create_user(
            person["username"], DEMO_PASSWORD, person["roles"], display_name=person["display_name"],
            team=teams.get(person["team"]))
    return people


def load_entry(index, item, people):
    """Write one demo entry as its author would, and take it through review like the team would."""
    chance = random.Random(index)  # the same demo every time
    entry = entries.create(entry_input(item, item["body"]), people[item["author"]])
    if item.get("status", Status.ADOPTED) == Status.ADOPTED:
        adopt(entry, people[item["author"]], people, chance)
        for edit in item.get("edits", []):
            editor = people[edit["editor"]]
            entries.save_edit(entry.id, entry_input(item, edit["body"], edit.get("note", "")),
                              entry.latest_number, editor)
            adopt(entry, editor, people, chance)
        vote(entry, people, chance)
    else:
        # Of the drafts: the first stays private, the second comes back with comments, the rest wait in the queue.
        ordinal = [i for i, e in enumerate(ENTRIES) if e.get("status") == Status.DRAFT].index(index)
        if ordinal:
            review.submit(entry.id, people[item["author"]])
        if ordinal == 1:
            decide(entry, people, chance, "revise", RETURN_COMMENT)
    # Work still in progress happened lately; adopted knowledge has months of history.
    recent = entry.status != Status.ADOPTED
    give_a_past(entry.id, days_ago=chance.uniform(0.2, 4) if recent else chance.uniform(1, HISTORY_DAYS),
                review_wait=timedelta(hours=chance.uniform(2, 72)))
    return entry


def finish():
    """People have read what is older than a week."""
    week_ago = utcnow() - timedelta(days=7)
    db.session.execute(update(Notification).where(Notification.created_at < week_ago).values(read_at=week_ago))
    db.session.commit()


def entry_input(item, body, note=""):
    return EntryInput(title=item["title"], body=body, kind=item["kind"], products=item["products"],
                      segments=item["segments"], tags=item["tags"], note=note)


def adopt(entry, submitter, people, chance):
    review.submit(entry.id, submitter)
    decide(entry, people, chance, "adopt", chance.choice(["内容扎实，可直接使用。", "很实用，已推荐给团队。", ""]))


def decide(entry, people, chance, decision, comment):
    """A reviewer other than the author and submitter decides, with believable scores."""
    entry = db.session.get(Entry, entry.id)
    reviewers = [u for u in people.values() if Role.REVIEWER in u.roles
                 and u.id not in {entry.author_id, entry.submitted_by_id}]
    scores = {slug: chance.choice([3, 4, 4, 5, 5]) for slug in ("accuracy", "usefulness", "clarity", "originality")}
    review.decide(entry.id, ReviewInput(scores=scores, compliance=True, decision=decision, comment=comment),
                  chance.choice(reviewers))


def vote(entry, people, chance):
    """A few colleagues mark adopted knowledge helpful."""
    readers = [u for u in people.values() if u.id != entry.author_id and Role.AGENT in u.roles]
    for reader in chance.sample(readers, chance.randint(0, 8)):
        feedback.vote_helpful(entry.id, reader)


def give_a_past(entry_id, days_ago, review_wait):
    """Move everything that happened to one entry back in time by the same amount, and let each
    submission wait a while before its review, as it would."""
    shift = timedelta(days=days_ago)
    for model, entry_column in DATED_BY_ENTRY:
        for row in db.session.scalars(select(model).where(entry_column == entry_id)):
            row.created_at -= shift
            if isinstance(row, Revision) and row.published_at is not None:
                row.published_at -= shift
            if isinstance(row, Review):
                row.submitted_at -= shift + review_wait
    entry = db.session.get(Entry, entry_id)
    for column in ("created_at", "updated_at", "submitted_at", "adopted_at"):
        if getattr(entry, column) is not None:
            setattr(entry, column, getattr(entry, column) - shift)
    if entry.status == Status.ADOPTED:
        entry.view_count = random.Random(entry_id).randint(5, 400)
    db.session.commit()
