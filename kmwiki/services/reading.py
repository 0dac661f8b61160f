"""Reading: an entry's table of contents and related entries, bookmarks, comments, and the
personal home page."""
import html as htmllib
from dataclasses import dataclass, field
from functools import lru_cache
from typing import NamedTuple

from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, exists, func, select, union, union_all
from sqlalchemy.orm import selectinload

from ..database import hot_row, insert_once
from ..errors import Forbidden, Invalid, NotFound
from ..extensions import db
from ..markup import headings
from ..models import Bookmark, Category, Comment, Entry, HelpfulVote, PageGeneration, Role, Status, User, Vocabulary
from ..models.base import utcnow
from ..models.entry import Lifecycle, entry_categories, entry_tags
from ..models.reading import COMMENT_MAX
from . import access, activity, entries, rankings
from .periods import Period

TOC_LEVELS = (2, 3)
RELATED_MAX = 5
RELATED_CANDIDATES = 200  # newest entries per shared classification weighed for "related"
NEWEST_MAX = 10
FOR_YOU_MAX = 10
FOR_YOU_SEGMENTS = 3
PENDING_MAX = 10
NOTIFIED_EXCERPT = 200


# --- table of contents and related entries ------------------------------------------------------


@dataclass(frozen=True)
class TocItem:
    """One heading in an entry's table of contents; `text` is plain text, escaped when shown."""

    level: int
    anchor: str
    text: str


def toc(html):
    """The h2 and h3 headings of rendered entry HTML, in order, for a table of contents."""
    # The anchor comes out of an attribute, still HTML-escaped; the template escapes it again.
    return [TocItem(level, htmllib.unescape(anchor), str(text))
            for level, anchor, text in headings(html) if level in TOC_LEVELS]


def related(entry, limit=RELATED_MAX):
    """Adopted entries sharing product lines, segments or tags with this one (every reader may see
    them): the most shared classifications first, then the most helpful votes, then the newest.

    Weighed are the newest RELATED_CANDIDATES entries of each classification the entry has: at
    100,000 entries a product line is shared by tens of thousands, and counting the overlap of all
    of them took 220 ms per page view (bench/README.md); the newest few hundred are ranked exactly.
    """
    category_ids = [c.id for c in entry.categories if c.vocabulary in (Vocabulary.PRODUCT, Vocabulary.SEGMENT)]
    tag_ids = [t.id for t in entry.tags]
    if not category_ids and not tag_ids:
        return []
    values = {"entry_id": entry.id, "limit": limit, "candidates": RELATED_CANDIDATES, **{f"c{n}": value for n, value in enumerate(category_ids)},
              **{f"t{n}": value for n, value in enumerate(tag_ids)}}
    return [RelatedEntry(*row) for row in db.session.execute(_related_query(len(category_ids), len(tag_ids)), values)]


class RelatedEntry(NamedTuple):
    """What the related panel shows of an entry: read as plain columns, since loading entries with
    their kind and author took more time than ranking them."""

    id: int
    title: str
    kind: Category
    author_name: str


@lru_cache(maxsize=128)
def _related_query(category_count, tag_count):
    """related()'s query for an entry with this many product/segment categories and tags, built once
    per shape: building and compiling it took more time than running it."""
    entry_id = bindparam("entry_id")
    links = [(entry_categories, entry_categories.c.category_id, [bindparam(f"c{n}") for n in range(category_count)]),
             (entry_tags, entry_tags.c.tag_id, [bindparam(f"t{n}") for n in range(tag_count)])]
    candidates = union(*[
        select(newest.c.entry_id) for newest in
        (select(table.c.entry_id).where(column == value, table.c.entry_id != entry_id)
         .order_by(table.c.entry_id.desc()).limit(bindparam("candidates")).subquery()
         for table, column, values in links for value in values)]).subquery()
    shared = union_all(*[select(table.c.entry_id).where(column.in_(values), table.c.entry_id.in_(select(candidates)))
                         for table, column, values in links if values]).subquery()
    overlap = (select(shared.c.entry_id, func.count().label("overlap")).group_by(shared.c.entry_id).subquery())
    votes = (select(HelpfulVote.entry_id, func.count().label("votes"))
             .where(HelpfulVote.entry_id.in_(select(candidates))).group_by(HelpfulVote.entry_id).subquery())
    vote_count = func.coalesce(votes.c.votes, 0)
    return (
        select(Entry.id, Entry.title, Category, User.display_name)
        .join(overlap, overlap.c.entry_id == Entry.id)
        .join(Category, Category.id == Entry.kind_id)
        .join(User, User.id == Entry.author_id)
        .outerjoin(votes, votes.c.entry_id == Entry.id)
        .where(access.public_clause())
        .order_by(overlap.c.overlap.desc(), vote_count.desc(), Entry.adopted_at.desc(), Entry.id.desc())
        .limit(bindparam("limit"))
    )


# --- bookmarks ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EntryFacts(Lifecycle):
    """What the entry page decides from before it renders anything: whose the entry is, whether
    readers share its page, and which kept page is current (kmwiki/pages.py)."""

    id: int
    author_id: int
    submitted_by_id: int | None
    status: str
    published_number: int | None
    latest_number: int
    page_version: int


class ReaderState(NamedTuple):
    """What is the reader's own on an entry page: their bookmark and vote, the counts as they are
    now, their unread notifications, and the comments (with delete buttons for their own); with
    the entry's facts and the generation of kept pages, read in the same query."""

    bookmarked: bool
    voted: bool
    helpful_count: int
    view_count: int
    unread: int
    comments: list
    entry: EntryFacts
    page_generation: str | None


def _reader_state_query():
    entry_id, user_id = bindparam("entry_id"), bindparam("user_id")
    return select(
        exists().where(Bookmark.user_id == user_id, Bookmark.entry_id == entry_id),
        exists().where(HelpfulVote.entry_id == entry_id, HelpfulVote.user_id == user_id),
        select(func.count()).where(HelpfulVote.entry_id == entry_id).scalar_subquery(),
        Entry.view_count,
        activity.unread_count_query(user_id).scalar_subquery(),
        exists().where(Comment.entry_id == entry_id),
        select(PageGeneration.token).where(PageGeneration.id == 1).scalar_subquery(),
        Entry.id, Entry.author_id, Entry.submitted_by_id, Entry.status, Entry.published_number, Entry.latest_number,
        Entry.page_version,
    ).where(Entry.id == entry_id)


READER_STATE = _reader_state_query()  # built once: it runs on every entry page


def reader_state(entry_id, user):
    """All of ReaderState in one query, and one more for the comments when there are any; None
    when there is no such entry (whether the user may see it is the caller's to check). A hot read
    (database.hot_row): every entry page runs it."""
    row = hot_row(READER_STATE, entry_id=entry_id, user_id=user.id)
    if row is None:
        return None
    return ReaderState(bool(row[0]), bool(row[1]), row[2], row[3] or 0, row[4], comments(entry_id) if row[5] else [],
                       EntryFacts(*row[7:]), row[6])


def is_bookmarked(entry_id, user):
    """Whether the user keeps this entry."""
    return db.session.get(Bookmark, (user.id, entry_id)) is not None


def set_bookmark(entry_id, user, keep=None):
    """Keep (True) or drop (False) an entry the user can see; None toggles. Returns the new state.

    Saying what is wanted makes a double-submitted form harmless: the primary key turns a second
    insert into nothing.
    """
    entry = entries.get_visible(entry_id, user)
    if keep is None:
        keep = not is_bookmarked(entry.id, user)
    if keep:
        insert_once(Bookmark, {"user_id": user.id, "entry_id": entry.id, "created_at": utcnow()},
                    ["user_id", "entry_id"])
    else:
        db.session.execute(db.delete(Bookmark).where(Bookmark.user_id == user.id, Bookmark.entry_id == entry.id))
    db.session.commit()
    return keep


def bookmarks(user):
    """The entries the user keeps and may still see, most recently kept first."""
    return db.session.scalars(
        select(Entry).join(Bookmark, Bookmark.entry_id == Entry.id)
        .where(Bookmark.user_id == user.id, access.visible_clause(user))
        .options(selectinload(Entry.kind), selectinload(Entry.categories), selectinload(Entry.tags),
                 selectinload(Entry.author))
        .order_by(Bookmark.created_at.desc(), Entry.id.desc())
    ).all()


# --- comments -----------------------------------------------------------------------------------


def comments(entry_id):
    """An entry's comments, oldest first; deleted ones stay as placeholders."""
    return db.session.scalars(
        select(Comment).where(Comment.entry_id == entry_id)
        .options(selectinload(Comment.author)).order_by(Comment.created_at, Comment.id)
    ).all()


def validate_comment(body):
    """The comment text, trimmed; Invalid when empty or too long."""
    body = (body or "").strip()
    if not body:
        raise Invalid(fields={"body": [_l("Write a comment first.")]})
    if len(body) > COMMENT_MAX:
        raise Invalid(fields={"body": [_l("At most %(n)s characters.", n=COMMENT_MAX)]})
    return body


def add_comment(entry_id, user, body):
    """Comment on an entry the user can see, and tell its author."""
    entry = entries.get_visible(entry_id, user)
    body = validate_comment(body)
    comment = Comment(entry_id=entry.id, author_id=user.id, body=body)
    db.session.add(comment)
    activity.notify({entry.author_id}, "comment", entry, user, title=entry.title,
                    comment=body[:NOTIFIED_EXCERPT])
    db.session.commit()
    return comment


def delete_comment(entry_id, comment_id, user):
    """Mark a comment deleted; only its author or an administrator may."""
    entry = entries.get_visible(entry_id, user)
    comment = db.session.get(Comment, comment_id)
    if comment is None or comment.entry_id != entry.id:
        raise NotFound()
    if not comment.can_delete(user):
        raise Forbidden(_l("Only the comment's author or an administrator can delete it."))
    if comment.deleted_at is None:
        comment.deleted_at = utcnow()
        if user.id != comment.author_id:
            activity.audit(user, "comment_deleted", entry, comment_id=comment.id)
        db.session.commit()
    return comment


# --- home page ----------------------------------------------------------------------------------


@dataclass
class HomePage:
    """What the signed-in user's home page shows."""

    standing: rankings.Standing
    needs_action: list = field(default_factory=list)
    pending_review: list = field(default_factory=list)
    review_queue: int | None = None
    newest: list = field(default_factory=list)
    segments: list = field(default_factory=list)
    for_you: list = field(default_factory=list)


def _card_options():
    return (selectinload(Entry.kind), selectinload(Entry.categories), selectinload(Entry.tags),
            selectinload(Entry.author))


def needs_action(user, limit=PENDING_MAX):
    """The user's drafts and returned entries: work waiting for them, oldest change first."""
    mine = (Entry.author_id == user.id) & (Entry.status == Status.DRAFT)
    returned = (Entry.status == Status.RETURNED) & (func.coalesce(Entry.submitted_by_id, Entry.author_id) == user.id)
    return db.session.scalars(select(Entry).where(mine | returned)
                              .order_by(Entry.updated_at, Entry.id).limit(limit)).all()


def awaiting_review(user, limit=PENDING_MAX):
    """The user's own work that is with a reviewer now."""
    return db.session.scalars(select(Entry).where(
        Entry.status == Status.PENDING,
        func.coalesce(Entry.submitted_by_id, Entry.author_id) == user.id)
        .order_by(Entry.submitted_at, Entry.id).limit(limit)).all()


def review_queue_size(user):
    """Pending entries this reviewer may decide on (never their own); None for non-reviewers."""
    if not user.has_role(Role.REVIEWER):
        return None
    return db.session.scalar(select(func.count()).select_from(Entry).where(
        Entry.status == Status.PENDING, Entry.author_id != user.id,
        func.coalesce(Entry.submitted_by_id, Entry.author_id) != user.id))


def newest(user, limit=NEWEST_MAX):
    """The most recently adopted knowledge."""
    return db.session.scalars(select(Entry).where(access.public_clause(), access.visible_clause(user))
                              .options(*_card_options())
                              .order_by(Entry.adopted_at.desc(), Entry.id.desc()).limit(limit)).all()


def favourite_segments(user, limit=FOR_YOU_SEGMENTS):
    """The customer segments the user has written about most."""
    written = func.count(entry_categories.c.entry_id)
    return [row[0] for row in db.session.execute(
        select(Category, written).join(entry_categories, entry_categories.c.category_id == Category.id)
        .join(Entry, Entry.id == entry_categories.c.entry_id)
        .where(Entry.author_id == user.id, Category.vocabulary == Vocabulary.SEGMENT)
        .group_by(Category.id).order_by(written.desc(), Category.position, Category.id).limit(limit)).all()]


def for_segments(user, segments, limit=FOR_YOU_MAX):
    """Adopted knowledge by colleagues for these segments, newest first."""
    in_segments = select(entry_categories.c.entry_id).where(
        entry_categories.c.category_id.in_([s.id for s in segments]))
    return db.session.scalars(select(Entry).where(
        access.public_clause(), Entry.author_id != user.id, Entry.id.in_(in_segments))
        .options(*_card_options()).order_by(Entry.adopted_at.desc(), Entry.id.desc()).limit(limit)).all()


def most_viewed(user, limit=FOR_YOU_MAX):
    """The most-read adopted knowledge."""
    return db.session.scalars(select(Entry).where(access.public_clause(), access.visible_clause(user))
                              .options(*_card_options())
                              .order_by(Entry.view_count.desc(), Entry.id.desc()).limit(limit)).all()


def home_page(user, now=None):
    """Everything the home page shows for this user."""
    segments = favourite_segments(user)
    for_you = for_segments(user, segments) if segments else []
    if not for_you:
        segments, for_you = [], most_viewed(user)
    return HomePage(standing=rankings.standing(user, Period.MONTH, now), needs_action=needs_action(user),
                    pending_review=awaiting_review(user), review_queue=review_queue_size(user),
                    newest=newest(user), segments=segments, for_you=for_you)
