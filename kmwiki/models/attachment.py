"""Images uploaded from the entry editor and shown inside entry bodies."""
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import UTCDateTime, utcnow


class Attachment(db.Model):
    """One uploaded image. The file lives in instance/attachments/ under its random token, never
    under the name the uploader gave it, so a name can neither collide nor traverse a path."""

    __tablename__ = "attachments"
    id: Mapped[int] = mapped_column(primary_key=True)
    # Unguessable and URL-safe: both the stored file name and the /attachments/<token> address.
    token: Mapped[str] = mapped_column(String(64), unique=True)
    # The entry being edited when it was uploaded; empty for a new entry's draft.
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("entries.id", ondelete="SET NULL"), index=True)
    uploader_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    original_name: Mapped[str] = mapped_column(String(200))
    # Decided from the file's magic bytes, not from what the browser claimed.
    content_type: Mapped[str] = mapped_column(String(40))
    size: Mapped[int] = mapped_column()
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
