"""Full-text search over entries (DESIGN §6): OR-grouped terms ranked by BM25F, synonyms, filters,
facets, highlighted snippets, sorting, paging, and visibility enforced inside the query so nothing
leaks through snippets, facets or counts."""
import re
from dataclasses import dataclass, field

from flask import current_app
from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from sqlalchemy import select, update
from whoosh.query import And, Every, Or, Term
from whoosh.sorting import Count, FieldFacet

from ..database import insert_once
from ..extensions import db
from ..models import Entry, Revision, Role, SearchMiss, SynonymGroup, User
from ..models.base import utcnow
from ..search import analysis, index

SORTS = ("relevance", "newest", "helpful")
FACETS = {"kind": "kind", "product": "product", "segment": "segment", "tag": "tag"}
TEXT_FIELDS = ("title", "tags_text", "body")
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
    """Insert missing seed synonym groups; returns how many were added."""
    existing = set(db.session.scalars(select(SynonymGroup.words)))
    added = [SynonymGroup(words=w) for w in DEFAULT_SYNONYMS if w not in existing]
    db.session.add_all(added)
    db.session.commit()
    return len(added)


def expand(terms):
    """Add the words of every synonym group one of the terms belongs to (analysed the same way)."""
    expanded = list(terms)
    for group in db.session.scalars(select(SynonymGroup)):
        words = group.word_list
        group_terms = {t for w in words for t in analysis.query_terms(w)}
        if group_terms & set(terms) or any(w in terms for w in words):
            expanded += [t for t in group_terms if t not in expanded]
    return expanded


def visibility_filter(user):
    """The documents this user may find: the same rule as services.access, as an index query."""
    if user.is_admin:
        return None
    allowed = [Term("public", True), Term("author_id", str(user.id))]
    if user.has_role(Role.REVIEWER):
        allowed.append(Term("status", "pending"))
    return Or(allowed)


def _filter(user, request):
    parts = [Term(FACETS[name], value) for name, value in request.filters.items()]
    visible = visibility_filter(user)
    if visible is not None:
        parts.append(visible)
    return And(parts) if parts else None


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
    query = Or([Term(name, t) for t in expand(terms) for name in TEXT_FIELDS]) if terms else Every()
    per_page = current_app.config["SEARCH_RESULTS_PER_PAGE"]
    page = max(request.page, 1)
    ix = index.get_index()
    with ix.searcher() as searcher:
        options = {"filter": _filter(user, request), "groupedby": _facets(), "terms": True}
        if request.sort == "newest":
            options.update(sortedby="updated", reverse=True)
        elif request.sort == "helpful":
            options.update(sortedby="helpful", reverse=True)
        results = searcher.search_page(query, page, pagelen=per_page, **options)
        found = SearchResult(total=len(results), page=page, pages=results.pagecount,
                             facets={name: _counts(results, name) for name in FACETS},
                             hits=_hits(results, terms))
        if not found.total and text:
            found.suggestion = _suggestion(searcher, text, terms)
    if not found.total and text:
        record_miss(text)
    return found


def _facets():
    return {name: FieldFacet(name, allow_overlap=name != "kind", maptype=Count) for name in FACETS}


def _counts(results, name):
    groups = results.results.groups(name)
    return sorted(((key, n) for key, n in groups.items() if key), key=lambda item: (-item[1], item[0]))


def _hits(results, terms):
    """Hits with snippets taken from each entry's rendered text in the database (escaped, marked)."""
    ids = [int(hit["id"]) for hit in results]
    texts = _plain_texts(ids)
    hits = []
    for hit in results:
        entry_id = int(hit["id"])
        title, text, author = texts.get(entry_id, ("", "", hit["author"]))
        hits.append(Hit(id=entry_id, title=title, snippet=snippet(text, terms), score=round(hit.score or 0, 3),
                        kind=hit["kind"], status=hit["status"], author=author))
    return hits


def _plain_texts(entry_ids):
    """(title, plain text, author's display name) of the revision readers see, from the cached HTML."""
    rows = db.session.execute(
        select(Entry.id, Revision.title, Revision.html, Revision.body, User.display_name)
        .join(Revision, (Revision.entry_id == Entry.id)
              & (Revision.number == db.func.coalesce(Entry.published_number, Entry.latest_number)))
        .join(User, User.id == Entry.author_id)
        .where(Entry.id.in_(entry_ids))).all()
    return {row.id: (row.title, Markup(row.html).striptags() if row.html else row.body, row.display_name)
            for row in rows}


def snippet(text, terms):
    """The passage around the first matching term, escaped, with matches in <mark>."""
    if not text:
        return Markup("")
    words = sorted({t for t in terms if t}, key=len, reverse=True)  # longest first: 重疾险 before 疾险
    pattern = re.compile("|".join(map(re.escape, words)), re.IGNORECASE) if words else None
    first = pattern.search(text) if pattern else None
    start = max((first.start() if first else 0) - SNIPPET_CHARS // 4, 0)
    passage = text[start:start + SNIPPET_CHARS]
    marked, last = Markup(), 0
    for match in (pattern.finditer(passage) if pattern else ()):
        marked += Markup.escape(passage[last:match.start()]) + Markup("<mark>%s</mark>") % match.group()
        last = match.end()
    marked += Markup.escape(passage[last:])
    return Markup("…" if start else "") + marked + Markup("…" if start + SNIPPET_CHARS < len(text) else "")


def _suggestion(searcher, text, terms):
    """A "did you mean" for mistyped words: the closest indexed terms, when there are any."""
    corrected, changed = [], False
    for term in terms:
        guesses = searcher.suggest("title", term, limit=1) or searcher.suggest("body", term, limit=1)
        if guesses and guesses[0] != term:
            corrected.append(guesses[0])
            changed = True
        else:
            corrected.append(term)
    return " ".join(corrected) if changed else ""


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
    query = Or([Term(name, t) for t in expand(terms) for name in ("title", "tags_text")])
    with index.get_index().searcher() as searcher:
        found = [(int(hit["id"]), round(hit.score, 3)) for hit in
                 searcher.search(query, limit=limit, filter=Term("public", True))]
    titles = _plain_texts([entry_id for entry_id, _ in found])
    return [{"id": entry_id, "title": titles[entry_id][0], "score": score}
            for entry_id, score in found if entry_id in titles]

