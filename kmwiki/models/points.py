"""The points ledger (append-only) and the rules that price each award."""
import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import UTCDateTime, utcnow
from .user import User


class Reason(enum.StrEnum):
    """Why points moved."""

    ENTRY_ADOPTED = "entry_adopted"
    EDIT_ADOPTED = "edit_adopted"
    REVIEW = "review"
    HELPFUL = "helpful"
    RETRACTION = "retraction"


class PointAward(db.Model):
    """One ledger row. Never updated or deleted: a reversal is a new negative row.

    `cause` names the one event that pays (e.g. "adopt:entry:12"); its unique key makes every award
    exactly-once in the database, whatever races or retries happen above it.
    """

    __tablename__ = "point_awards"
    __table_args__ = (
        # Leaderboards sum by period: the time range first, then user and amount for an index-only scan.
        Index("ix_point_awards_created_user_amount", "created_at", "user_id", "amount"),
        # A user's ledger and first-time window sums read amount and reason from the index, not the table.
        Index("ix_point_awards_user_created_amount_reason", "user_id", "created_at", "amount", "reason"),
        # The admin ledger filtered by reason: newest rows of one reason, and its totals, from the index alone.
        Index("ix_point_awards_reason_created_amount", "reason", "created_at", "amount"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    amount: Mapped[int]
    reason: Mapped[str] = mapped_column(String(20))
    cause: Mapped[str] = mapped_column(String(120), unique=True)
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("entries.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User] = relationship()


class PointRule(db.Model):
    """A number the point rules use (base points per kind, review reward, helpful cap …); admin-editable."""

    __tablename__ = "point_rules"
    key: Mapped[str] = mapped_column(String(60), primary_key=True)
    value: Mapped[int]
    description_zh: Mapped[str] = mapped_column(String(200), default="")
    description_en: Mapped[str] = mapped_column(String(200), default="")
