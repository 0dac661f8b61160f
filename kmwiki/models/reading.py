"""What readers keep and say about entries: bookmarks and comments."""
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import UTCDateTime, utcnow
from .user import User

COMMENT_MAX = 2000


class Bookmark(db.Model):
    """One reader keeps one entry; the primary key makes it once per reader and entry."""

    __tablename__ = "bookmarks"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("entries.id", ondelete="CASCADE"), primary_key=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Comment(db.Model):
    """A reader's remark on an entry; deleting only marks it, so the thread keeps its shape."""

    __tablename__ = "comments"
    __table_args__ = (Index("ix_comments_entry_created", "entry_id", "created_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("entries.id", ondelete="CASCADE"))
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    author: Mapped[User] = relationship()

    @property
    def is_deleted(self):
        return self.deleted_at is not None

    def can_delete(self, user):
        """The comment's author or an administrator may delete it."""
        return user.is_authenticated and (user.id == self.author_id or user.is_admin)
