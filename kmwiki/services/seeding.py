"""Bulk seeding at the scale of DESIGN §10 for load runs and benchmarks: branches, teams, users,
adopted entries and a point ledger, written with multi-row INSERTs (COPY on PostgreSQL) instead of
the ORM. Only for an empty database; seeded users have no password and cannot sign in.
"""
import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import insert, text

from ..demo.data import ENTRIES
from ..extensions import db
from ..models import Branch, PointAward, Reason, Role, Team, User, UserRole
from . import bulk

CHUNK = 50_000
# (reason, share of rows, amount range): helpful votes dominate a real ledger, adoptions pay most.
MIX = [(Reason.HELPFUL, 0.50, (1, 1)), (Reason.REVIEW, 0.20, (2, 2)), (Reason.ENTRY_ADOPTED, 0.22, (7, 33)),
       (Reason.EDIT_ADOPTED, 0.05, (2, 8)), (Reason.RETRACTION, 0.03, (-33, -7))]


@dataclass
class Scale:
    """How much to seed (the defaults are DESIGN §10's)."""

    branches: int = 5
    teams: int = 50
    users: int = 10_000
    entries: int = 100_000
    ledger: int = 1_000_000
    days: int = 400  # the ledger spreads over this many days before `end`
    seed: int = 7


def seed(scale, end=None, progress=None):
    """Seed everything into the app's (empty) database; returns the moment the ledger ends."""
    end = end or datetime.now(timezone.utc)
    rng = random.Random(scale.seed)
    insert_people(*people(scale, rng))
    if scale.entries:
        bulk.insert_adopted_entries(entry_records(scale.entries, rng), author_id(scale),
                                    progress=progress and (lambda n: progress("entries", n)))
    insert_ledger(ledger(scale, rng, end), progress=progress and (lambda n: progress("ledger", n)))
    return end


def people(scale, rng):
    """Branches, teams, users (agents, one leader per team, every 50th also a reviewer; 3% inactive) and roles."""
    branches = [{"id": b + 1, "name": f"分公司{b + 1:02d}"} for b in range(scale.branches)]
    teams = [{"id": t + 1, "name": f"团队{t + 1:03d}", "branch_id": t % scale.branches + 1} for t in range(scale.teams)]
    created = datetime(2020, 1, 1, tzinfo=timezone.utc)
    accounts, roles = [], []
    for n in range(1, scale.users + 1):
        accounts.append({"id": n, "username": f"agent{n:05d}", "display_name": f"代理人{n:05d}", "password_hash": "!",
                         "team_id": (n - 1) % scale.teams + 1, "active": rng.random() > 0.03, "locale": None,
                         "auth_version": 1, "created_at": created})
        roles.append({"user_id": n, "role": Role.LEADER.value if n <= scale.teams else Role.AGENT.value})
        if n % 50 == 0:
            roles.append({"user_id": n, "role": Role.REVIEWER.value})
    return branches, teams, accounts, roles


def insert_people(branches, teams, accounts, roles):
    with db.engine.begin() as connection:
        connection.execute(insert(Branch), branches)
        connection.execute(insert(Team), teams)
        for start in range(0, len(accounts), CHUNK):
            connection.execute(insert(User), accounts[start:start + CHUNK])
        connection.execute(insert(UserRole), roles)
        if connection.dialect.name == "postgresql":  # explicit ids leave the sequences behind
            for table in ("branches", "teams", "users"):
                connection.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                        f"(SELECT max(id) FROM {table}))"))


def author_id(scale):
    return scale.teams + 1 if scale.users > scale.teams else 1  # the first agent who is not a leader


def entry_records(count, rng):
    """Adopted entries made from the demo entries, each with its own title and a varied body."""
    records = []
    for number in range(count):
        source = ENTRIES[number % len(ENTRIES)]
        records.append({"title": f"{source['title']}（{number + 1}）", "kind": source["kind"],
                        "body": f"{source['body']}\n\n案例编号 {number + 1}，第 {rng.randint(1, 12)} 季度整理。",
                        "products": source["products"], "segments": source["segments"], "tags": source["tags"]})
    return records


def ledger(scale, rng, end):
    """Ledger rows oldest first (ids follow time, as in a real append-only ledger).

    Contribution is skewed like real teams: a Pareto weight per user, so a few people earn most.
    """
    weights = [rng.paretovariate(1.3) for _ in range(scale.users)]
    user_ids = rng.choices(range(1, scale.users + 1), weights=weights, k=scale.ledger)
    reasons = rng.choices(range(len(MIX)), weights=[share for _, share, _ in MIX], k=scale.ledger)
    span = scale.days * 86400
    offsets = sorted((rng.random() * span for _ in range(scale.ledger)), reverse=True)
    for i in range(scale.ledger):
        reason, _, (low, high) = MIX[reasons[i]]
        yield (user_ids[i], rng.randint(low, high), reason.value, f"seed:{i}", None,
               end - timedelta(seconds=offsets[i]))


def insert_ledger(rows, progress=None):
    """Write ledger rows: COPY on PostgreSQL, executemany in chunks on SQLite; one transaction."""
    raw = db.engine.raw_connection()
    try:
        if db.engine.dialect.name == "postgresql":
            _copy_rows(raw, rows, progress)
        else:
            _insert_rows(raw, rows, progress)
        raw.commit()
    finally:
        raw.close()


def _insert_rows(raw, rows, progress):
    """SQLite: created_at formatted exactly as the model's column stores it."""
    stamp = PointAward.__table__.c.created_at.type.bind_processor(db.engine.dialect)
    cursor = raw.cursor()
    sql = "INSERT INTO point_awards (user_id, amount, reason, cause, entry_id, created_at) VALUES (?, ?, ?, ?, ?, ?)"
    chunk = []
    for row in rows:
        chunk.append((*row[:5], stamp(row[5])))
        if len(chunk) == CHUNK:
            cursor.executemany(sql, chunk)
            if progress:
                progress(len(chunk))
            chunk.clear()
    if chunk:
        cursor.executemany(sql, chunk)
        if progress:
            progress(len(chunk))


def _copy_rows(raw, rows, progress):
    cursor, done = raw.cursor(), 0
    with cursor.copy("COPY point_awards (user_id, amount, reason, cause, entry_id, created_at) FROM STDIN") as copy:
        for done, row in enumerate(rows, 1):
            copy.write_row(row)
            if progress and done % CHUNK == 0:
                progress(CHUNK)
    if progress and done % CHUNK:
        progress(done % CHUNK)
