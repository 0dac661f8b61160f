"""Knowledge entries, their immutable revisions, categories, tags and wiki links."""
import enum
from datetime import datetime

from sqlalchemy import JSON, Column, ForeignKey, Index, String, Table, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import UTCDateTime, utcnow
from .user import User


class Status(enum.StrEnum):
    """Where an entry stands in its lifecycle (DESIGN §3)."""

    DRAFT = "draft"
    PENDING = "pending"
    RETURNED = "returned"
    ADOPTED = "adopted"
    REJECTED = "rejected"
    RETRACTED = "retracted"


class Vocabulary(enum.StrEnum):
    """The controlled lists an entry is classified by."""

    KIND = "kind"
    PRODUCT = "product"
    SEGMENT = "segment"


class Category(db.Model):
    """A kind, product line or customer segment: data, so admins can extend them."""

    __tablename__ = "categories"
    __table_args__ = (UniqueConstraint("vocabulary", "slug"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    vocabulary: Mapped[str] = mapped_column(String(20))
    slug: Mapped[str] = mapped_column(String(40))
    name_zh: Mapped[str] = mapped_column(String(80))
    name_en: Mapped[str] = mapped_column(String(80))
    # Segments come in groups (life stage, value tier); empty for the other vocabularies.
    group: Mapped[str] = mapped_column(String(40), default="")
    position: Mapped[int] = mapped_column(default=0)

    def name(self, locale):
        """The display name in a UI locale."""
        return self.name_en if str(locale).startswith("en") else self.name_zh


entry_categories = Table(
    "entry_categories",
    db.metadata,
    Column("entry_id", ForeignKey("entries.id", ondelete="CASCADE"), primary_key=True),
    Column("category_id", ForeignKey("categories.id"), primary_key=True),
    # Newest entries of a category first, read from the index alone ("related entries").
    Index("ix_entry_categories_category_entry", "category_id", "entry_id"),
)

entry_tags = Table(
    "entry_tags",
    db.metadata,
    Column("entry_id", ForeignKey("entries.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("tags.id"), primary_key=True),
    Index("ix_entry_tags_tag_entry", "tag_id", "entry_id"),
)


class Tag(db.Model):
    """A free tag, shared across entries."""

    __tablename__ = "tags"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40), unique=True)


class Lifecycle:
    """What an entry's status and revision numbers say about its readers: for the model, and for
    plain rows of those columns (services/reading.py EntryFacts)."""

    @property
    def face_number(self):
        """The revision shown to readers: the adopted one once there is one."""
        return self.published_number or self.latest_number

    @property
    def is_public(self):
        """Readers see an entry once a revision of it is adopted, until it is retracted."""
        return self.published_number is not None and self.status != Status.RETRACTED

    @property
    def has_unpublished_changes(self):
        return self.published_number is not None and self.latest_number != self.published_number


class Entry(Lifecycle, db.Model):
    """A knowledge entry. Its title, kind and classifications mirror the revision readers see."""

    __tablename__ = "entries"
    __table_args__ = (Index("ix_entries_status_updated", "status", "updated_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200), index=True)
    kind_id: Mapped[int] = mapped_column(ForeignKey("categories.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), default=Status.DRAFT)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Compare-and-set target for optimistic editing: a save must name this number as its base.
    latest_number: Mapped[int] = mapped_column(default=0)
    # The adopted revision readers see; None until the entry is first adopted.
    published_number: Mapped[int | None]
    # The revision last sent to review (under review while pending), who submitted it and when.
    review_number: Mapped[int | None]
    submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    adopted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    view_count: Mapped[int] = mapped_column(default=0)
    # Raised in the same transaction as any change to what the entry's page shows (kmwiki/pages.py):
    # a page kept for sharing is served only while this is the version it was rendered at.
    page_version: Mapped[int] = mapped_column(server_default="0")

    author: Mapped[User] = relationship(foreign_keys=[author_id])
    submitted_by: Mapped[User | None] = relationship(foreign_keys=[submitted_by_id])
    kind: Mapped[Category] = relationship()
    categories: Mapped[list[Category]] = relationship(secondary=entry_categories, order_by=Category.position)
    tags: Mapped[list[Tag]] = relationship(secondary=entry_tags, order_by=Tag.name)

    @property
    def products(self):
        return [c for c in self.categories if c.vocabulary == Vocabulary.PRODUCT]

    @property
    def segments(self):
        return [c for c in self.categories if c.vocabulary == Vocabulary.SEGMENT]



class Revision(db.Model):
    """One immutable save of an entry: a full snapshot of its content and classification."""

    __tablename__ = "revisions"
    __table_args__ = (UniqueConstraint("entry_id", "number"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("entries.id", ondelete="CASCADE"))
    number: Mapped[int]
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    note: Mapped[str] = mapped_column(String(200), default="")
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    kind_slug: Mapped[str] = mapped_column(String(40))
    products: Mapped[list[str]] = mapped_column(JSON, default=list)
    segments: Mapped[list[str]] = mapped_column(JSON, default=list)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Rendered HTML cache; rendered again when markup.RENDER_VERSION moves on.
    html: Mapped[str | None] = mapped_column(Text)
    html_version: Mapped[int] = mapped_column(default=0)
    # When the revision first became the entry's reader-facing face. Readers who are not involved in
    # the entry see only revisions with this set (services/access.py can_view_revision).
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    entry: Mapped[Entry] = relationship()
    author: Mapped[User] = relationship()


class EntryLink(db.Model):
    """A `[[Title]]` link from an entry's reader-visible revision to a title."""

    __tablename__ = "entry_links"
    source_id: Mapped[int] = mapped_column(ForeignKey("entries.id", ondelete="CASCADE"), primary_key=True)
    target_title: Mapped[str] = mapped_column(String(200), primary_key=True, index=True)


class PageGeneration(db.Model):
    """One row: the generation every kept entry page belongs to (kmwiki/pages.py). It is replaced in
    the same transaction as a change any page may show: a rename, an entry leaving the public."""

    __tablename__ = "page_generation"
    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(32))
