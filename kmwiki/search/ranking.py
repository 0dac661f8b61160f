"""Query evaluation over the Whoosh index: BM25F over the text fields, then visibility, filters,
facet counts and sorting, in one pass over the postings of the question's terms.

Why not Whoosh's own collectors: they walk a tree of matchers document by document (an OR of 20
terms × 3 fields is 60 matchers), which took 0.4–1.4 s per question at 100,000 entries, and facet
counts made it slower still (bench/README.md). Here each term's postings are read a block at a
time and scored in a flat loop; what else a hit needs (visibility, facet values, sort keys) comes
from the "card" column, read once per index segment into sets and lists that are kept while the
segment lives. Segments never change once written (deletions are a separate set), so this cache
is exact.

Common terms (in more than COMMON_SHARE of the entries) are left out of the query, as stop words
are: one 保险 would otherwise match and score nearly the whole wiki. Scoring them for the best
candidates only (Lucene's CommonTermsQuery) gained 0.005 nDCG@10 on one retrieval set and nothing
on the other, for 50 ms per question at 100,000 entries. When every term is common, the two
rarest are kept, and an entry must hold both (either, if none holds both).
"""
import heapq
import json
import math
import sys
import threading
from array import array
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from itertools import accumulate, repeat
from typing import NamedTuple

from whoosh.matching.wrappers import FilterMatcher

from .bulkwriter import field_lengths

K1, B = 1.2, 0.75
FIELD_BOOSTS = {"title": 3.0, "tags_text": 2.0, "body": 1.0}
COMMON_SHARE = 0.05
COMMON_MIN_DOCS = 500
# A segment this small keeps the set of its words, so a question skips it for the words it lacks:
# a lookup in a segment's term file costs ~3 µs whatever its size, and the small segments that
# saves add cost a search as much as the large ones did (4 of 5.6 ms with ten small ones). The
# bound keeps a set to a few thousand words, ~1 MB at most.
WORD_SET_MAX_DOCS = 500
FACETS = ("kind", "product", "segment", "tag")

_cache_lock = threading.Lock()
_segments = {}  # segment id -> SegmentView


class Facets(NamedTuple):
    """A document's classification, shared by every document classified alike (one object, not
    one per document: at 100,000 entries per-document objects took ~400 MB per worker)."""

    kind: str
    product: tuple
    segment: tuple
    tag: tuple
    keys: tuple  # (facet, value) pairs, counted for all hits in one pass


def facets_of(kind, product, segment, tag):
    keys = (("kind", kind),) + tuple((name, value) for name, values in
                                     (("product", product), ("segment", segment), ("tag", tag)) for value in values)
    return Facets(kind, product, segment, tag, keys)


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


@dataclass
class Ranked:
    """An evaluated question: the page of (entry id, score), the total, and facet counts."""

    hits: list = field(default_factory=list)
    total: int = 0
    facets: dict = field(default_factory=dict)


class SegmentView:
    """One segment's cards as columns, its field lengths and visibility sets, read once."""

    def __init__(self, reader):
        count = reader.doc_count_all()
        self.entry_ids, self.authors = array("l", bytes(8 * count)), array("l", bytes(8 * count))
        self.updated, self.helpful = array("d", bytes(8 * count)), array("l", bytes(8 * count))
        self.classes = array("l", bytes(8 * count))  # per document, its Facets' place in self.classified
        self.classified = []  # the segment's distinct Facets
        documents, public, pending, by_author, shared = [], [], [], defaultdict(set), {}
        for docnum, raw in enumerate(reader.column_reader("card")):
            if not raw:
                continue
            data = json.loads(raw)
            key = (sys.intern(data["kind"]), *(tuple(map(sys.intern, data[name])) for name in ("product", "segment", "tag")))
            if key not in shared:
                shared[key] = len(self.classified)
                self.classified.append(facets_of(*key))
            self.classes[docnum] = shared[key]
            self.entry_ids[docnum], self.authors[docnum] = data["id"], data["author_id"]
            self.updated[docnum], self.helpful[docnum] = data["updated"], data["helpful"]
            documents.append(docnum)
            if data["public"]:
                public.append(docnum)
            if data["status"] == "pending":
                pending.append(docnum)
            by_author[data["author_id"]].add(docnum)
        everything = frozenset(range(count))
        self.unlisted = everything - frozenset(documents)  # no card: not an entry's document
        self.hidden = everything - frozenset(public)
        self.pending = frozenset(pending)
        self.by_author = dict(by_author)
        self.lengths = {name: _lengths(reader, name) for name in FIELD_BOOSTS}
        self.words = _words(reader) if count <= WORD_SET_MAX_DOCS else None

    def may_hold(self, term):
        """False when the segment surely has no text field holding the term (small segments know)."""
        return self.words is None or term in self.words

    def count_facets(self, docnums, counts):
        """Add the facet values of these documents to counts: per classification, then per value
        (documents share a few hundred classifications; counting each document's values one by one
        took a fifth of a search with many hits)."""
        for place, n in Counter(map(self.classes.__getitem__, docnums)).items():
            for key in self.classified[place].keys:
                counts[key] += n

    def facets(self, docnum):
        return self.classified[self.classes[docnum]]

    def hit(self, docnum, score):
        return Hit(score, self.entry_ids[docnum], self.updated[docnum], self.helpful[docnum])

    def visible_among(self, scores, visibility):
        """The scored documents a searcher may find, as a new set (deletions not yet removed). Most
        of a segment is public: its hidden documents are taken away rather than the public kept
        (an intersection costs a lookup per scored document, often tens of thousands), and the
        searcher's own and pending ones, few, are looked up in the scores."""
        if visibility.everything:
            return scores.keys() - self.unlisted
        found = scores.keys() - self.hidden
        for extra in (self.by_author.get(visibility.user_id), visibility.pending and self.pending):
            if extra:
                found.update(docnum for docnum in extra if docnum in scores)
        return found


def _words(reader):
    """Every term of the segment's text fields, whatever the field."""
    return frozenset(term.decode("utf-8") for name in FIELD_BOOSTS if name in reader.indexed_field_names()
                     for term in reader.lexicon(name))


def _lengths(reader, name):
    """The field's length per document (Whoosh has no public bulk read of the lengths)."""
    return array("l", field_lengths(reader._perdoc, name) or bytes(8 * reader.doc_count_all()))  # noqa: SLF001


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


class Hit(NamedTuple):
    score: float
    entry_id: int
    updated: float
    helpful: int


def evaluate(searcher, terms, visibility, filters, sort, page, per_page, fields=tuple(FIELD_BOOSTS)):
    """Score, filter, count and sort; terms may be empty when only filters are given."""
    frequencies = DocFrequencies(searcher)
    forget_segments([reader.segment().segment_id() for reader, _ in frequencies.segments])
    if not terms:
        return _ranked(frequencies.segments, lambda reader, view: _filtered_docs(reader, filters),
                       visibility, filters, sort, page, per_page)
    required, all_of = required_terms(frequencies, terms)
    weights = _term_weights(searcher, required, fields, frequencies)
    if all_of and len(weights) > 1:  # a single weighted term (one word, or fields lacking the other) is plain
        ranked = _ranked(frequencies.segments, lambda reader, view: _score_all_of(reader, view, weights),
                         visibility, filters, sort, page, per_page)
        if ranked.total:
            return ranked  # else no entry holds them all: any of them will do
    return _ranked(frequencies.segments, lambda reader, view: _score(reader, view, weights),
                   visibility, filters, sort, page, per_page)


def _ranked(segments, score, visibility, filters, sort, page, per_page):
    """The page of hits, the total and facet counts over every segment; score(reader, view) gives a
    segment's matching documents with their scores."""
    total, counts, best = 0, Counter(), []
    wanted = page * per_page
    for reader, view in segments:
        scores = score(reader, view)
        found = view.visible_among(scores, visibility)
        found -= reader.deleted_docs_set  # in place: a copy would cost a step per document found
        if filters:
            found = [docnum for docnum in found if _passes(view.facets(docnum), filters)]
        total += len(found)
        view.count_facets(found, counts)
        best = _best(best + [view.hit(docnum, scores[docnum]) for docnum in
                             _best_docnums(found, scores, view, sort, wanted)], sort, wanted)
    return Ranked(total=total, facets={name: _sorted_counts(counts, name) for name in FACETS},
                  hits=[(hit.entry_id, round(hit.score, 3)) for hit in best[(page - 1) * per_page:]])


class DocFrequencies(dict):
    """The searcher's document frequency per (field, term), each asked once per question: over a
    multi-segment index every one is a lookup in every segment that may hold the term."""

    def __init__(self, searcher):
        super().__init__()
        self.searcher = searcher
        self.segments = [(leaf.reader(), segment_view(leaf.reader())) for leaf, _ in searcher.leaf_searchers()
                         if leaf.reader().segment() is not None]  # an empty index has a reader without segments

    def __missing__(self, key):
        name, term = key
        frequency = self[key] = sum(reader.doc_frequency(name, term) for reader, view in self.segments
                                    if view.may_hold(term))
        return frequency


def required_terms(frequencies, terms):
    """The terms that make a document match, and whether it must hold all of them. Those the index
    holds less the common ones, any of which will do; or, when every term is common, the two rarest,
    both required, as Elasticsearch's common-terms query does: common words only narrow each other,
    and either alone matched most of the wiki (45,000-75,000 entries scored per question at 100,000)."""
    cutoff = max(COMMON_MIN_DOCS, COMMON_SHARE * frequencies.searcher.doc_count())
    body = {term: frequencies["body", term] for term in terms}
    held = sorted((t for t in terms if body[t] or indexed(frequencies, t)), key=body.get)
    rare = [t for t in held if body[t] <= cutoff]
    return (rare, False) if rare else (held[:2], True)


def indexed(frequencies, term):
    """Whether any text field holds the term (frequencies: DocFrequencies)."""
    return any(frequencies[name, term] for name in FIELD_BOOSTS)


class TermWeight(NamedTuple):
    idf: float
    fields: dict  # field name -> (boost, average length) for the fields that hold the term


def _term_weights(searcher, terms, fields, frequencies):
    """BM25F weights per term: one idf (from the field where the term is most frequent), and per
    field its boost and average length. Terms found in none of the fields are left out."""
    count = max(searcher.doc_count_all(), 1)
    averages = {name: searcher.field_length(name) / count or 1.0 for name in fields}
    weights = {}
    for term in terms:
        per_field = {name: frequencies[name, term] for name in fields}
        df = max(per_field.values())
        if df:
            weights[term] = TermWeight(math.log(1 + (count - df + 0.5) / (df + 0.5)),
                                       {name: (FIELD_BOOSTS[name], averages[name])
                                        for name, n in per_field.items() if n})
    return weights


def _score(reader, view, weights):
    """BM25F scores of every document holding one of the weighted terms, by segment-local number:
    a term's frequencies in the fields are weighted and length-normalised, summed, then saturated
    once, so a word in both title and body is not counted as two words."""
    scores = defaultdict(float)
    for term, weight in weights.items():
        if not view.may_hold(term):
            continue
        held = [(name, boost, average) for name, (boost, average) in weight.fields.items() if (name, term) in reader]
        if len(held) < 2:  # the usual case: saturate in the same loop
            for name, boost, average in held:
                _add_field(scores, reader, view, term, name, boost, average, idf=weight.idf)
            continue
        *shorter, last = held  # in FIELD_BOOSTS order: the body, the longest posting list, last
        partial = defaultdict(float)
        for name, boost, average in shorter:
            _add_field(partial, reader, view, term, name, boost, average)
        _add_last_field(scores, partial, reader, view, term, *last, idf=weight.idf)
    return scores


def _score_all_of(reader, view, weights):
    """BM25F scores of the documents holding every weighted term (in any field), as _score gives
    them: the frequencies are read into dicts at C speed and only the documents in all are scored."""
    held = []  # per term: its weight and {field: {docnum: frequency}}
    for term, weight in weights.items():
        if not view.may_hold(term):
            return {}
        held.append((weight, {name: _frequencies(reader, name, term) for name in weight.fields
                              if (name, term) in reader}))
    docs = set.intersection(*(set().union(*per_field.values()) for _, per_field in held))
    scores = dict.fromkeys(docs, 0.0)
    for weight, per_field in held:
        tfs = dict.fromkeys(docs, 0.0)
        for name, frequencies in per_field.items():
            (boost, average), lengths = weight.fields[name], view.lengths[name]
            slope, flat = B / average, 1 - B
            for docnum in docs.intersection(frequencies):
                tfs[docnum] += boost * frequencies[docnum] / (flat + slope * lengths[docnum])
        scale = weight.idf * (K1 + 1)
        for docnum, tf in tfs.items():
            scores[docnum] += scale * tf / (tf + K1)
    return scores


def _frequencies(reader, name, term):
    frequencies = {}
    for ids, block in _blocks(reader.postings(name, term)):
        frequencies.update(zip(ids, block))
    return frequencies


def _add_field(totals, reader, view, term, name, boost, average, idf=None):
    """Add a term's weighted, length-normalised frequencies in one field to totals (saturated
    with idf when one is given)."""
    lengths, slope, flat, k1 = view.lengths[name], B / average, 1 - B, K1  # locals: the loop runs per posting
    blocks = _blocks(reader.postings(name, term))
    if idf is None:
        for ids, frequencies in blocks:
            for docnum, tf in zip(ids, frequencies):
                totals[docnum] += boost * tf / (flat + slope * lengths[docnum])
        return
    scale = idf * (k1 + 1)
    for ids, frequencies in blocks:
        for docnum, tf in zip(ids, frequencies):
            tf = boost * tf / (flat + slope * lengths[docnum])
            totals[docnum] += scale * tf / (tf + k1)


def _add_last_field(totals, partial, reader, view, term, name, boost, average, idf):
    """Saturate a term held in several fields: `partial` has its weighted frequencies in the other
    fields, taken out as the last field's documents come; those left hold it in the others only.
    One pass over the longest list, where summing every field into a dict first took two."""
    lengths, slope, flat = view.lengths[name], B / average, 1 - B
    take = partial.pop
    for ids, frequencies in _blocks(reader.postings(name, term)):
        for docnum, tf in zip(ids, frequencies):
            tf = take(docnum, 0.0) + boost * tf / (flat + slope * lengths[docnum])
            totals[docnum] += idf * tf * (K1 + 1) / (tf + K1)
    for docnum, tf in partial.items():
        totals[docnum] += idf * tf * (K1 + 1) / (tf + K1)


def _blocks(matcher):
    """(ids, frequencies) a block at a time; deletions are left to the caller. The block is decoded
    here at C speed: Whoosh's own decoding runs a Python generator step per posting (a sixth of a
    search with long posting lists)."""
    if isinstance(matcher, FilterMatcher):
        matcher = matcher.child
    while matcher.is_active():
        if matcher._data is None:  # noqa: SLF001 — reading whole blocks is what makes this fast
            matcher._read_data()  # noqa: SLF001
        ids, frequencies = matcher._data[:2]  # noqa: SLF001
        if frequencies is None or isinstance(frequencies, float):  # one frequency for the whole block
            frequencies = repeat(frequencies or 1.0)
        yield (ids if matcher._byteids else accumulate(ids)), frequencies  # noqa: SLF001 — ids are deltas
        matcher._next_block()  # noqa: SLF001


def _filtered_docs(reader, filters):
    """Documents holding the first filter's value, scored 0 (the others are checked on the cards)."""
    name, value = next(iter(filters.items()))
    if (name, value) not in reader:
        return {}
    return {docnum: 0.0 for ids, _ in _blocks(reader.postings(name, value)) for docnum in ids}


def _passes(facets, filters):
    for name, value in filters.items():
        have = getattr(facets, name)
        if (value != have) if name == "kind" else (value not in have):
            return False
    return True


def _sorted_counts(counts, name):
    values = [(value, n) for (facet, value), n in counts.items() if facet == name and value]
    return sorted(values, key=lambda item: (-item[1], item[0]))


SORT_KEYS = {
    "relevance": lambda score, updated, helpful: (-score, -updated),
    "newest": lambda score, updated, helpful: (-updated, -score),
    "helpful": lambda score, updated, helpful: (-helpful, -score, -updated),
}


def _best_docnums(found, scores, view, sort, count):
    """The segment's first `count` documents in the requested order."""
    if sort == "relevance":
        return heapq.nlargest(count, found, key=scores.__getitem__)
    order = SORT_KEYS[sort]
    return heapq.nsmallest(count, found, key=lambda d: order(scores[d], view.updated[d], view.helpful[d]))


def _best(hits, sort, count):
    order = SORT_KEYS[sort]
    return heapq.nsmallest(count, hits, key=lambda hit: order(hit.score, hit.updated, hit.helpful))
