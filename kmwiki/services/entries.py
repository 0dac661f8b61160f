"""Writing and reading knowledge entries: create, optimistic edits, revisions, revert, browse."""
from dataclasses import dataclass, field

from flask import current_app
from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from sqlalchemy import delete, exists, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased, joinedload, selectinload

from .. import caching, markup, pages
from ..errors import Conflict, Forbidden, Invalid, NotFound
from ..extensions import db
from ..models import Category, Entry, EntryLink, Revision, Status, Tag, User, Vocabulary
from ..models.base import utcnow
from ..models.entry import entry_categories, entry_tags
from . import access, deferred, taxonomy

TITLE_MAX = 200
NOTE_MAX = 200
POPULAR_TAGS_MAX_AGE = 300  # seconds: how far the tag counts of the browse page and the editor may lag


class EditConflict(Conflict):
    """A save whose base revision is no longer the latest one."""

    code = "edit_conflict"

    def __init__(self, entry, base):
        super().__init__(
            _l("Revision %(base)s is no longer the latest; the entry is now at revision %(latest)s.",
               base=base, latest=entry.latest_number),
            current_revision=entry.latest_number,
        )
        self.entry = entry
        self.base = base


@dataclass
class EntryInput:
    """What an author submits for one save, from a form or JSON."""

    title: str
    body: str
    kind: str
    products: list[str] = field(default_factory=list)
    segments: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    note: str = ""

    @classmethod
    def from_json(cls, data):
        """Build from an API body, refusing wrong shapes with field messages."""
        if not isinstance(data, dict):
            raise Invalid(_l("A JSON object is required."))
        errors = {}
        values = {}
        for name in ("title", "body", "kind", "note"):
            value = data.get(name, "")
            if not isinstance(value, str):
                errors[name] = [_l("Must be a string.")]
            values[name] = value if isinstance(value, str) else ""
        for name in ("products", "segments", "tags"):
            value = data.get(name, [])
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                errors[name] = [_l("Must be a list of strings.")]
                value = []
            values[name] = value
        if errors:
            raise Invalid(fields=errors)
        return cls(**values)

    @classmethod
    def from_revision(cls, revision, note):
        """The content of an old revision, to save again as a revert."""
        return cls(title=revision.title, body=revision.body, kind=revision.kind_slug,
                   products=list(revision.products), segments=list(revision.segments),
                   tags=list(revision.tags), note=note)

    def same_content(self, revision):
        return (self.title, self.body, self.kind, self.products, self.segments, self.tags) == (
            revision.title, revision.body, revision.kind_slug, revision.products, revision.segments, revision.tags)


@dataclass
class Classification:
    """An input's category and tag rows, resolved and checked."""

    kind: Category
    categories: list[Category]
    tags: list[Tag]


def validate(data):
    """Normalise an input in place and resolve its categories; raises Invalid with every field error."""
    data.title = " ".join(data.title.split())
    data.body = data.body.replace("\r\n", "\n")
    data.note = data.note.strip()[:NOTE_MAX]
    data.tags = taxonomy.split_tags(data.tags)
    errors = {}
    if not data.title:
        errors["title"] = [_l("Please enter a title.")]
    elif len(data.title) > TITLE_MAX:
        errors["title"] = [_l("At most %(n)s characters.", n=TITLE_MAX)]
    if not data.body.strip():
        errors["body"] = [_l("Please write the body.")]
    elif len(data.body) > current_app.config["MAX_BODY_CHARS"]:
        errors["body"] = [_l("At most %(n)s characters.", n=current_app.config["MAX_BODY_CHARS"])]
    if len(data.tags) > taxonomy.MAX_TAGS:
        errors["tags"] = [_l("At most %(n)s tags.", n=taxonomy.MAX_TAGS)]
    elif any(len(t) > taxonomy.MAX_TAG_LENGTH for t in data.tags):
        errors["tags"] = [_l("Each tag may have at most %(n)s characters.", n=taxonomy.MAX_TAG_LENGTH)]
    kind = taxonomy.category(Vocabulary.KIND, data.kind)
    if kind is None:
        errors["kind"] = [_l("Please choose a kind.")]
    resolved = {}
    for name, vocabulary in (("products", Vocabulary.PRODUCT), ("segments", Vocabulary.SEGMENT)):
        try:
            resolved[name] = taxonomy.resolve(vocabulary, data.products if name == "products" else data.segments, name)
        except Invalid as error:
            errors.update(error.fields)
    if errors:
        raise Invalid(fields=errors)
    data.products = [c.slug for c in resolved["products"]]
    data.segments = [c.slug for c in resolved["segments"]]
    return Classification(kind, resolved["products"] + resolved["segments"], taxonomy.tag_rows(data.tags))


def create(data, author, status=Status.DRAFT):
    """Create an entry with its first revision; a draft unless a trusted import says otherwise."""
    if not access.can_contribute(author):
        raise Forbidden()
    classification = validate(data)
    entry = Entry(author_id=author.id, status=status, title=data.title, kind=classification.kind, latest_number=1)
    if status == Status.ADOPTED:
        entry.published_number, entry.adopted_at = 1, utcnow()
    db.session.add(entry)
    db.session.flush()
    revision = _add_revision(entry, 1, data, author)
    if status == Status.ADOPTED:
        revision.published_at = entry.adopted_at
    _show(entry, revision, classification)
    db.session.commit()
    return entry


def save_edit(entry_id, data, base, editor):
    """Save a new revision on top of `base`; a stale base raises EditConflict, never overwrites.
    The base is the latest revision even when the editor may not read it (someone's unsent or rejected
    edit): the edit page starts them from the newest one they may read and says their save comes after."""
    entry = get_visible(entry_id, editor)
    if not access.can_edit(entry, editor):
        if entry.status == Status.PENDING:
            raise Conflict(_l("The entry is under review and cannot be edited now."))
        raise Forbidden()
    classification = validate(data)
    if base != entry.latest_number:
        raise EditConflict(entry, base)
    latest = revision(entry, entry.latest_number)
    if data.same_content(latest):
        db.session.rollback()
        return latest
    # Compare-and-set in the database: of two saves on the same base, exactly one wins.
    moved = db.session.execute(
        update(Entry).where(Entry.id == entry.id, Entry.latest_number == base)
        .values(latest_number=base + 1, updated_at=utcnow()).execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:
        db.session.rollback()
        raise EditConflict(db.session.get(Entry, entry_id), base)
    db.session.refresh(entry)
    new = _add_revision(entry, base + 1, data, editor)
    if entry.published_number is None:
        _show(entry, new, classification)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise EditConflict(db.session.get(Entry, entry_id), base) from None
    return new


def revert(entry_id, number, base, user):
    """Save an old revision's content again as a new revision: only one this user may read."""
    old = visible_revision(get_visible(entry_id, user), number, user)
    return save_edit(entry_id, EntryInput.from_revision(old, str(_l("Reverted to revision %(n)s", n=number))), base, user)


def publish(entry_id, number):
    """Adopt a revision directly: trusted migration paths only (demo data, bulk import)."""
    entry = db.session.get(Entry, entry_id)
    make_public(entry, revision(entry, number))
    entry.status = Status.ADOPTED
    entry.adopted_at = entry.adopted_at or utcnow()
    db.session.commit()
    return entry


def make_public(entry, published):
    """Make a revision the one readers see, and readable by every reader of the entry from now on;
    the caller moves the status and commits."""
    entry.published_number = published.number
    published.published_at = published.published_at or utcnow()
    _show(entry, published, validate(EntryInput.from_revision(published, published.note)))


def _add_revision(entry, number, data, author):
    revision = Revision(entry=entry, number=number, author_id=author.id, note=data.note, title=data.title,
                        body=data.body, kind_slug=data.kind, products=data.products,
                        segments=data.segments, tags=data.tags,
                        html=str(markup.render(data.body)), html_version=markup.RENDER_VERSION)
    db.session.add(revision)
    return revision


def _show(entry, revision, classification):
    """Make a revision the entry's reader-facing face: title, classification and links."""
    entry.title = revision.title
    entry.kind = classification.kind
    entry.categories = classification.categories
    entry.tags = classification.tags
    pages.links_rewritten(db.session, entry)
    db.session.execute(delete(EntryLink).where(EntryLink.source_id == entry.id))
    for title in markup.wikilink_titles(revision.body):
        if title != revision.title:
            db.session.add(EntryLink(source_id=entry.id, target_title=title[:TITLE_MAX]))


def get_visible(entry_id, user, options=()):
    """The entry if this user may see it; otherwise NotFound, so private drafts stay unknown.
    `options` are loader options for what the caller will show (its kind, author …)."""
    entry = db.session.get(Entry, entry_id, options=options)
    if entry is None or not access.can_view(entry, user):
        raise NotFound()
    return entry


READING_OPTIONS = (joinedload(Entry.kind), selectinload(Entry.categories),
                   joinedload(Entry.author).joinedload(User.team), joinedload(Entry.author).lazyload(User.role_rows))


def get_for_reading(entry_id, user):
    """get_visible, with what an entry page shows loaded in two queries instead of six."""
    return get_visible(entry_id, user, READING_OPTIONS)


def revision(entry, number):
    """One revision of an entry by number, whoever asks: for the services' own use."""
    found = db.session.scalar(select(Revision).where(Revision.entry_id == entry.id, Revision.number == number))
    if found is None:
        raise NotFound()
    return found


def visible_revision(entry, number, user):
    """One revision of a visible entry if this user may read it; otherwise NotFound, like any object
    they may not see."""
    found = revision(entry, number)
    if not access.can_view_revision(entry, found, user):
        raise NotFound()
    return found


def _visible_revisions(entry, user):
    return select(Revision).join(Entry, Revision.entry_id == Entry.id).where(
        Revision.entry_id == entry.id, access.revision_clause(user))


def newest_visible(entry, user, upto=None):
    """The newest revision of a visible entry this user may read (numbered `upto` at most): where their
    edit starts, and what a conflict compares with."""
    query = _visible_revisions(entry, user)
    if upto is not None:
        query = query.where(Revision.number <= upto)
    found = db.session.scalar(query.order_by(Revision.number.desc()).limit(1))
    if found is None:
        raise NotFound()
    return found


def compared(entry, old, new, user):
    """The two revisions a diff shows, both ones this user may read; by default the newest they may
    read and the one before it that they may read."""
    numbers = db.session.scalars(_visible_revisions(entry, user).with_only_columns(Revision.number)
                                 .order_by(Revision.number)).all()
    if not numbers:
        raise NotFound()
    new = new or numbers[-1]
    old = old or max((n for n in numbers if n < new), default=new)
    return visible_revision(entry, old, user), visible_revision(entry, new, user)


def rendered(revision):
    """The revision's sanitized HTML, rendered again if the cache predates the current renderer
    (or bulk loading wrote none); the new rendering is stored for later readers without making
    this read a write (services/deferred.py)."""
    if revision.html is None or revision.html_version != markup.RENDER_VERSION:
        html = str(markup.render(revision.body))
        deferred.keep_html(revision.id, html, markup.RENDER_VERSION)
        return Markup(html)
    return Markup(revision.html)  # produced by markup.render, the sanitizer


def history(entry, user):
    """The revisions this user may read, newest first."""
    return db.session.scalars(
        _visible_revisions(entry, user).order_by(Revision.number.desc()).options(selectinload(Revision.author))
    ).all()


def linked_from(entry):
    """Public entries whose text links to this entry's title: the same for every reader, so that
    the entry page can be shared (a link from a draft shows once the draft is adopted)."""
    return db.session.scalars(
        select(Entry).join(EntryLink, EntryLink.source_id == Entry.id)
        .where(EntryLink.target_title == entry.title, Entry.id != entry.id, access.public_clause())
        .order_by(Entry.title)
    ).all()


def shared_page_ids():
    """Adopted entries with no edit waiting, most read first: the pages readers share (`flask pages warm`)."""
    return db.session.scalars(select(Entry.id).where(Entry.status == Status.ADOPTED,
                                                     Entry.published_number == Entry.latest_number)
                              .order_by(Entry.view_count.desc(), Entry.id)).all()


def find_by_title(title, user):
    """The entry a `[[Title]]` link means: the adopted one first, then the oldest visible."""
    return db.session.scalar(
        select(Entry).where(Entry.title == title, access.visible_clause(user))
        .order_by((Entry.status == Status.ADOPTED).desc(), Entry.id).limit(1)
    )


@dataclass
class BrowseFilter:
    """Browse criteria, each optional."""

    kind: str = ""
    product: str = ""
    segment: str = ""
    tag: str = ""
    status: str = ""
    mine: bool = False


def browse_query(user, criteria):
    """Visible entries matching the criteria, most recently updated first."""
    query = select(Entry).where(access.visible_clause(user)).options(
        selectinload(Entry.kind), selectinload(Entry.categories), selectinload(Entry.tags),
        selectinload(Entry.author))
    if criteria.kind:
        query = query.join(Category, Entry.kind_id == Category.id).where(Category.slug == criteria.kind)
    for slug, vocabulary in ((criteria.product, Vocabulary.PRODUCT), (criteria.segment, Vocabulary.SEGMENT)):
        if slug:
            # An alias of its own: the kind filter above joins Category, and an unaliased subquery would
            # correlate with that join and match nothing.
            classified = aliased(Category)
            query = query.where(exists().where(
                entry_categories.c.entry_id == Entry.id, entry_categories.c.category_id == classified.id,
                classified.vocabulary == vocabulary, classified.slug == slug))
    if criteria.tag:
        query = query.where(exists().where(
            entry_tags.c.entry_id == Entry.id, entry_tags.c.tag_id == Tag.id, Tag.name == criteria.tag))
    if criteria.status:
        query = query.where(Entry.status == criteria.status)
    if criteria.mine:
        query = query.where(Entry.author_id == user.id)
    return query.order_by(Entry.updated_at.desc(), Entry.id.desc())


def recent_titles(user, limit):
    """The titles of the user's own most recently changed entries, newest first (the editor's list).
    Titles only: a page of browse results with its count and classifications was a third of the
    edit form's time."""
    return db.session.scalars(select(Entry.title).where(Entry.author_id == user.id)
                              .order_by(Entry.updated_at.desc(), Entry.id.desc()).limit(limit)).all()


def browse(user, criteria, page, per_page):
    """One page of browse results."""
    return db.paginate(browse_query(user, criteria), page=page, per_page=per_page, error_out=False)


def recent_changes(user, limit=50):
    """The newest revisions the user may read, with their entries."""
    return db.session.execute(
        select(Revision, Entry).join(Entry, Revision.entry_id == Entry.id)
        .where(access.revision_clause(user))
        .options(selectinload(Revision.author))
        .order_by(Revision.created_at.desc(), Revision.id.desc()).limit(limit)
    ).all()


def recent_changes_compared(user, limit=100):
    """recent_changes, each with the number of the entry's revision before it that the user may read
    (None for the first): what the change is compared with."""
    changes = recent_changes(user, limit)
    readable = {}
    for entry_id, number in db.session.execute(
            select(Revision.entry_id, Revision.number).join(Entry, Revision.entry_id == Entry.id)
            .where(Revision.entry_id.in_({entry.id for _, entry in changes}), access.revision_clause(user))):
        readable.setdefault(entry_id, []).append(number)
    return [(revision, entry, max((n for n in readable[entry.id] if n < revision.number), default=None))
            for revision, entry in changes]


def popular_tags(limit=30):
    """Tags on adopted entries with their counts; drafts do not show here. Counting every tag link
    takes 200 ms at 100,000 entries, and adoptions come every few seconds in a busy hour, so the
    counts are kept per process for POPULAR_TAGS_MAX_AGE; an entry leaving the public (or a rename)
    moves the page generation, which is in the key: a withdrawn entry's tags go at once."""
    return caching.remembered_for(("popular_tags", limit, pages.generation()), POPULAR_TAGS_MAX_AGE,
                                  lambda: _count_tags(limit))


def _count_tags(limit):
    count = db.func.count(entry_tags.c.entry_id)
    return [tuple(row) for row in db.session.execute(
        select(Tag.name, count.label("n")).join(entry_tags, entry_tags.c.tag_id == Tag.id)
        .join(Entry, Entry.id == entry_tags.c.entry_id).where(access.public_clause())
        .group_by(Tag.name).order_by(count.desc(), Tag.name).limit(limit))]


def count_entries():
    """How many entries exist, in any state."""
    return db.session.scalar(select(db.func.count(Entry.id)))


