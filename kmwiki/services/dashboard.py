"""The leadership dashboard (DESIGN §5): participation, non-contributors, activity over time,
coverage, review service level, top entries and reviewer calibration, each an SQL aggregate.
Their CSV export lives in services.exports."""
import itertools
import math
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone

from flask_babel import gettext as _
from sqlalchemy import Float, case, func, literal, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import selectinload
from sqlalchemy.sql.expression import FunctionElement

from ..extensions import db
from ..models import (Branch, Category, Decision, Entry, HelpfulVote, PointAward, Reason, Review, ReviewScore, Role,
                      Status, Team, User, UserRole, Vocabulary)
from ..models.base import utcnow
from ..models.entry import entry_categories
from . import periods, taxonomy
from .access import public_clause
from .periods import Period

ADOPTION_REASONS = (Reason.ENTRY_ADOPTED, Reason.EDIT_ADOPTED)
# A coverage cell with this many public entries or fewer is thin knowledge (zero is thinner still).
THIN_AT_MOST = 2
TOP_ENTRIES = 10
TIMELINE_WEEKS = 12
# "All time" draws one bar per month; beyond five years the bars get too thin to read.
MAX_MONTHS = 60
# A reviewer whose mean score is this far from the peers' is marked as lenient or strict.
CALIBRATION_GAP = 0.5
NON_CONTRIBUTORS_SHOWN = 100
# Spreadsheets run a cell starting with one of these as a formula (CSV injection, OWASP).


class SecondsBetween(FunctionElement):
    """Seconds from the second timestamp to the first, as a float, on SQLite and PostgreSQL."""

    type = Float()
    name = "seconds_between"
    inherit_cache = True


@compiles(SecondsBetween)
def _seconds_between_postgresql(element, compiler, **kw):
    later, earlier = (compiler.process(c, **kw) for c in element.clauses)
    return f"EXTRACT(EPOCH FROM ({later} - {earlier}))"


@compiles(SecondsBetween, "sqlite")
def _seconds_between_sqlite(element, compiler, **kw):
    later, earlier = (compiler.process(c, **kw) for c in element.clauses)
    return f"((julianday({later}) - julianday({earlier})) * 86400.0)"


# ---- the statistics -------------------------------------------------------------------------------

@dataclass
class TeamParticipation:
    """Agents of one team (or of no team) and how many of them had knowledge adopted."""

    branch: str | None
    team: str | None
    agents: int
    contributors: int

    @property
    def rate(self):
        return self.contributors / self.agents if self.agents else 0.0


@dataclass
class Participation:
    """Participation over all active agents, and per team."""

    agents: int
    contributors: int
    teams: list[TeamParticipation]

    @property
    def rate(self):
        return self.contributors / self.agents if self.agents else 0.0

    @property
    def non_contributors(self):
        return self.agents - self.contributors


def in_window(column, win):
    """Conditions keeping `column` inside a period window (none for all time)."""
    conditions = []
    if win.start is not None:
        conditions.append(column >= win.start)
    if win.end is not None:
        conditions.append(column < win.end)
    return conditions


def active_agent_clause():
    """Active users who hold the agent role (User joined with UserRole)."""
    return (UserRole.role == Role.AGENT, User.active.is_(True))


def adopted_in(win):
    """Correlated EXISTS: the user in the outer query was paid for an adopted entry or edit in the window."""
    # Per user, so it walks the (user_id, created_at) index instead of scanning the whole ledger.
    return (select(PointAward.id)
            .where(PointAward.user_id == User.id, PointAward.reason.in_(ADOPTION_REASONS), PointAward.amount > 0,
                   *in_window(PointAward.created_at, win))
            .exists())


def _no_name_last(column):
    # PostgreSQL sorts NULL last and SQLite first; say it explicitly so both agree.
    return case((column.is_(None), 1), else_=0)


def participation(win):
    """Share of active agents with at least one adoption award in the window, overall and per team."""
    rows = db.session.execute(
        select(Branch.name, Team.name, func.count(User.id), func.count(case((adopted_in(win), 1))))
        .select_from(User).join(UserRole, UserRole.user_id == User.id)
        .outerjoin(Team, User.team_id == Team.id).outerjoin(Branch, Team.branch_id == Branch.id)
        .where(*active_agent_clause())
        .group_by(Branch.id, Branch.name, Team.id, Team.name)
        .order_by(_no_name_last(Branch.name), Branch.name, _no_name_last(Team.name), Team.name)
    ).all()
    teams = [TeamParticipation(branch, team, agents, contributors) for branch, team, agents, contributors in rows]
    return Participation(sum(t.agents for t in teams), sum(t.contributors for t in teams), teams)


@dataclass
class NonContributor:
    """An active agent without an adoption in the period."""

    name: str
    username: str
    team: str | None
    branch: str | None


def non_contributors(win, limit=None):
    """Active agents without an adoption award in the window, by branch, team and name."""
    query = (select(User.display_name, User.username, Team.name, Branch.name)
             .join(UserRole, UserRole.user_id == User.id)
             .outerjoin(Team, User.team_id == Team.id).outerjoin(Branch, Team.branch_id == Branch.id)
             .where(*active_agent_clause(), ~adopted_in(win))
             .order_by(_no_name_last(Branch.name), Branch.name, _no_name_last(Team.name), Team.name,
                       User.display_name, User.id))
    if limit is not None:
        query = query.limit(limit)
    return [NonContributor(*row) for row in db.session.execute(query)]


@dataclass
class Bucket:
    """One bar of the timeline: a local week or month, [start, end)."""

    unit: str
    start: date
    end: date
    adopted: int = 0
    points: int = 0
    contributors: int = 0  # agents paid for adopted work in the bucket: participation over time

    @property
    def label(self):
        return self.start.strftime("%m-%d") if self.unit == "week" else self.start.strftime("%Y-%m")

    @property
    def last_day(self):
        return self.end - timedelta(days=1)


def _local_date(moment):
    return moment.astimezone(periods.zone()).date()


def _local_midnight_utc(day):
    return datetime.combine(day, time.min, tzinfo=periods.zone()).astimezone(timezone.utc)


def _add_months(day, months):
    years, month = divmod(day.month - 1 + months, 12)
    return date(day.year + years, month + 1, 1)


def _first_activity():
    """The earliest ledger row or adoption, or None on an empty wiki."""
    moments = [db.session.scalar(select(func.min(PointAward.created_at))),
               db.session.scalar(select(func.min(Entry.adopted_at)))]
    moments = [m for m in moments if m is not None]
    return min(moments) if moments else None


def bucket_bounds(period, now):
    """The unit and local start dates of the timeline's buckets (one more date closes the last)."""
    today = _local_date(now)
    period = Period(period)
    if period in (Period.WEEK, Period.MONTH):
        monday = today - timedelta(days=today.weekday())
        return "week", [monday - timedelta(weeks=k) for k in range(TIMELINE_WEEKS - 1, -2, -1)]
    this_month = today.replace(day=1)
    if period == Period.QUARTER:
        first, count = this_month.replace(month=(today.month - 1) // 3 * 3 + 1), 3
    elif period == Period.YEAR:
        first, count = this_month.replace(month=1), 12
    else:
        earliest = _first_activity()
        first = _local_date(earliest).replace(day=1) if earliest else this_month
        first = max(first, _add_months(this_month, 1 - MAX_MONTHS))
        count = (this_month.year - first.year) * 12 + this_month.month - first.month + 1
    return "month", [_add_months(first, k) for k in range(count + 1)]


def _bucket_index(column, edges, low, high):
    """A CASE giving the bucket of `column` within [edges[low], edges[high]) by bisection."""
    # Nested halves cost a handful of comparisons a row where a flat CASE over five years of months
    # costs dozens, and the "all time" timeline reads the whole ledger.
    if high - low == 1:
        return literal(low)
    middle = (low + high) // 2
    return case((column < edges[middle], _bucket_index(column, edges, low, middle)),
                else_=_bucket_index(column, edges, middle, high))


def _sum_by_bucket(column, value, edges, *conditions):
    """{bucket index: SUM(value)} for rows whose `column` falls between consecutive UTC `edges`."""
    # The bucket is computed in a subquery and grouped outside: PostgreSQL will not match a GROUP BY
    # expression to the SELECT one when both carry their own bound parameters.
    bucket = _bucket_index(column, edges, 0, len(edges) - 1).label("bucket")
    inner = (select(bucket, value.label("value"))
             .where(column >= edges[0], column < edges[-1], *conditions).subquery())
    rows = db.session.execute(select(inner.c.bucket, func.sum(inner.c.value)).group_by(inner.c.bucket))
    return {index: int(total or 0) for index, total in rows}


def _distinct_by_bucket(column, value, edges, *conditions):
    """{bucket index: COUNT(DISTINCT value)} for rows whose `column` falls between consecutive `edges`."""
    bucket = _bucket_index(column, edges, 0, len(edges) - 1).label("bucket")
    inner = (select(bucket, value.label("value"))
             .where(column >= edges[0], column < edges[-1], *conditions).subquery())
    rows = db.session.execute(select(inner.c.bucket, func.count(inner.c.value.distinct())).group_by(inner.c.bucket))
    return {index: int(total or 0) for index, total in rows}


def timeline(period, now):
    """Entries adopted and net points awarded per local week (last 12) or month of the period."""
    # An entry counts where it was first adopted, also when retracted later: the chart is a history,
    # while coverage shows what is public now.
    unit, starts = bucket_bounds(period, now)
    edges = [_local_midnight_utc(day) for day in starts]
    adopted = _sum_by_bucket(Entry.adopted_at, literal(1), edges)
    points = _sum_by_bucket(PointAward.created_at, PointAward.amount, edges)
    contributors = _distinct_by_bucket(PointAward.created_at, PointAward.user_id, edges,
                                       PointAward.reason.in_(ADOPTION_REASONS), PointAward.amount > 0)
    return [Bucket(unit, start, end, adopted.get(i, 0), points.get(i, 0), contributors.get(i, 0))
            for i, (start, end) in enumerate(zip(starts, starts[1:]))]


@dataclass
class Coverage:
    """Public entries counted by kind × one other vocabulary (product lines or segments)."""

    vocabulary: str
    kinds: list[Category]
    columns: list[Category]
    cells: dict = field(default_factory=dict)  # (kind id, column id) -> count
    kind_totals: dict = field(default_factory=dict)  # kind id -> public entries of that kind
    column_totals: dict = field(default_factory=dict)  # column id -> public entries classified so

    def count(self, kind, column):
        return self.cells.get((kind.id, column.id), 0)

    @property
    def total(self):
        return sum(self.kind_totals.values())

    def level(self, count):
        """A cell's shade in the heat map: "zero", "thin", or "1"–"3" for the thirds up to the fullest cell."""
        if count == 0:
            return "zero"
        if count <= THIN_AT_MOST:
            return "thin"
        fullest = max(self.cells.values(), default=count)
        return str(max(1, min(3, -(-3 * (count - THIN_AT_MOST) // max(fullest - THIN_AT_MOST, 1)))))


def coverage(vocabulary):
    """Public (adopted, not retracted) entries by kind × product line or × customer segment."""
    matrix = Coverage(vocabulary, taxonomy.categories(Vocabulary.KIND), taxonomy.categories(vocabulary))
    cells = db.session.execute(
        select(Entry.kind_id, entry_categories.c.category_id, func.count(Entry.id))
        .join(entry_categories, entry_categories.c.entry_id == Entry.id)
        .join(Category, Category.id == entry_categories.c.category_id)
        .where(public_clause(), Category.vocabulary == vocabulary)
        .group_by(Entry.kind_id, entry_categories.c.category_id))
    for kind_id, column_id, count in cells:
        matrix.cells[(kind_id, column_id)] = count
        matrix.column_totals[column_id] = matrix.column_totals.get(column_id, 0) + count
    matrix.kind_totals = dict(db.session.execute(
        select(Entry.kind_id, func.count(Entry.id)).where(public_clause()).group_by(Entry.kind_id)).all())
    return matrix


@dataclass
class ServiceLevel:
    """How quickly the review queue is worked."""

    queue_size: int
    oldest_submitted_at: datetime | None
    oldest_age: timedelta | None
    decisions: int
    median_seconds: float | None


def service_level(win, now):
    """Queue size, age of the oldest pending submission, median submission-to-decision time."""
    queue_size, oldest = db.session.execute(
        select(func.count(Entry.id), func.min(Entry.submitted_at)).where(Entry.status == Status.PENDING)).one()
    decided = in_window(Review.created_at, win)
    decisions = db.session.scalar(select(func.count(Review.id)).where(*decided))
    median = None
    if decisions:
        # The median is the middle row (or the mean of the middle two) of the durations sorted in SQL.
        seconds = SecondsBetween(Review.created_at, Review.submitted_at)
        middle = db.session.scalars(select(seconds).where(*decided).order_by(seconds)
                                    .offset((decisions - 1) // 2).limit(2 - decisions % 2)).all()
        median = sum(float(s) for s in middle) / len(middle)
    return ServiceLevel(queue_size, oldest, now - oldest if oldest else None, decisions, median)


@dataclass
class TopEntry:
    """A public entry with its helpful votes (in the period and in all) and views."""

    entry: Entry
    helpful: int | None  # in the period; None where the list is not about votes
    helpful_total: int

    @property
    def views(self):
        return self.entry.view_count


def _helpful_total():
    return (select(func.count()).where(HelpfulVote.entry_id == Entry.id)
            .correlate(Entry).scalar_subquery())


def _entry_options():
    return (selectinload(Entry.kind), selectinload(Entry.author))


def top_helpful(win, limit=TOP_ENTRIES):
    """Public entries with the most helpful votes cast in the window."""
    votes = (select(HelpfulVote.entry_id, func.count().label("votes"))
             .where(*in_window(HelpfulVote.created_at, win)).group_by(HelpfulVote.entry_id).subquery())
    rows = db.session.execute(
        select(Entry, votes.c.votes, _helpful_total()).join(votes, votes.c.entry_id == Entry.id)
        .where(public_clause()).options(*_entry_options())
        .order_by(votes.c.votes.desc(), Entry.view_count.desc(), Entry.id).limit(limit))
    return [TopEntry(entry, votes, total) for entry, votes, total in rows]


def top_viewed(limit=TOP_ENTRIES):
    """Public entries with the most views (views are counted for all time only)."""
    rows = db.session.execute(
        select(Entry, _helpful_total()).where(public_clause(), Entry.view_count > 0)
        .options(*_entry_options()).order_by(Entry.view_count.desc(), Entry.id).limit(limit))
    return [TopEntry(entry, None, total) for entry, total in rows]


@dataclass
class ReviewerStats:
    """One reviewer's grading in the period (or all reviewers pooled, the peer row)."""

    name: str
    reviews: int = 0
    scores: int = 0
    mean: float | None = None
    mean_of_squares: float | None = None
    adopt: int = 0
    revise: int = 0
    reject: int = 0
    delta: float | None = None  # mean minus the peers' mean

    @property
    def spread(self):
        """Population standard deviation of the individual criterion scores."""
        if self.mean is None:
            return None
        return math.sqrt(max(self.mean_of_squares - self.mean ** 2, 0.0))

    def share(self, decision):
        return getattr(self, decision) / self.reviews if self.reviews else 0.0

    @property
    def leaning(self):
        """"lenient" or "strict" when the mean is CALIBRATION_GAP or more from the peers'."""
        if self.delta is None or abs(self.delta) < CALIBRATION_GAP:
            return ""
        return "lenient" if self.delta > 0 else "strict"


@dataclass
class Calibration:
    """Every reviewer of the period, most generous first, and all of them pooled as the peers."""

    reviewers: list[ReviewerStats]
    peers: ReviewerStats


def calibration(win):
    """Each reviewer's review count, mean score, spread and decision mix in the window, beside peers'."""
    decided = in_window(Review.created_at, win)
    score = ReviewScore.score
    scored = {reviewer_id: (n, float(avg), float(avg_sq)) for reviewer_id, n, avg, avg_sq in db.session.execute(
        select(Review.reviewer_id, func.count(score), func.avg(score), func.avg(score * score))
        .join(ReviewScore, ReviewScore.review_id == Review.id).where(*decided).group_by(Review.reviewer_id))}
    mix = db.session.execute(
        select(Review.reviewer_id, User.display_name, func.count(Review.id),
               *(func.sum(case((Review.decision == d, 1), else_=0))
                 for d in (Decision.ADOPT, Decision.REVISE, Decision.REJECT)))
        .join(User, User.id == Review.reviewer_id).where(*decided)
        .group_by(Review.reviewer_id, User.display_name)).all()
    reviewers = []
    for reviewer_id, name, reviews, adopt, revise, reject in mix:
        n, avg, avg_sq = scored.get(reviewer_id, (0, None, None))
        reviewers.append(ReviewerStats(name, reviews, n, avg, avg_sq, int(adopt), int(revise), int(reject)))
    peers = _pooled(reviewers)
    for stats in reviewers:
        stats.delta = stats.mean - peers.mean if stats.mean is not None else None
    # Most generous first: the graders to look at are at the top.
    reviewers.sort(key=lambda s: (s.mean is None, -(s.mean or 0), s.name))
    return Calibration(reviewers, peers)


def _pooled(reviewers):
    """All reviewers as one: score moments weighted by how many scores each gave."""
    peers = ReviewerStats(_("All reviewers"))
    for counter in ("reviews", "scores", "adopt", "revise", "reject"):
        setattr(peers, counter, sum(getattr(s, counter) for s in reviewers))
    scored = [s for s in reviewers if s.scores]
    if scored:
        peers.mean = sum(s.mean * s.scores for s in scored) / peers.scores
        peers.mean_of_squares = sum(s.mean_of_squares * s.scores for s in scored) / peers.scores
        peers.delta = 0.0
    return peers


def totals(win):
    """Entries adopted and net points awarded in the window."""
    adopted = db.session.scalar(select(func.count(Entry.id)).where(
        Entry.adopted_at.is_not(None), *in_window(Entry.adopted_at, win)))
    points = db.session.scalar(select(func.coalesce(func.sum(PointAward.amount), 0))
                               .where(*in_window(PointAward.created_at, win)))
    return adopted, int(points)


@dataclass
class Report:
    """Everything the dashboard page shows for one period."""

    period: Period
    window: periods.Window
    first_day: date | None
    last_day: date | None
    adopted: int
    points: int
    participation: Participation
    non_contributors: list[NonContributor]
    timeline: list[Bucket]
    products: Coverage
    segments: Coverage
    service: ServiceLevel
    top_helpful: list[TopEntry]
    top_viewed: list[TopEntry]
    calibration: Calibration

    @property
    def non_contributor_teams(self):
        """The shown non-contributors as (branch, team, people), in their branch/team order."""
        grouped = itertools.groupby(self.non_contributors, key=lambda p: (p.branch, p.team))
        return [(branch, team, list(people)) for (branch, team), people in grouped]


def report(period, now=None):
    """The whole dashboard for a period containing `now`."""
    now = now or utcnow()
    win = periods.window(period, now)
    adopted, points = totals(win)
    return Report(
        period=win.period, window=win,
        first_day=_local_date(win.start) if win.start else None,
        last_day=_local_date(win.end) - timedelta(days=1) if win.end else None,
        adopted=adopted, points=points,
        participation=participation(win),
        non_contributors=non_contributors(win, limit=NON_CONTRIBUTORS_SHOWN),
        timeline=timeline(win.period, now),
        products=coverage(Vocabulary.PRODUCT), segments=coverage(Vocabulary.SEGMENT),
        service=service_level(win, now),
        top_helpful=top_helpful(win), top_viewed=top_viewed(),
        calibration=calibration(win),
    )
