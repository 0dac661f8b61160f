"""Query evaluation over the Whoosh index: BM25 over the text fields, visibility, filters, facet
counts and sorting in one pass over the postings of the question's terms.

Why not Whoosh's own collectors: they walk a tree of matchers document by document (an OR of 20
terms × 3 fields is 60 matchers), which took 0.4–1.4 s per question at 100,000 entries, and facet
counts made it slower still (bench/README.md). Here each term's postings are read a block at a
time and scored in a flat loop, and what else a hit needs (visibility, facet values, sort keys) is
read once per index segment from the "card" column and kept while that segment lives. Segments
never change once written (deletions are a separate set), so the cache is exact.

Common terms (in more than COMMON_SHARE of the entries) do not make an entry match on their own:
they only add to the score of the best RERANK candidates, read with skip_to. Lucene's
CommonTermsQuery does the same; without it one 保险 matches nearly the whole wiki.
"""
import json
import math
import threading
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import NamedTuple

from whoosh.codec.whoosh3 import LENGTHS_COLUMN, _lenfield
from whoosh.matching.wrappers import FilterMatcher
from whoosh.util.numeric import byte_to_length

K1, B = 1.2, 0.75
FIELD_BOOSTS = {"title": 3.0, "tags_text": 2.0, "body": 1.0}
COMMON_SHARE = 0.05
COMMON_MIN_DOCS = 500
RERANK = 200  # candidates whose scores common terms complete before the final order
FACETS = ("kind", "product", "segment", "tag")

_cache_lock = threading.Lock()
_segments = {}  # segment id -> SegmentView


@dataclass(frozen=True)
class Card:
    """What a hit needs besides its score, as written to the index's "card" column."""

    entry_id: int
    kind: str
    product: tuple
    segment: tuple
    tag: tuple
    public: bool
    author_id: int
    status: str
    updated: float
    helpful: int

    @classmethod
    def from_bytes(cls, raw):
        data = json.loads(raw)
        return cls(data["id"], data["kind"], tuple(data["product"]), tuple(data["segment"]), tuple(data["tag"]),
                   data["public"], data["author_id"], data["status"], data["updated"], data["helpful"])


def card_bytes(entry_id, kind, product, segment, tag, public, author_id, status, updated, helpful):
    """The card column value of a document (compact JSON)."""
    return json.dumps({"id": entry_id, "kind": kind, "product": product, "segment": segment, "tag": tag,
                       "public": public, "author_id": author_id, "status": status, "updated": updated,
                       "helpful": helpful}, ensure_ascii=False, separators=(",", ":")).encode()


@dataclass
class Visibility:
    """Who is searching: everything for admins; else public entries, one's own, and pending for reviewers."""

    everything: bool = False
    user_id: int | None = None
    pending: bool = False

    def allows(self, card):
        return (self.everything or card.public or card.author_id == self.user_id
                or (self.pending and card.status == "pending"))


@dataclass
class Ranked:
    """Evaluated question: the page of (entry id, score), the total, and facet counts."""

    hits: list = field(default_factory=list)
    total: int = 0
    facets: dict = field(default_factory=dict)


class Candidate(NamedTuple):
    score: float
    card: Card
    reader: object  # the segment's reader
    docnum: int  # in the segment
    view: "SegmentView"


class SegmentView:
    """One segment's cards and field lengths, read once."""

    def __init__(self, reader):
        self.cards = [Card.from_bytes(raw) if raw else None for raw in reader.column_reader("card")]
        self.lengths = {name: _lengths(reader, name) for name in FIELD_BOOSTS}


def _lengths(reader, name):
    """The field's length per document (Whoosh keeps them as a byte column, read here in one go)."""
    perdoc = reader._perdoc  # noqa: SLF001 — Whoosh has no public bulk read of the lengths
    if not perdoc.has_column(_lenfield(name)):  # no document of the segment has text in this field
        return [0] * reader.doc_count_all()
    return [byte_to_length(b) for b in perdoc.column_reader(_lenfield(name), LENGTHS_COLUMN)]


def segment_view(reader):
    key = reader.segment().segment_id()
    view = _segments.get(key)
    if view is None:
        view = SegmentView(reader)
        with _cache_lock:
            _segments[key] = view
    return view


def forget_segments(live):
    """Drop cached segments that are no longer in the index (merged away)."""
    with _cache_lock:
        for key in set(_segments) - set(live):
            del _segments[key]


def evaluate(searcher, terms, visibility, filters, sort, page, per_page, fields=tuple(FIELD_BOOSTS)):
    """Score, filter, count and sort; terms may be empty when only filters are given."""
    leaves = [(leaf.reader(), offset) for leaf, offset in searcher.leaf_searchers()
              if leaf.reader().segment() is not None]  # an empty index has a reader without segments
    forget_segments([reader.segment().segment_id() for reader, _ in leaves])
    required, common = split_common(searcher, terms) if terms else ([], [])
    weights = _term_weights(searcher, required + common, fields)
    found, counts = [], {name: Counter() for name in FACETS}
    for reader, offset in leaves:
        view = segment_view(reader)
        scores = _score(reader, view, required, weights) if terms else _filtered_docs(reader, filters)
        deleted = reader.deleted_docs_set
        for docnum, score in scores.items():
            card = view.cards[docnum]
            if docnum in deleted or card is None or not visibility.allows(card) or not _passes(card, filters):
                continue
            _count(counts, card)
            found.append(Candidate(score, card, reader, docnum, view))
    ranked = Ranked(total=len(found), facets={name: _sorted_counts(counts[name]) for name in FACETS})
    ranked.hits = [(hit.card.entry_id, round(hit.score, 3))
                   for hit in _order(found, common, weights, sort)[(page - 1) * per_page:page * per_page]]
    return ranked


def split_common(searcher, terms):
    """(required, common): common terms only add to the score. If every term is common, the two
    rarest are required, so a question of common words still finds entries with the rarest ones."""
    cutoff = max(COMMON_MIN_DOCS, COMMON_SHARE * searcher.doc_count())
    by_rarity = sorted(terms, key=lambda term: searcher.doc_frequency("body", term))
    required = [t for t in by_rarity if searcher.doc_frequency("body", t) <= cutoff] or by_rarity[:2]
    return required, [t for t in terms if t not in required]


class TermWeight(NamedTuple):
    idf: float
    fields: dict  # field name -> (boost, average length) for the fields that hold the term


def _term_weights(searcher, terms, fields):
    """BM25F weights per term: one idf (from the field where the term is most frequent), and per
    field its boost and average length. Terms found in none of the fields are left out."""
    count = max(searcher.doc_count_all(), 1)
    averages = {name: searcher.field_length(name) / count or 1.0 for name in fields}
    weights = {}
    for term in terms:
        frequencies = {name: searcher.doc_frequency(name, term) for name in fields}
        df = max(frequencies.values())
        if df:
            weights[term] = TermWeight(math.log(1 + (count - df + 0.5) / (df + 0.5)),
                                       {name: (FIELD_BOOSTS[name], averages[name])
                                        for name, n in frequencies.items() if n})
    return weights


def _score(reader, view, terms, weights):
    """BM25F scores of every document holding one of terms, by segment-local document number:
    a term's frequencies in the fields are weighted and length-normalised, summed, then saturated
    once, so a word in both title and body is not counted as two words."""
    scores = {}
    for term in terms:
        if term not in weights:
            continue
        weight, pseudo = weights[term], {}
        for name, (boost, average) in weight.fields.items():
            if (name, term) not in reader:
                continue
            lengths = view.lengths[name]
            for ids, frequencies in _blocks(reader.postings(name, term)):
                for docnum, tf in zip(ids, frequencies):
                    pseudo[docnum] = pseudo.get(docnum, 0.0) + boost * tf / (1 - B + B * lengths[docnum] / average)
        for docnum, tf in pseudo.items():
            scores[docnum] = scores.get(docnum, 0.0) + saturate(weight.idf, tf)
    return scores


def saturate(idf, tf):
    return idf * tf * (K1 + 1) / (tf + K1)


def _leaf(matcher):
    """The codec's own matcher: deletions are checked by the caller."""
    return matcher.child if isinstance(matcher, FilterMatcher) else matcher


def _blocks(matcher):
    """(ids, weights) a block at a time; deletions are left to the caller."""
    matcher = _leaf(matcher)
    while matcher.is_active():
        matcher._read_ids()  # noqa: SLF001 — block reads are what makes this fast
        matcher._read_weights()  # noqa: SLF001
        yield matcher._ids, matcher._weights  # noqa: SLF001
        matcher._next_block()  # noqa: SLF001


def _filtered_docs(reader, filters):
    """Documents holding the first filter's value (the others are checked on the cards)."""
    name, value = next(iter(filters.items()))
    if (name, value) not in reader:
        return {}
    return {docnum: 0.0 for ids, _ in _blocks(reader.postings(name, value)) for docnum in ids}


def _passes(card, filters):
    for name, value in filters.items():
        have = getattr(card, name)
        if (value != have) if name == "kind" else (value not in have):
            return False
    return True


def _count(counts, card):
    counts["kind"][card.kind] += 1
    for name in ("product", "segment", "tag"):
        counts[name].update(getattr(card, name))


def _sorted_counts(counter):
    return sorted(((key, n) for key, n in counter.items() if key), key=lambda item: (-item[1], item[0]))


def _order(found, common, weights, sort):
    """Sort hits: relevance (common terms complete the best scores first), newest or most helpful."""
    if sort == "newest":
        return sorted(found, key=lambda hit: (-hit.card.updated, -hit.score))
    if sort == "helpful":
        return sorted(found, key=lambda hit: (-hit.card.helpful, -hit.score, -hit.card.updated))
    by_relevance = lambda hit: (-hit.score, -hit.card.updated)  # noqa: E731
    found.sort(key=by_relevance)
    if common:
        found[:RERANK] = sorted(_with_common(found[:RERANK], common, weights), key=by_relevance)
    return found


def _with_common(best, common, weights):
    """The best hits with the common terms' scores added: per segment, each term's postings are
    walked once with skip_to over the hits' document numbers in order."""
    extra = [0.0] * len(best)
    per_segment = defaultdict(list)
    for position, hit in enumerate(best):
        per_segment[id(hit.reader)].append(position)
    for positions in per_segment.values():
        positions.sort(key=lambda position: best[position].docnum)
        reader, view = best[positions[0]].reader, best[positions[0]].view
        for term in common:
            if term not in weights:
                continue
            weight, pseudo = weights[term], defaultdict(float)
            for name, (boost, average) in weight.fields.items():
                if (name, term) not in reader:
                    continue
                matcher = _leaf(reader.postings(name, term))
                for position in positions:
                    docnum = best[position].docnum
                    if not matcher.is_active():
                        break
                    matcher.skip_to(docnum)
                    if matcher.is_active() and matcher.id() == docnum:
                        pseudo[position] += boost * matcher.weight() / (
                            1 - B + B * view.lengths[name][docnum] / average)
            for position, tf in pseudo.items():
                extra[position] += saturate(weight.idf, tf)
    return [hit._replace(score=hit.score + extra[position]) for position, hit in enumerate(best)]
