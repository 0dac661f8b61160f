"""Search data: insurance synonyms that expand queries, and the questions that found nothing."""
from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import UTCDateTime, utcnow


class SynonymGroup(db.Model):
    """Words that mean the same to an agent (重疾, 重大疾病保险, 重疾险); any one finds the others."""

    __tablename__ = "synonym_groups"
    id: Mapped[int] = mapped_column(primary_key=True)
    # Comma-separated; the first word is the group's name in the admin list.
    words: Mapped[str] = mapped_column(String(400), unique=True)

    @property
    def word_list(self):
        return self.split(self.words)

    @staticmethod
    def split(words):
        """The words of a comma-separated group text."""
        return [w.strip() for w in words.split(",") if w.strip()]


class SearchMiss(db.Model):
    """A question that found nothing, counted: leaders see these as knowledge gaps."""

    __tablename__ = "search_misses"
    id: Mapped[int] = mapped_column(primary_key=True)
    # Normalised (trimmed, lower-cased, spaces folded) so the same question counts once.
    query_key: Mapped[str] = mapped_column(String(200), unique=True)
    query: Mapped[str] = mapped_column(String(200))
    count: Mapped[int] = mapped_column(default=1)
    first_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
