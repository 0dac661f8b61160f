"""Reviews of submitted revisions, the rubric they score against, and the compliance lexicon."""
import enum
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import UTCDateTime, utcnow
from .entry import Entry
from .user import User


class Decision(enum.StrEnum):
    """What a reviewer decides about a submitted revision."""

    ADOPT = "adopt"
    REVISE = "revise"
    REJECT = "reject"


class RuleAction(enum.StrEnum):
    """What a compliance phrase does when it appears."""

    BLOCK = "block"  # adoption is impossible while the phrase is there
    FLAG = "flag"  # the reviewer is warned


class RubricCriterion(db.Model):
    """One scored criterion (1–5). Data, so the rubric can change without code."""

    __tablename__ = "rubric_criteria"
    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    name_zh: Mapped[str] = mapped_column(String(80))
    name_en: Mapped[str] = mapped_column(String(80))
    description_zh: Mapped[str] = mapped_column(String(200), default="")
    description_en: Mapped[str] = mapped_column(String(200), default="")
    position: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(default=True)

    def name(self, locale):
        return self.name_en if str(locale).startswith("en") else self.name_zh

    def description(self, locale):
        return self.description_en if str(locale).startswith("en") else self.description_zh


class ComplianceRule(db.Model):
    """A phrase that mis-sells insurance, with what happens when an entry contains it."""

    __tablename__ = "compliance_rules"
    id: Mapped[int] = mapped_column(primary_key=True)
    phrase: Mapped[str] = mapped_column(String(80), unique=True)
    action: Mapped[str] = mapped_column(String(10), default=RuleAction.FLAG)
    reason: Mapped[str] = mapped_column(String(200), default="")
    active: Mapped[bool] = mapped_column(default=True)


class Review(db.Model):
    """One reviewer's decision on one submitted revision; once per reviewer and revision."""

    __tablename__ = "reviews"
    __table_args__ = (UniqueConstraint("entry_id", "revision_number", "reviewer_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("entries.id", ondelete="CASCADE"), index=True)
    revision_number: Mapped[int]
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    decision: Mapped[str] = mapped_column(String(10))
    compliance_passed: Mapped[bool]
    comment: Mapped[str] = mapped_column(Text, default="")
    mean_score: Mapped[float]
    # What the guards found in the reviewed revision: personal data kinds and the rules that fired.
    findings: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    # When the revision was submitted, so time to decision needs no join.
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime)

    entry: Mapped[Entry] = relationship()
    reviewer: Mapped[User] = relationship()
    scores: Mapped[list["ReviewScore"]] = relationship(cascade="all, delete-orphan", lazy="selectin")


class ReviewScore(db.Model):
    """The score one review gave one criterion."""

    __tablename__ = "review_scores"
    review_id: Mapped[int] = mapped_column(ForeignKey("reviews.id", ondelete="CASCADE"), primary_key=True)
    criterion_id: Mapped[int] = mapped_column(ForeignKey("rubric_criteria.id"), primary_key=True)
    score: Mapped[int]

    criterion: Mapped[RubricCriterion] = relationship(lazy="joined")
