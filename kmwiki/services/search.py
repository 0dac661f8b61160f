"""Full-text search over entries (DESIGN §6): OR-grouped terms ranked by BM25F, synonyms, filters,
facets, highlighted snippets, sorting, paging, and visibility enforced inside the query so nothing
leaks through snippets, facets or counts."""
import functools
import re
from dataclasses import dataclass, field
from typing import NamedTuple

from flask import current_app
from flask_babel import lazy_gettext as _l
from markupsafe import Markup, escape
from sqlalchemy import select, update

from .. import caching
from ..database import insert_once
from ..extensions import db
from ..models import Entry, Revision, Role, SearchMiss, SynonymGroup, User
from ..models.base import utcnow
from ..search import analysis, index, ranking

SORTS = ("relevance", "newest", "helpful")
FACETS = {"kind": "kind", "product": "product", "segment": "segment", "tag": "tag"}
MAX_QUERY = 200
SNIPPET_CHARS = 160
DEFAULT_SYNONYMS = [
    "重疾,重大疾病保险,重疾险,重大疾病",
    "年金,养老金,年金险,养老年金",
    "万能险,万能型,万能保险",
    "犹豫期,冷静期",
    "医疗险,医疗保险",
    "意外险,意外伤害保险",
    "寿险,人寿保险",
    "车险,机动车保险,汽车保险",
    "保单贷款,保单借款",
    "宽限期,缴费宽限期",
    "免赔额,起付线",
]


@dataclass
class SearchRequest:
    """What the reader asked for, from the search page or the API."""

    text: str = ""
    kind: str = ""
    product: str = ""
    segment: str = ""
    tag: str = ""
    sort: str = "relevance"
    page: int = 1

    @property
    def filters(self):
        return {name: getattr(self, name) for name in FACETS if getattr(self, name)}


@dataclass
class Hit:
    id: int
    title: str
    snippet: Markup
    score: float
    kind: str
    status: str
    author: str


class ReaderRow(NamedTuple):
    title: str
    text: str
    kind: str
    status: str
    author: str


@dataclass
class SearchResult:
    total: int = 0
    hits: list = field(default_factory=list)
    facets: dict = field(default_factory=dict)
    message: str = ""
    suggestion: str = ""
    page: int = 1
    pages: int = 0


def ensure_default_synonyms():
    """Seed the synonym groups into an empty table (admins may delete or change seeded groups later)."""
    if db.session.scalar(select(SynonymGroup.id).limit(1)) is not None:
        return 0
    db.session.add_all(SynonymGroup(words=words) for words in DEFAULT_SYNONYMS)
    db.session.commit()
    return len(DEFAULT_SYNONYMS)


def expand(terms):
    """Add the words of every synonym group that one of the question's terms names.

    A group is named when all the terms of one of its words are among the question's terms (so
    年金险 names 年金, but 保险 alone names no group); what is added are the group's words as
    whole words, not their sub-word bigrams, so a synonym does not bring in noise like 疾病 or 保险.
    """
    present = set(terms)
    expanded = list(terms)
    for words in caching.remembered(("synonym groups",), _synonym_groups):
        names, whole_words = _synonym_terms(words)
        if any(name <= present for name in names):
            expanded += [t for t in whole_words if t not in expanded]
    return expanded


def _synonym_groups():
    """Every group's words, kept per process until content changes (caching.py: a group added,
    changed or removed moves the stamp, so the next search anywhere uses it)."""
    return tuple(db.session.scalars(select(SynonymGroup.words).order_by(SynonymGroup.id)))


@functools.lru_cache(maxsize=1024)
def _synonym_terms(words):
    """(the term sets that name a group, the group's whole-word terms) for a group's words: segmenting
    every group's words again on every search took ~4% of it; the result depends on the text alone."""
    word_list = SynonymGroup.split(words)
    names = [frozenset(terms) for terms in map(analysis.query_terms, word_list) if terms]
    whole_words = list(dict.fromkeys(t for word in word_list for t in analysis.word_terms(word)))
    return names, whole_words


def visibility(user):
    """Who may find what: the same rule as services.access, applied to every hit, count and facet."""
    if user.is_admin:
        return ranking.Visibility(everything=True)
    return ranking.Visibility(user_id=user.id, pending=user.has_role(Role.REVIEWER))


def search(request, user):
    """Run a search for a user; a malformed or empty question is answered with a message."""
    text = " ".join((request.text or "").split())[:MAX_QUERY]
    if request.sort not in SORTS:
        request.sort = "relevance"
    terms = analysis.query_terms(text) if text else []
    if not terms and not request.filters:
        message = _l("Type a question or a few words, e.g. 客户说保费太贵怎么办.") if not text else \
            _l("“%(text)s” has no words to search for. Try other words.", text=text)
        return SearchResult(message=str(message))
    per_page = current_app.config["SEARCH_RESULTS_PER_PAGE"]
    page = max(request.page, 1)
    ranked = index.reading(lambda searcher: ranking.evaluate(
        searcher, expand(terms) if terms else [], visibility(user), request.filters, request.sort, page, per_page))
    found = SearchResult(total=ranked.total, page=page, pages=-(-ranked.total // per_page),
                         facets=ranked.facets, hits=_hits(ranked.hits, terms))
    if not found.total and text:
        found.suggestion = index.reading(lambda searcher: _suggestion(searcher, text, terms))
    if not found.total and text:
        record_miss(text)
    return found


def _hits(ranked, terms):
    """Hits with snippets taken from each entry's rendered text in the database (escaped, marked)."""
    rows = _reader_rows([entry_id for entry_id, _ in ranked])
    marks = marker(terms)
    return [Hit(id=entry_id, title=rows[entry_id].title, snippet=snippet(rows[entry_id].text, marks), score=score,
                kind=rows[entry_id].kind, status=rows[entry_id].status, author=rows[entry_id].author)
            for entry_id, score in ranked if entry_id in rows]


def _reader_rows(entry_ids):
    """Title, plain text, kind, status and author's name of the revision readers see, by entry id."""
    rows = db.session.execute(
        select(Entry.id, Entry.status, Revision.title, Revision.html, Revision.body, Revision.kind_slug,
               User.display_name)
        .join(Revision, (Revision.entry_id == Entry.id)
              & (Revision.number == db.func.coalesce(Entry.published_number, Entry.latest_number)))
        .join(User, User.id == Entry.author_id)
        .where(Entry.id.in_(entry_ids))).all()
    return {row.id: ReaderRow(row.title, Markup(row.html).striptags() if row.html else row.body, row.kind_slug,
                              str(row.status), row.display_name) for row in rows}


def marker(terms):
    """The pattern that finds the question's terms in a text, longest first (重疾险 before 疾险);
    None when there are none."""
    words = sorted({t for t in terms if t}, key=len, reverse=True)
    return re.compile("|".join(map(re.escape, words)), re.IGNORECASE) if words else None


def snippet(text, marks):
    """The passage around the first match of marks (see marker), escaped, with matches in <mark>.
    Built as one string: adding Markup piece by piece escaped every piece again (0.8 ms a page)."""
    if not text:
        return Markup("")
    first = marks.search(text) if marks else None
    start = max((first.start() if first else 0) - SNIPPET_CHARS // 4, 0)
    passage = text[start:start + SNIPPET_CHARS]
    pieces, last = ["…" if start else ""], 0
    for match in (marks.finditer(passage) if marks else ()):
        pieces += [escape(passage[last:match.start()]), "<mark>", escape(match.group()), "</mark>"]
        last = match.end()
    pieces += [escape(passage[last:]), "…" if start + SNIPPET_CHARS < len(text) else ""]
    return Markup("".join(pieces))


def _suggestion(searcher, text, terms):
    """A "did you mean": the question with each unknown word replaced by the closest title word.

    Only English words of 4+ letters and Chinese words of 3+ characters are corrected: shorter ones
    have too many neighbours one edit away (保险 → 保费, 保单 …) to guess which was meant.
    """
    suggestion, frequencies = text, ranking.DocFrequencies(searcher)
    for term in terms:
        if len(term) < (4 if term.isascii() else 3) or ranking.indexed(frequencies, term):
            continue
        guesses = searcher.suggest("title", term, limit=1, maxdist=1, prefix=1)
        if guesses:
            suggestion = re.sub(re.escape(term) + r"\w*" if term.isascii() else re.escape(term),
                                guesses[0], suggestion, flags=re.IGNORECASE)
    return suggestion if suggestion != text else ""


def record_miss(text):
    """Count a question that found nothing (a knowledge gap for leaders)."""
    key = " ".join(text.lower().split())[:200]
    now = utcnow()
    if insert_once(SearchMiss, {"query_key": key, "query": text[:200], "count": 1, "first_at": now, "last_at": now},
                   ["query_key"]) is None:
        db.session.execute(update(SearchMiss).where(SearchMiss.query_key == key)
                           .values(count=SearchMiss.count + 1, last_at=now))
    db.session.commit()


def top_misses(limit=50):
    """The questions that most often found nothing."""
    return db.session.scalars(select(SearchMiss).order_by(SearchMiss.count.desc(), SearchMiss.last_at.desc())
                              .limit(limit)).all()


def similar(title, limit=5):
    """Adopted entries whose title or tags resemble a title being typed, to improve instead of duplicate."""
    terms = analysis.query_terms(" ".join((title or "").split())[:MAX_QUERY])
    if not terms:
        return []
    ranked = index.reading(lambda searcher: ranking.evaluate(
        searcher, expand(terms), ranking.Visibility(), {}, "relevance", 1, limit, fields=("title", "tags_text")))
    rows = _reader_rows([entry_id for entry_id, _ in ranked.hits])
    return [{"id": entry_id, "title": rows[entry_id].title, "score": score}
            for entry_id, score in ranked.hits if entry_id in rows]


def warm_up():
    """Load the segmenter, open this process's searcher and read every segment's cards: what the
    first search of a process would otherwise wait for (~2 s at 100,000 entries)."""
    analysis.warm_up()
    index.reading(_read_segment_cards)


def _read_segment_cards(searcher):
    for leaf, _ in searcher.leaf_searchers():
        if leaf.reader().segment() is not None:
            ranking.segment_view(leaf.reader())
