"""Search quality and speed through kmwiki's own search path, beside a reference BM25 over jieba tokens.

    make bench-search                      # both retrieval sets, then latency at 100,000 entries
    .venv/bin/python bench/search_quality.py [--dataset NAME] [--queries 1000] [--seed 7] [--scale N]

For each retrieval set in ../shared/data (read at run time, never copied into the project), a fresh
kmwiki instance (temporary folder, SQLite) gets every document as an adopted entry, its search
index is built by the same `rebuild` as `flask --app kmwiki reindex`, and a fixed sample of the
set's questions is asked through `services.search.search` as a signed-in agent: the code path of
the search page and GET /api/v1/search (synonyms, visibility filter, facets, snippets included).
Printed: Recall@10, MRR@10 and nDCG@10 beside a plain BM25 (k1=1.2, b=0.75) over jieba.lcut tokens
of title + body computed in the same run, latency per question (p50 / p95 ms) and indexing speed.

`--scale N` then loads N entries (the sets' documents repeated, each copy its own entry) and
reports indexing speed and per-question latency at that size (DESIGN §10: p95 < 100 ms at 100,000).
See bench/README.md.
"""
import argparse
import heapq
import json
import logging
import math
import os
import random
import re
import sys
import tempfile
import time
from collections import Counter, defaultdict
from itertools import cycle, islice
from pathlib import Path

import jieba
from sqlalchemy import select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kmwiki import create_app  # noqa: E402  (the path above makes the checkout importable)
from kmwiki.extensions import db  # noqa: E402
from kmwiki.models import Role, User  # noqa: E402
from kmwiki.search import analysis, index  # noqa: E402
from kmwiki.services import bulk, defaults, search, users  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
DEFAULT_DATASETS = ("baoxianzhidao_faq", "insqabench_clause")
ALL_DATASETS = DEFAULT_DATASETS + ("toyhom_medical_qa",)
K = 10
K1, B = 1.2, 0.75
_WORDLIKE = re.compile(r"\w")
KIND = "product_knowledge"


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", action="append", choices=ALL_DATASETS + ("all",),
                        help=f"retrieval set (repeatable; default: {', '.join(DEFAULT_DATASETS)}; 'all' adds toyhom)")
    parser.add_argument("--queries", type=int, default=1000, help="questions sampled per set (0: all)")
    parser.add_argument("--seed", type=int, default=7, help="seed of the question sample")
    parser.add_argument("--data-dir", type=Path, default=DATA, help="folder holding the retrieval sets")
    parser.add_argument("--scale", type=int, default=0,
                        help="after the quality runs, time indexing and questions at this many entries (0: skip)")
    parser.add_argument("--scale-queries", type=int, default=500, help="questions asked in the scale run")
    parser.add_argument("--scale-folder", type=Path,
                        help="keep the scale run's instance here, and reuse it when it is already there")
    return parser.parse_args()


def load(data_dir, name):
    """Return (docs, queries) of one retrieval set as lists of dicts."""
    folder = data_dir / name
    with open(folder / "docs.jsonl", encoding="utf-8") as lines:
        docs = [json.loads(line) for line in lines if line.strip()]
    with open(folder / "queries.jsonl", encoding="utf-8") as lines:
        queries = [json.loads(line) for line in lines if line.strip()]
    return docs, queries


def bench_app(folder, fresh=True):
    """A kmwiki app on a SQLite database in folder; a fresh one gets the default data and two users."""
    os.environ["KMWIKI_INSTANCE_PATH"] = str(folder)
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder}/bench.db", "SECRET_KEY": "bench",
                      "SEARCH_INDEX_UPDATES": False, "RATELIMIT_ENABLED": False})
    if not fresh:
        return app
    with app.app_context():
        db.create_all()
        defaults.ensure_defaults()
        users.create_user("importer", "bench-password", [Role.AGENT])
        users.create_user("reader", "bench-password", [Role.AGENT])
        index.get_index()  # created empty now, so that only the timed rebuild below indexes the entries
    return app


def entry_record(doc, copy=0):
    """An adopted entry for a document: its title (or its id, for sets without titles) and text."""
    title = doc.get("title") or doc["id"]
    return {"title": (title if copy == 0 else f"{title} #{copy}")[:200], "body": doc["text"], "kind": KIND}


def load_entries(app, docs, count):
    """Insert count entries (docs repeated) and build the index; returns (doc id per entry id, seconds)."""
    records, doc_ids = [], []
    for number, doc in enumerate(islice(cycle(docs), count)):
        records.append(entry_record(doc, number // len(docs)))
        doc_ids.append(doc["id"])
    with app.app_context():
        author = db.session.scalar(select(User).where(User.username == "importer"))
        entry_ids = bulk.insert_adopted_entries(records, author.id, progress=_progress("loading entries", count))
        started = time.perf_counter()
        index.rebuild(index.get_index(), progress=_progress("indexing", count))
        seconds = time.perf_counter() - started
    print(file=sys.stderr)
    return dict(zip(entry_ids, doc_ids)), seconds


def _progress(label, total):
    done = 0

    def step(count):
        nonlocal done
        done += count
        print(f"\r  {label}: {done:,}/{total:,}", end="", file=sys.stderr, flush=True)
    return step


def ask(app, question):
    """kmwiki's own search for a question, as the agent "reader": the first page of results."""
    with app.test_request_context():
        reader = db.session.scalar(select(User).where(User.username == "reader"))
        return search.search(search.SearchRequest(text=question), reader)


def kmwiki_ranker(app, doc_of_entry):
    """rank(question): the doc ids of the first page of kmwiki's search."""
    return lambda question: [doc_of_entry[hit.id] for hit in ask(app, question).hits]


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


def run_quality(args, name):
    """Quality and latency on one retrieval set, kmwiki beside the reference."""
    docs, queries = load(args.data_dir, name)
    size = min(args.queries or len(queries), len(queries))
    sample = random.Random(args.seed).sample(queries, size)
    print(f"\n{name}: {len(docs)} docs, {size} of {len(queries)} questions (seed {args.seed})")
    with tempfile.TemporaryDirectory(prefix="kmwiki-search-bench-") as folder:
        app = bench_app(Path(folder))
        doc_of_entry, seconds = load_entries(app, docs, len(docs))
        result = evaluate(kmwiki_ranker(app, doc_of_entry), sample)
        size_mb = _index_mb(Path(folder))
    print(HEADER)
    _print_row(name, "kmwiki search", result)
    _print_row(name, "reference BM25 (jieba.lcut)", evaluate(reference_ranker(docs), sample))
    print(f"{'':<20} indexing {len(docs):,} entries: {len(docs) / seconds:,.0f} entries/s, index {size_mb:.1f} MB")


def run_scale(args, names):
    """Indexing speed and latency at args.scale entries built from every chosen set's documents."""
    docs, queries = [], []
    for name in names:
        more_docs, more_queries = load(args.data_dir, name)
        docs += more_docs
        queries += more_queries
    sample = random.Random(args.seed).sample(queries, min(args.scale_queries, len(queries)))
    print(f"\nscale: {args.scale:,} entries ({len(docs):,} documents repeated), {len(sample)} questions")
    with tempfile.TemporaryDirectory(prefix="kmwiki-search-scale-") as temporary:
        folder = args.scale_folder or Path(temporary)
        if (folder / "bench.db").exists():
            app = bench_app(folder, fresh=False)
            print("  reusing the instance in", folder)
        else:
            folder.mkdir(parents=True, exist_ok=True)
            app = bench_app(folder)
            _, seconds = load_entries(app, docs, args.scale)
            print(f"  reindex: {seconds:,.0f} s ({args.scale / seconds:,.0f} entries/s)")
        ask(app, sample[0]["text"])  # the first search of a process opens the index
        latencies = [_timed(ask, app, question["text"]) for question in sample]
        print(f"  index {_index_mb(folder):,.0f} MB")
    print(f"  search (services.search.search, facets and snippets included): "
          f"p50 {_percentile(latencies, 50):.1f} ms, p95 {_percentile(latencies, 95):.1f} ms, "
          f"max {max(latencies):.1f} ms")


def _timed(call, *args):
    started = time.perf_counter()
    call(*args)
    return (time.perf_counter() - started) * 1000


def _index_mb(folder):
    return sum(f.stat().st_size for f in (folder / "search_index").iterdir()) / 1e6


def main():
    args = parse_args()
    names = args.dataset or list(DEFAULT_DATASETS)
    if "all" in names:
        names = list(ALL_DATASETS)
    jieba.setLogLevel(logging.INFO)
    jieba.initialize()
    analysis.warm_up()
    print(f"Recall@{K} / MRR@{K} / nDCG@{K}; reference: BM25 k1={K1} b={B} over jieba.lcut tokens; "
          f"latency per question in ms")
    for name in names:
        run_quality(args, name)
    if args.scale:
        run_scale(args, names)


HEADER = f"{'dataset':<20} {'ranker':<28} {'R@10':>6} {'MRR@10':>7} {'nDCG@10':>8} {'p50':>7} {'p95':>7}"


def _print_row(name, label, result):
    """Print one line of the results table."""
    print(f"{name:<20} {label:<28} {result['recall']:>6.3f} {result['mrr']:>7.3f} {result['ndcg']:>8.3f} "
          f"{result['p50']:>7.1f} {result['p95']:>7.1f}")


if __name__ == "__main__":
    main()
