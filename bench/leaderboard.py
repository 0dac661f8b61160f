"""Leaderboard benchmark: seed a large ledger, then time rankings.leaderboard() and standing().

    .venv/bin/python bench/leaderboard.py [--rows 1000000] [--postgres URL] [--runs 30]

Builds a fresh SQLite database in a temporary folder (and, with --postgres, a fresh schema in that
database, dropped afterwards), creates the schema through the app (db.create_all), bulk-seeds users,
teams, branches and ledger rows, and prints p50/p95 milliseconds per board. See bench/README.md.
"""
import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kmwiki import create_app  # noqa: E402  (the path above makes the checkout importable)
from kmwiki.extensions import db  # noqa: E402
from kmwiki.models import Role, Team, User  # noqa: E402
from kmwiki.services import ledger_sums, periods, rankings, seeding, users  # noqa: E402
from kmwiki.services.periods import Period  # noqa: E402

PASSWORD = "bench-password"
LIMIT = 100  # what the page and the API show by default


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="ledger rows to seed")
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--teams", type=int, default=50)
    parser.add_argument("--branches", type=int, default=5)
    parser.add_argument("--days", type=int, default=400, help="the rows spread over this many days before --now")
    parser.add_argument("--runs", type=int, default=30, help="timed warm runs per board")
    parser.add_argument("--cold-runs", type=int, default=5, help="timed runs per period with an empty cache")
    parser.add_argument("--now", default=None,
                        help="ISO time the ledger ends and the boards are drawn at; the rankings clock is set to it "
                             "(default: 30 Dec this year, 12:00 Asia/Shanghai, so the year board covers ~91%% of "
                             "the rows: its worst case)")
    parser.add_argument("--postgres", metavar="URL", help="also run on a fresh schema in this PostgreSQL database")
    parser.add_argument("--no-sqlite", action="store_true", help="only run on PostgreSQL")
    parser.add_argument("--ddl", action="append", default=[],
                        help="SQL to run after seeding, e.g. an index to try (repeatable)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true",
                        help="keep the SQLite file and the PostgreSQL schema for inspection (paths are printed)")
    return parser.parse_args()


def progress(label, done, total):
    sys.stderr.write(f"\r  {label}: {done:,}/{total:,} ({100 * done // max(total, 1)}%)")
    if done >= total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def anchor(args):
    """The moment the boards are drawn at; the ledger ends there."""
    if args.now:
        moment = datetime.fromisoformat(args.now)
        return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    year = datetime.now(timezone.utc).year
    return datetime(year, 12, 30, 12, tzinfo=ZoneInfo("Asia/Shanghai")).astimezone(timezone.utc)


def seed(app, args, dialect):
    """Create the schema and bulk-load people and ledger into the app's database."""
    rng = random.Random(args.seed)
    end = anchor(args)
    with app.app_context():
        db.create_all()
        scale = seeding.Scale(branches=args.branches, teams=args.teams, users=args.users, entries=0,
                              ledger=args.rows, days=args.days, seed=args.seed)
        seeding.insert_people(*seeding.people(scale, rng))
        started = time.perf_counter()
        done = 0

        def step(count):
            nonlocal done
            done += count
            progress("ledger", done, args.rows)
        seeding.insert_ledger(seeding.ledger(scale, rng, end), progress=step)
        print(f"  seeded {args.rows:,} ledger rows in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        with db.engine.begin() as connection:
            for statement in args.ddl:
                connection.execute(text(statement))
        analyze(dialect)
    return end


def analyze(dialect):
    """Fresh statistics, and on PostgreSQL a visibility map so index-only scans are possible."""
    if dialect == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE"))
    else:
        with db.engine.begin() as connection:
            connection.execute(text("ANALYZE"))


def timed(call, runs, cold=False, request=False):
    """p50 and p95 in milliseconds of `runs` calls.

    Warm runs follow two untimed calls; cold runs each start with the rankings cache emptied, as the
    first request of a process (or of a new week, month …) does. Service calls get a fresh session
    each; a `request` (through the test client) has its own app context and session anyway.
    """
    samples = []
    for n in range(runs + (0 if cold else 2)):
        if cold:
            current_app.extensions.pop(ledger_sums.CACHE_KEY, None)
        started = time.perf_counter()
        call()
        elapsed = (time.perf_counter() - started) * 1000
        if not request:
            db.session.remove()
        if cold or n >= 2:
            samples.append(elapsed)
    samples.sort()
    return statistics.median(samples), samples[max(0, round(0.95 * len(samples)) - 1)]


def measure(app, args, end):
    """Time every board and a user's standing warm, the first (cold) board of each period, and the pages."""
    results = []
    total = 7 * len(Period) + 1
    with app.app_context():
        someone = db.session.get(User, args.teams + 1)
        for scope in rankings.Scope:
            for period in Period:
                p50, p95 = timed(lambda: rankings.leaderboard(scope, period, now=end, limit=LIMIT), args.runs)
                results.append((f"leaderboard {scope}", period, p50, p95))
                progress("timing", len(results), total)
        for period in Period:
            p50, p95 = timed(lambda: rankings.standing(someone, period, now=end), args.runs)
            results.append(("standing (one user)", period, p50, p95))
            progress("timing", len(results), total)
        for period in Period:
            p50, p95 = timed(lambda: rankings.leaderboard(rankings.Scope.USER, period, now=end, limit=LIMIT),
                             args.cold_runs, cold=True)
            results.append(("cold: first user board", period, p50, p95))
            progress("timing", len(results), total)
        users.create_user("bench.leader", PASSWORD, [Role.LEADER, Role.AGENT], team=db.session.get(Team, 1))
    # Outside any app context, so that every request pushes its own, as it does when served.
    client = app.test_client()
    assert client.post("/login", data={"username": "bench.leader", "password": PASSWORD}).status_code == 302
    for scope in rankings.Scope:
        for period in Period:
            url = f"/leaderboard?scope={scope}&period={period}"
            assert client.get(url).status_code == 200, url
            p50, p95 = timed(lambda: client.get(url), args.runs, request=True)
            results.append((f"page: {scope} board", period, p50, p95))
            progress("timing", len(results), total)
    assert client.get("/me/points").status_code == 200
    p50, p95 = timed(lambda: client.get("/me/points"), args.runs, request=True)
    results.append(("page: /me/points", Period.ALL, p50, p95))
    progress("timing", len(results), total)
    return results


def report(name, args, results):
    print(f"\n{name}: {args.rows:,} ledger rows, {args.users:,} users, {args.teams} teams, {args.branches} branches; "
          f"warm rows {args.runs} runs, cold rows {args.cold_runs} runs; p50 / p95 ms")
    print(f"{'':24}" + "".join(f"{p.value:>16}" for p in Period))
    for label in dict.fromkeys(r[0] for r in results):
        cells = {r[1]: r for r in results if r[0] == label}
        print(f"{label:24}" + "".join(f"{cells[p][2]:>7.1f} / {cells[p][3]:<6.1f}" if p in cells else f"{'—':>16}"
                                      for p in Period))
    slowest = max(r[3] for r in results if not r[0].startswith("cold"))
    print(f"slowest warm p95 (service and pages): {slowest:.1f} ms (target: leaderboard p95 < 50 ms)")


def run(name, url, args):
    print(f"{name}: seeding …", file=sys.stderr)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "WTF_CSRF_ENABLED": False,
                      "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"})
    end = seed(app, args, "postgresql" if url.startswith("postgresql") else "sqlite")
    # The pages and the settled horizon follow the pretend clock, as they would at that moment.
    periods.utcnow = ledger_sums.utcnow = lambda: end
    report(name, args, measure(app, args, end))
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def main():
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="kmwiki-bench-") as scratch:
        folder = tempfile.mkdtemp(prefix="kmwiki-bench-") if args.keep else scratch
        os.environ["KMWIKI_INSTANCE_PATH"] = str(Path(folder) / "instance")
        if not args.no_sqlite:
            run("SQLite", f"sqlite:///{Path(folder) / 'bench.db'}", args)
        if args.postgres:
            schema = f"kmwiki_bench_{os.getpid()}"
            admin = create_engine(args.postgres)
            with admin.begin() as connection:
                connection.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
                connection.execute(text(f"CREATE SCHEMA {schema}"))
            try:
                separator = "&" if "?" in args.postgres else "?"
                run("PostgreSQL", f"{args.postgres}{separator}options=-csearch_path%3D{schema}", args)
            finally:
                if not args.keep:
                    with admin.begin() as connection:
                        connection.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
                admin.dispose()
        if args.keep:
            print(f"kept: {folder}/bench.db" + (f" and schema {schema}" if args.postgres else ""), file=sys.stderr)


if __name__ == "__main__":
    main()
