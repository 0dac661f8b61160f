"""Search quality benchmark: kmwiki's analyzer in a Whoosh index against a reference BM25 over jieba tokens.

    .venv/bin/python bench/search_quality.py [--dataset NAME] [--queries 1000] [--seed 7]

For each retrieval set in ../shared/data (read at run time, never copied), builds a Whoosh index in
a temporary folder with kmwiki.search.analysis.analyzer() (fields title, boosted, and body), runs a
fixed sample of its questions as OR queries of query_terms() scored with BM25F, and prints
Recall@10, MRR@10 and nDCG@10 beside a plain BM25 (k1=1.2, b=0.75) over jieba.lcut tokens computed
in the same run, plus indexing speed and per-query latency. Everything measured goes through one
`rank(question) -> [doc ids]` function (see `kmwiki_ranker`), so the app's real search path can be
put in its place. See bench/README.md.
"""
import argparse
import heapq
import json
import math
import random
import re
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import jieba
from whoosh import fields, index, query, scoring

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kmwiki.search import analysis  # noqa: E402  (the path above makes the checkout importable)

DATA = ROOT.parent / "shared" / "data"
DEFAULT_DATASETS = ("baoxianzhidao_faq", "insqabench_clause")
ALL_DATASETS = DEFAULT_DATASETS + ("toyhom_medical_qa",)
K = 10
K1, B = 1.2, 0.75
_WORDLIKE = re.compile(r"\w")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", action="append", choices=ALL_DATASETS + ("all",),
                        help=f"retrieval set (repeatable; default: {', '.join(DEFAULT_DATASETS)}; 'all' adds toyhom)")
    parser.add_argument("--queries", type=int, default=1000, help="questions sampled per set (0: all)")
    parser.add_argument("--seed", type=int, default=7, help="seed of the question sample")
    parser.add_argument("--data-dir", type=Path, default=DATA, help="folder holding the retrieval sets")
    parser.add_argument("--subwords", action="append", choices=analysis.SUBWORD_MODES,
                        help=f"sub-word mode(s) of the analyzer to compare (default: {analysis.DEFAULT_SUBWORDS})")
    parser.add_argument("--no-hmm", action="store_true", help="segment without jieba's HMM for unknown words")
    parser.add_argument("--title-boost", type=float, default=2.0, help="query-time boost of title matches")
    parser.add_argument("--procs", type=int, default=1, help="Whoosh writer processes")
    parser.add_argument("--repeat", type=int, default=1,
                        help="index every doc this many times (latency and indexing speed at a larger scale; "
                             "quality columns are then left out)")
    return parser.parse_args()


def load(data_dir, name):
    """Return (docs, queries) of one retrieval set as lists of dicts."""
    folder = data_dir / name
    with open(folder / "docs.jsonl", encoding="utf-8") as lines:
        docs = [json.loads(line) for line in lines if line.strip()]
    with open(folder / "queries.jsonl", encoding="utf-8") as lines:
        queries = [json.loads(line) for line in lines if line.strip()]
    return docs, queries


def kmwiki_ranker(docs, folder, subwords, hmm, title_boost, procs=1, repeat=1):
    """Index docs with kmwiki's analyzer in a Whoosh index; return (rank, indexing seconds)."""
    text_analyzer = analysis.analyzer(subwords=subwords, hmm=hmm)
    default = (subwords, hmm) == (analysis.DEFAULT_SUBWORDS, True)
    query_terms = analysis.query_terms if default else text_analyzer.terms
    schema = fields.Schema(id=fields.ID(stored=True, unique=True),
                           title=fields.TEXT(analyzer=text_analyzer, phrase=False),
                           body=fields.TEXT(analyzer=text_analyzer, phrase=False))
    analysis.warm_up()
    started = time.perf_counter()
    ix = index.create_in(str(folder), schema)
    writer = ix.writer(limitmb=256, procs=procs, multisegment=procs > 1)
    for copy in range(repeat):
        for doc in docs:
            doc_id = doc["id"] if copy == 0 else f"{doc['id']}#{copy}"
            writer.add_document(id=doc_id, title=doc.get("title") or "", body=doc["text"])
    writer.commit()
    seconds = time.perf_counter() - started
    searcher = ix.searcher(weighting=scoring.BM25F(B=B, K1=K1))

    def rank(question):
        """Return the ids of the top K docs for a typed question: an OR of its terms over title and body."""
        terms = query_terms(question)
        if not terms:
            return []
        clauses = [query.Term("title", term, boost=title_boost) for term in terms]
        clauses += [query.Term("body", term) for term in terms]
        return [hit["id"] for hit in searcher.search(query.Or(clauses), limit=K)]

    return rank, seconds


def reference_ranker(docs):
    """Plain BM25 (k1=1.2, b=0.75) over jieba.lcut tokens of title + body; return rank."""
    postings = defaultdict(list)
    lengths = []
    for number, doc in enumerate(docs):
        tokens = _reference_tokens(f"{doc.get('title') or ''} {doc['text']}")
        lengths.append(len(tokens))
        for term, tf in Counter(tokens).items():
            postings[term].append((number, tf))
    count, average = len(docs), sum(lengths) / len(docs)
    norms = [K1 * (1 - B + B * length / average) for length in lengths]

    def rank(question):
        """Return the ids of the top K docs by BM25 over the question's distinct jieba tokens."""
        scores = defaultdict(float)
        for term in set(_reference_tokens(question)):
            hits = postings.get(term)
            if not hits:
                continue
            idf = math.log(1 + (count - len(hits) + 0.5) / (len(hits) + 0.5))
            for number, tf in hits:
                scores[number] += idf * tf * (K1 + 1) / (tf + norms[number])
        best = heapq.nsmallest(K, scores.items(), key=lambda item: (-item[1], item[0]))
        return [docs[number]["id"] for number, _ in best]

    return rank


def _reference_tokens(text):
    """jieba.lcut with its global dictionary; punctuation and spaces dropped, letters lower-cased."""
    return [token.lower() for token in jieba.lcut(text) if _WORDLIKE.search(token)]


def evaluate(rank, sample):
    """Run every question of the sample through rank; return metrics and latencies in ms."""
    recall = mrr = ndcg = 0.0
    latencies = []
    for question in sample:
        started = time.perf_counter()
        ranked = rank(question["text"])[:K]
        latencies.append((time.perf_counter() - started) * 1000)
        relevant = set(question["relevant"])
        found = [i for i, doc_id in enumerate(ranked) if doc_id in relevant]
        recall += len(found) / len(relevant)
        mrr += 1 / (found[0] + 1) if found else 0.0
        ideal = sum(1 / math.log2(i + 2) for i in range(min(len(relevant), K)))
        ndcg += sum(1 / math.log2(i + 2) for i in found) / ideal
    n = len(sample)
    return {"recall": recall / n, "mrr": mrr / n, "ndcg": ndcg / n,
            "p50": _percentile(latencies, 50), "p95": _percentile(latencies, 95)}


def _percentile(values, pct):
    """Return the pct-th percentile (nearest rank) of values."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def analysis_speed(docs, subwords, hmm):
    """Return docs/s of the analyzer alone (segmentation and sub-words, no index)."""
    tokenizer = analysis.analyzer(subwords=subwords, hmm=hmm)
    started = time.perf_counter()
    for doc in docs:
        for _ in tokenizer.tokens(doc.get("title") or ""):
            pass
        for _ in tokenizer.tokens(doc["text"]):
            pass
    return len(docs) / (time.perf_counter() - started)


def main():
    args = parse_args()
    names = args.dataset or list(DEFAULT_DATASETS)
    if "all" in names:
        names = list(ALL_DATASETS)
    modes = args.subwords or [analysis.DEFAULT_SUBWORDS]
    hmm = not args.no_hmm
    jieba.setLogLevel("INFO")
    jieba.initialize()
    analysis.warm_up()
    print(f"Recall@{K} / MRR@{K} / nDCG@{K}, OR queries, BM25 k1={K1} b={B}, title boost {args.title_boost}, "
          f"jieba HMM {'on' if hmm else 'off'}; latency per query in ms (analysis + search)")
    header = f"{'dataset':<20} {'ranker':<28} {'R@10':>6} {'MRR@10':>7} {'nDCG@10':>8} {'p50':>7} {'p95':>7}"
    for name in names:
        docs, queries = load(args.data_dir, name)
        size = min(args.queries or len(queries), len(queries))
        sample = random.Random(args.seed).sample(queries, size)
        print(f"\n{name}: {len(docs)} docs x{args.repeat}, {size} of {len(queries)} questions (seed {args.seed})")
        print(header)
        for mode in modes:
            with tempfile.TemporaryDirectory(prefix="kmwiki-search-bench-") as folder:
                rank, seconds = kmwiki_ranker(docs, Path(folder), mode, hmm, args.title_boost,
                                              procs=args.procs, repeat=args.repeat)
                result = evaluate(rank, sample)
                size_mb = sum(f.stat().st_size for f in Path(folder).iterdir()) / 1e6
            _print_row(name, f"kmwiki ({mode})", result, args.repeat == 1)
            indexed = len(docs) * args.repeat
            print(f"{'':<20}   indexing {indexed} docs: {indexed / seconds:,.0f} docs/s with {args.procs} "
                  f"writer process(es) (analysis alone {analysis_speed(docs, mode, hmm):,.0f} docs/s), "
                  f"index {size_mb:.1f} MB")
        if args.repeat == 1:
            _print_row(name, "reference BM25 (jieba.lcut)", evaluate(reference_ranker(docs), sample), True)


def _print_row(name, label, result, quality):
    """Print one line of the results table."""
    if quality:
        scores = f"{result['recall']:>6.3f} {result['mrr']:>7.3f} {result['ndcg']:>8.3f}"
    else:
        scores = f"{'-':>6} {'-':>7} {'-':>8}"
    print(f"{name:<20} {label:<28} {scores} {result['p50']:>7.1f} {result['p95']:>7.1f}")


if __name__ == "__main__":
    main()
