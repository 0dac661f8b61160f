"""Load run at the scale of DESIGN §10 under gunicorn, beside a bare Flask page in the same run.

    make bench-load
    .venv/bin/python bench/load.py [--folder DIR] [--workers 4] [--concurrency 8] [--seconds 30] [--rounds 3]
    .venv/bin/python bench/load.py --entries 2000 --users 200 --ledger 20000 --seconds 5   # a quick look

1. An instance in --folder (kept and reused: seeding and indexing take ~4 minutes) gets
   `flask seed-scale` (100,000 adopted entries, 10,000 users in 50 teams, 1,000,000 ledger rows,
   the search index), then one signed-in account per client with drafts of its own, pending
   entries for the reviewers to adopt, and a password. Then `flask pages warm` keeps the shared
   page of every adopted entry for the clients' two role sets (once per SHARED_PAGE_MAX_AGE: about
   7 minutes per role set at 100,000 entries; a later run renders only what is stale), as a wiki
   read all day has them; --cold clears them instead.
2. gunicorn serves kmwiki (--workers sync workers on 127.0.0.1), and beside it bench/bare_app.py
   with the same settings: a template page of the size of kmwiki's entry page, no database.
3. Phases, each at --concurrency requests in flight (bench/loadclient.py):
   a 10-s warm-up of the mixed run · entry pages only and the bare page, in --rounds alternating
   turns (so a drift in the machine's speed touches both alike) · the mixed run (entry views,
   searches, leaderboards, edits of the clients' drafts, adoptions by reviewers), also in turns
   with the bare page, whose speed there gives the estimate at the reference machine's speed.
   The warm-up's throughput is not a result, but its 5xx and writes are checked like the others'.
   The clients sign in once, before the phases.
4. Printed: throughput, p50/p95/p99 per kind, 5xx and failed answers, the entry page's throughput
   as a share of the bare page's, each worker's resident memory (largest seen, sampled twice a
   second), then the check that no acknowledged write was lost: every saved edit is a revision
   of its entry (found by its change note), every adoption is adopted with its points, and
   `flask search-check` finds the index in step with the database.

DESIGN §10 targets: entry page p95 < 50 ms and ≥ 40% of the bare page's throughput; search p95 <
100 ms; leaderboard p95 < 50 ms; adoption p95 < 200 ms; a server process under 200 MB resident.
"""
import argparse
import dataclasses
import json
import multiprocessing
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import loadclient  # noqa: E402  (bench/ is on the path above)
from loadclient import Account, Session, Workload  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
PASSWORD = "load-bench-password"
MIX = {"view": 60, "search": 15, "leaderboard": 15, "edit": 8, "adopt": 2}
REVIEWER_SHARE = 4  # every fourth client is a reviewer (and adopts); the others are agents
CLIENT_ROLES = ("agent", "agent,reviewer")  # load_accounts.py
TARGETS = {"view": 50, "search": 100, "leaderboard": 50, "adopt": 200}  # p95 ms, DESIGN §10
# DESIGN §10's reference machine: the bare page of this size serves about 3,000 req/s. This machine's
# speed drifts by a factor of two between days (bench/README.md), and every latency with it.
REFERENCE_BARE_RATE = 3000


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, help="instance to create or reuse (default: in the temp folder)")
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--ledger", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers, for kmwiki and the bare page")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight (client processes)")
    parser.add_argument("--seconds", type=float, default=30, help="length of each measured phase")
    parser.add_argument("--rounds", type=int, default=3,
                        help="turns the entry-page and bare-page phases are measured in, alternating")
    parser.add_argument("--warmup", type=float, default=10, help="mixed load before measuring, not counted")
    parser.add_argument("--drafts", type=int, default=20, help="drafts per agent client, edited in the run")
    parser.add_argument("--cold", action="store_true",
                        help="clear the kept entry pages instead of warming them (`flask pages warm`) first")
    parser.add_argument("--database-url", help="SQLAlchemy URL instead of SQLite in the folder (e.g. PostgreSQL)")
    return parser.parse_args()


def main():
    args = parse_args()
    folder = args.folder or Path(tempfile.gettempdir()) / f"kmwiki-load-{args.entries}"
    env = server_env(folder, args.database_url)
    prepare(folder, env, args)
    accounts = json.loads((folder / "accounts.json").read_text())
    with Server(["-c", "python:kmwiki.serving", "wsgi:app"], env, args.workers, cwd=ROOT) as kmwiki:
        loadclient.sign_in_once(kmwiki.port, accounts, PASSWORD)
        page_bytes = entry_page_bytes(kmwiki.port, accounts)
        bare_env = dict(os.environ, BARE_PAGE_BYTES=str(page_bytes))
        with Server(["bare_app:app"], bare_env, args.workers, cwd=ROOT / "bench") as bare:
            workload = make_workload(kmwiki.port, args)
            bare_workload = Workload(port=bare.port, password=PASSWORD, entry_ids=[0], questions=[""], mix={},
                                     seconds=args.seconds)
            warmup = run_phase(workload, accounts, args.warmup, MIX)  # fill caches, open the index in every worker
            run_phase(bare_workload, accounts, 3, {"bare": 1})
            with MemoryWatch(bare.process.pid) as bare_memory:
                entry_rounds, bare_rounds = alternate(workload, {"view": 1}, bare_workload, accounts, args)
                with MemoryWatch(kmwiki.process.pid) as kmwiki_memory:
                    mixed_rounds, mixed_bare_rounds = alternate(workload, MIX, bare_workload, accounts, args)
    mixed = combined(mixed_rounds)
    report(args, page_bytes, (bare_rounds, mixed_bare_rounds), warmup, entry_rounds, mixed_rounds, kmwiki_memory,
           bare_memory)
    kept = writes_kept(env, warmup["writes"] + mixed["writes"])  # the warm-up's writes count too
    sys.exit(0 if kept and not any(phase["server_errors"] for phase in (warmup, *entry_rounds, mixed)) else 1)


def alternate(workload, mix, bare_workload, accounts, args):
    """A kmwiki phase and the bare page in turns, `--rounds` of each, `--seconds` in all for each: on
    a machine whose speed drifts from minute to minute, both are measured under the same drift."""
    share = args.seconds / args.rounds
    kmwiki_rounds, bare_rounds = [], []
    for _ in range(args.rounds):
        kmwiki_rounds.append(run_phase(workload, accounts, share, mix))
        bare_rounds.append(run_phase(bare_workload, accounts, share, {"bare": 1}))
    return kmwiki_rounds, bare_rounds


def combined(rounds):
    return {"samples": [s for phase in rounds for s in phase["samples"]], "seconds": sum(p["seconds"] for p in rounds),
            "errors": [e for phase in rounds for e in phase["errors"]],
            "writes": [w for phase in rounds for w in phase["writes"]],
            "server_errors": sum(phase["server_errors"] for phase in rounds)}


def rate(phase):
    return len(phase["samples"]) / phase["seconds"]


def server_env(folder, database_url):
    env = dict(os.environ, KMWIKI_INSTANCE_PATH=str(folder / "instance"),
               KMWIKI_LOGIN_RATE_LIMIT="100000 per minute", PYTHONPATH=str(ROOT))
    if database_url:
        env["KMWIKI_SQLALCHEMY_DATABASE_URI"] = database_url
    return env


def flask(env, *arguments, check=True):
    return subprocess.run([str(BIN / "flask"), "--app", "kmwiki", *arguments], env=env, cwd=ROOT, check=check)


def prepare(folder, env, args):
    """Seed the instance once (kept for the next run, migrated to the current schema each time),
    then make sure the client accounts exist."""
    folder.mkdir(parents=True, exist_ok=True)
    flask(env, "init-db")
    done = folder / "seeded"
    if not done.exists():
        flask(env, "seed-scale", "--entries", str(args.entries), "--users", str(args.users),
              "--ledger", str(args.ledger))
        done.write_text("ok\n")
    # Every run: drafts topped up, and fresh entries waiting for the reviewers to adopt.
    subprocess.run([sys.executable, str(ROOT / "bench" / "load_accounts.py"), str(folder / "accounts.json"),
                    str(args.concurrency), str(args.drafts), PASSWORD, str(REVIEWER_SHARE)],
                   env=env, cwd=ROOT, check=True)
    # A wiki read all day has its pages kept (bench/README.md); a 30-second phase alone never gets there.
    if args.cold:
        flask(env, "pages", "clear")
    else:
        flask(env, "pages", "warm", *[option for roles in CLIENT_ROLES for option in ("--roles", roles)])


def make_workload(port, args):
    with open(DATA / "baoxianzhidao_faq" / "queries.jsonl", encoding="utf-8") as lines:
        questions = [json.loads(line)["text"] for _, line in zip(range(500), lines)]
    first = 1  # seed-scale inserts the adopted entries first, with ids 1..entries
    return Workload(port=port, password=PASSWORD, entry_ids=list(range(first, first + args.entries)),
                    questions=questions, mix=MIX, seconds=args.seconds)


def entry_page_bytes(port, accounts):
    session = Session(port)
    session.sign_in(accounts[0]["username"], PASSWORD)
    sizes = [len(session.get(f"/entries/{n}").body) for n in range(1, 21)]
    return int(statistics.median(sizes))


def run_phase(workload, accounts, seconds, mix):
    """Run one client process per account for `seconds`; returns the samples and writes."""
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    phase = dataclasses.replace(workload, seconds=seconds, mix=mix)
    clients = [context.Process(target=loadclient.run_client, args=(phase, Account(**account), n, results))
               for n, account in enumerate(accounts)]
    started = time.perf_counter()
    for client in clients:
        client.start()
    gathered = [results.get(timeout=seconds + 300) for _ in clients]
    elapsed = time.perf_counter() - started
    for client in clients:
        client.join()
    samples = [s for part, _, _ in gathered for s in part]
    adopted = {entry_id for _, part, _ in gathered for kind, entry_id, _ in part if kind == "adopt"}
    for account in accounts:  # the next phase adopts other entries
        account["to_adopt"] = [e for e in account.get("to_adopt", []) if e not in adopted]
    return {"samples": samples, "writes": [w for _, part, _ in gathered for w in part],
            "errors": [e for _, _, part in gathered for e in part], "seconds": elapsed,
            "server_errors": sum(1 for s in samples if s[2] >= 500)}


class Server:
    """gunicorn with sync workers on a free port of 127.0.0.1, until the with block ends."""

    def __init__(self, app_spec, env, workers, cwd):
        self.port = free_port()
        self.command = [str(BIN / "gunicorn"), "--workers", str(workers), "--bind", f"127.0.0.1:{self.port}",
                        "--timeout", "60", "--log-level", "warning", *app_spec]
        self.env, self.cwd = env, cwd

    def __enter__(self):
        self.process = subprocess.Popen(self.command, env=self.env, cwd=self.cwd)
        deadline = time.monotonic() + 600  # the first start may build the search index
        while time.monotonic() < deadline:
            try:
                Session(self.port).get("/login")
                return self
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError(f"gunicorn exited with {self.process.returncode}")
                time.sleep(0.2)
        raise RuntimeError("gunicorn did not answer")

    def __exit__(self, *exc):
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=60)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class MemoryWatch:
    """The largest resident set of each worker of a gunicorn master, sampled while the block runs."""

    def __init__(self, master):
        self.master, self.peak, self._stop = master, defaultdict(int), threading.Event()

    def __enter__(self):
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _sample(self):
        while not self._stop.wait(0.5):
            for pid in worker_pids(self.master):
                self.peak[pid] = max(self.peak[pid], resident_mb(pid))


def worker_pids(master):
    try:
        return [int(p) for p in Path(f"/proc/{master}/task/{master}/children").read_text().split()]
    except OSError:
        return []


def resident_mb(pid):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def percentile(values, share):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def report(args, page_bytes, bare_turns, warmup, entry_rounds, mixed_rounds, kmwiki_memory, bare_memory):
    bare_rounds, mixed_bare_rounds = bare_turns
    bare, entry_only, mixed = combined(bare_rounds), combined(entry_rounds), combined(mixed_rounds)
    bare_rate, entry_rate = rate(bare), rate(entry_only)
    print(f"\nkmwiki load run: {args.entries:,} entries, {args.users:,} users, {args.ledger:,} ledger rows; "
          f"gunicorn {args.workers} sync workers; {args.concurrency} requests in flight; {args.seconds:.0f} s a phase"
          f" ({args.rounds} turns of entry pages and the bare page); "
          + ("no entry page kept beforehand (--cold)" if args.cold else "entry pages kept beforehand (flask pages warm)"))
    print(f"{'phase / kind':<24}{'requests':>9}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}"
          f"{'5xx':>6}{'failed':>8}{'target p95':>12}")
    rows = [("warm-up (mixed)", warmup), ("bare Flask page", bare), ("entry pages only", entry_only)]
    for label, phase in rows:
        print_row(label, phase["samples"], phase["seconds"])
    print_row("mixed run, all", mixed["samples"], mixed["seconds"])
    by_kind = defaultdict(list)
    for sample in mixed["samples"]:
        by_kind[sample[0]].append(sample)
    for kind in ("view", "search", "leaderboard", "edit form", "edit save", "review form", "adopt"):
        if by_kind[kind]:
            print_row(f"  {kind}", by_kind[kind], mixed["seconds"], TARGETS.get(kind))
    print(f"\nentry page {page_bytes:,} bytes; bare page of the same size. Entry pages: {entry_rate:,.0f} req/s = "
          f"{entry_rate / bare_rate:.0%} of the bare page's {bare_rate:,.0f} req/s (target ≥ 40%).")
    turns = ", ".join(f"{rate(e):,.0f}/{rate(b):,.0f} = {rate(e) / rate(b):.0%}" for e, b in zip(entry_rounds, bare_rounds))
    print(f"each turn, entry/bare req/s: {turns}")
    turns = ", ".join(f"{rate(m):,.0f}/{rate(b):,.0f}" for m, b in zip(mixed_rounds, mixed_bare_rounds))
    print(f"each turn of the mixed run, mixed/bare req/s: {turns}")
    speed = rate(combined(mixed_bare_rounds)) / REFERENCE_BARE_RATE
    scaled = ", ".join(f"{kind} {percentile([s[1] for s in by_kind[kind]], .95) * speed:.0f} (< {target})"
                       for kind, target in TARGETS.items() if by_kind[kind])
    print(f"machine speed: the bare page served {speed * REFERENCE_BARE_RATE:,.0f} req/s in the mixed run's turns, "
          f"{speed:.2f} of the reference machine's "
          f"~{REFERENCE_BARE_RATE:,} (DESIGN §10). An estimate, not a measurement: the mixed run's p95 at the "
          f"reference speed (measured × {speed:.2f}) would be {scaled} ms.")
    for label, memory in (("kmwiki", kmwiki_memory), ("bare", bare_memory)):
        peaks = ", ".join(f"{mb:.0f}" for mb in sorted(memory.peak.values()))
        print(f"resident memory per worker, {label}: {peaks} MB (largest seen; target < 200 MB)")
    for phase in (warmup, entry_only, mixed):
        for error in phase["errors"][:10]:
            print(f"client error: {error}")


def print_row(label, samples, seconds, target=None):
    latencies = [s[1] for s in samples]
    server_errors = sum(1 for s in samples if s[2] >= 500)
    failed = sum(1 for s in samples if not s[3])
    print(f"{label:<24}{len(samples):>9,}{len(samples) / seconds:>9.1f}{percentile(latencies, .5):>9.1f}"
          f"{percentile(latencies, .95):>9.1f}{percentile(latencies, .99):>9.1f}{server_errors:>6}{failed:>8}"
          f"{'< ' + str(target) if target else '':>12}")


def writes_kept(env, writes):
    """Whether every acknowledged write is in the database and the index in step (each check
    prints what it found)."""
    checked = subprocess.run([sys.executable, str(ROOT / "bench" / "load_accounts.py"), "--check"],
                             input=json.dumps(writes), text=True, env=env, cwd=ROOT)
    index = flask(env, "search-check", check=False)
    return checked.returncode == 0 and index.returncode == 0


if __name__ == "__main__":
    main()
