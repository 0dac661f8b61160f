"""Per-user sums of the points ledger over a calendar window, kept fast at a million rows.

A year of a 1,000,000-row ledger takes 0.2–2 s to sum with GROUP BY, far above the 50 ms target
(DESIGN §10), and almost all of it is history that can no longer change. So each window's per-user
sums over its settled past (rows older than SETTLE_MARGIN) are kept per process, rolled forward hour
by hour, and only the rows since are summed on each request. The ledger is append-only, so "rows
since" is exact: rows created after the horizon, plus rows inserted after the sums were taken (a
larger id) even when backdated.
"""
from bisect import bisect_left, insort
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import cached_property
from itertools import takewhile

from flask import current_app, has_request_context, request
from sqlalchemy import and_, bindparam, case, func, or_, select, true

from ..database import hot_rows
from ..extensions import db
from ..models import PointAward, Reason
from ..models.base import utcnow

ADOPTION_REASONS = (Reason.ENTRY_ADOPTED.value, Reason.EDIT_ADOPTED.value)
# A ledger row older than this is settled: no request transaction stays open that long, so no row
# with an older created_at can still be on its way in (only a hand-run backfill, see _settled).
SETTLE_MARGIN = timedelta(minutes=15)
# How far the settled horizon moves at a time; the live part of a query spans at most this plus the margin.
SETTLE_STEP = timedelta(hours=1)
CACHE_KEY = "kmwiki.rankings"
REQUEST_SUMS = "kmwiki.ledger_sums"  # in the WSGI environ of a request
CACHED_WINDOWS = 32
EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)
# The open end of "all time". A range with two bounds also steers SQLite (which has no range
# statistics) to the created_at index instead of skipping through the per-user index.
END_OF_TIME = datetime.max.replace(tzinfo=timezone.utc)
START_OF_TIME = datetime.min.replace(tzinfo=timezone.utc)  # the open start, where a bound is needed


class _Sums:
    """Per-user points and adoption counts; plain int dicts, which the garbage collector never scans."""

    def __init__(self, points=None, adopted=None, ranked=None):
        self.points = points if points is not None else {}
        self.adopted = adopted if adopted is not None else {}
        self._ranked = ranked
        self._most_first = None

    def ranked(self):
        """Everyone's non-zero points, ascending (plain ints: no garbage to collect): what ranks are
        counted in. Sorted once per settled window; a request moves only the users its recent rows
        touch (sorting 10,000 sums on every board cost more than the rest of its numbers)."""
        if self._ranked is None:
            self._ranked = sorted(value for value in self.points.values() if value)
        return self._ranked

    def copy(self):
        """An independent copy, to roll forward."""
        return _Sums(dict(self.points), dict(self.adopted), list(self.ranked()))

    def at_least(self, cut):
        """The users with `cut` points or more, most first (cut is not zero: nobody is ranked on zero)."""
        if self._most_first is None:  # once per settled window: a board asks for its top on every request
            self._most_first = sorted((user_id for user_id, value in self.points.items() if value),
                                      key=self.points.__getitem__, reverse=True)
        return takewhile(lambda user_id: self.points[user_id] >= cut, self._most_first)

    def add(self, rows):
        """Add (user_id, points, adopted) rows: sums per user, or single ledger rows."""
        points, adopted, ranked = self.points, self.adopted, self._ranked
        for user_id, amount, paid in rows:
            before = points.get(user_id, 0)
            after = points[user_id] = before + int(amount)
            if paid:
                adopted[user_id] = adopted.get(user_id, 0) + int(paid)
            if ranked is not None and after != before:
                _move(ranked, before, after)
        self._most_first = None
        return self


class _Live:
    """A window's sums for one request: the settled sums, left as they are, with the recent rows
    on top. Copying the 10,000 settled sums for every board, and reading all of them to find its
    top, cost more than the rest of its numbers."""

    def __init__(self, settled):
        self._settled = settled
        self._points, self._adopted = {}, {}  # the users the recent rows touch: their sums now
        self._ranked = None

    def add(self, rows):
        """Add (user_id, points, adopted) ledger rows."""
        for user_id, amount, paid in rows:
            self._points[user_id] = self.points_of(user_id) + int(amount)
            if paid:
                self._adopted[user_id] = self.adopted_of(user_id) + int(paid)
        self._ranked = None

    def points_of(self, user_id):
        """The user's points in the window (0 without any)."""
        value = self._points.get(user_id)
        return self._settled.points.get(user_id, 0) if value is None else value

    def adopted_of(self, user_id):
        """How many of the user's entries and edits were adopted in the window."""
        value = self._adopted.get(user_id)
        return self._settled.adopted.get(user_id, 0) if value is None else value

    def ranked(self):
        """Everyone's non-zero points, ascending: the settled list with the touched users moved."""
        if self._ranked is None:
            self._ranked = list(self._settled.ranked())
            for user_id, after in self._points.items():
                before = self._settled.points.get(user_id, 0)
                if after != before:
                    _move(self._ranked, before, after)
        return self._ranked

    def at_least(self, cut):
        """The ids of the users with `cut` points or more (cut is not zero), in no set order."""
        touched = self._points
        return [user_id for user_id in self._settled.at_least(cut) if user_id not in touched] + \
            [user_id for user_id, value in touched.items() if value and value >= cut]

    @cached_property
    def points(self):
        """Everyone's points as one dict, for boards that add up every member of a team or branch."""
        return {**self._settled.points, **self._points}

    @cached_property
    def adopted(self):
        """Everyone's adoption counts as one dict (see points)."""
        return {**self._settled.adopted, **self._adopted}


def _move(ranked, before, after):
    """Keep the ascending list of non-zero sums in order as one user's sum goes from before to after."""
    if before:
        del ranked[bisect_left(ranked, before)]
    if after:
        insort(ranked, after)


@dataclass(frozen=True)
class _Settled:
    """The sums over a window's rows created before `horizon` with id <= `last_id`."""

    horizon: datetime
    last_id: int
    sums: _Sums


def user_sums(window):
    """Per-user sums over every ledger row in the window; within one request, taken once per window
    (a leaderboard asks for the board and the viewer's standing in the same period). Not changed by
    callers."""
    if not has_request_context():
        return _user_sums(window)
    taken = request.environ.setdefault(REQUEST_SUMS, {})  # the request's own (flask.g can outlive it)
    key = (window.start, window.end)
    if key not in taken:
        taken[key] = _user_sums(window)
    return taken[key]


def _user_sums(window):
    settled = _settled(window)
    sums = _Live(settled.sums)
    sums.add(_between(window, since=settled.horizon))
    sums.add(_inserted(window, settled.horizon, after_id=settled.last_id))
    return sums


def _settled(window):
    """The window's settled sums, built on first use and rolled forward as the horizon moves.

    A backfill (rows with an old created_at) that commits while the sums are taken is safe as long as
    its transaction started less than SETTLE_MARGIN earlier; rows deleted by hand need a restart.
    """
    cache = current_app.extensions.setdefault(CACHE_KEY, {})
    key, horizon = (window.start, window.end), settled_horizon()
    state = cache.get(key)
    if state is not None and state.horizon >= horizon:
        return state
    if state is None:
        # One statement, so the id bound and the sums come from the same snapshot.
        last = select(func.coalesce(func.max(PointAward.id), 0).label("last_id")).subquery()
        sums = _sums_query(*_bounds(window, before=horizon)).subquery()
        rows = db.session.connection().execute(
            select(last.c.last_id, sums.c.user_id, sums.c.points, sums.c.adopted)
            .select_from(last.outerjoin(sums, true()))).all()
        state = _Settled(horizon, rows[0].last_id,
                         _Sums().add(row[1:] for row in rows if row.user_id is not None))
    else:
        last_id = db.session.scalar(select(func.coalesce(func.max(PointAward.id), 0)))
        sums = state.sums.copy()
        sums.add(_between(window, since=state.horizon, before=horizon, upto_id=last_id))
        sums.add(_inserted(window, state.horizon, after_id=state.last_id, upto_id=last_id))
        state = _Settled(horizon, last_id, sums)
    if len(cache) >= CACHED_WINDOWS and key not in cache:
        cache.pop(next(iter(cache)), None)  # the oldest window: usually a period that has just ended
    cache[key] = state
    return state


def settled_horizon():
    """The newest settled moment: SETTLE_MARGIN ago, rounded down to a SETTLE_STEP."""
    return EPOCH + (utcnow() - SETTLE_MARGIN - EPOCH) // SETTLE_STEP * SETTLE_STEP


def _bounds(window, since=None, before=None):
    """The tightest [start, end) of a window and extra limits: one bound a side keeps the index range tight."""
    starts = [b for b in (window.start, since) if b is not None]
    ends = [b for b in (window.end, before) if b is not None]
    return max(starts, default=None), min(ends, default=END_OF_TIME)


def _sums_query(start, end):
    """GROUP BY user over rows created in [start, end): (user_id, points, adopted)."""
    query = select(PointAward.user_id.label("user_id"), func.sum(PointAward.amount).label("points"),
                   func.sum(_paid()).label("adopted")).where(PointAward.created_at < end).group_by(PointAward.user_id)
    if start is not None:
        query = query.where(PointAward.created_at >= start)
    return query


def _between(window, since, before=None, upto_id=None):
    """(user_id, amount, adopted) of the window's rows created in [since, before): the recent hour or so.

    Read row by row through the created_at index and summed here: with a GROUP BY, SQLite prefers to
    walk the user index for its order and touches the whole ledger.
    """
    start, end = _bounds(window, since, before)
    if start >= end:
        return []
    return hot_rows(_CREATED_BETWEEN, start=start, end=end, upto_id=_NO_ID_LIMIT if upto_id is None else upto_id)


def _inserted(window, horizon, after_id, upto_id=None):
    """(user_id, amount, adopted) of rows inserted after `after_id`, counted when created in the window
    before `horizon` (a backfill) and as zero otherwise.

    Only the id range is in WHERE, so every database reads just the few new rows by primary key; the
    time test is a column (in WHERE, SQLite would prefer the created_at index and read the window).
    """
    start, end = _bounds(window, before=horizon)
    return hot_rows(_INSERTED_AFTER, start=START_OF_TIME if start is None else start, end=end, after_id=after_id,
                    upto_id=_NO_ID_LIMIT if upto_id is None else upto_id)


def _paid(condition=None):
    """1 for an adoption award with a positive amount (where `condition` holds), else 0."""
    paid = and_(or_(*(PointAward.reason == reason for reason in ADOPTION_REASONS)), PointAward.amount > 0)
    return case((and_(paid, condition) if condition is not None else paid, 1), else_=0)


# Both run on every leaderboard request: prebuilt, and run by the DBAPI cursor (database.hot_rows).
_NO_ID_LIMIT = 2 ** 31 - 1  # the largest id an INTEGER column holds
_CREATED_BETWEEN = (
    select(PointAward.user_id, PointAward.amount, _paid())
    .where(PointAward.created_at >= bindparam("start"), PointAward.created_at < bindparam("end"),
           PointAward.id <= bindparam("upto_id")))
_COUNTED = and_(PointAward.created_at >= bindparam("start"), PointAward.created_at < bindparam("end"))
_INSERTED_AFTER = (
    select(PointAward.user_id, case((_COUNTED, PointAward.amount), else_=0), _paid(_COUNTED))
    .where(PointAward.id > bindparam("after_id"), PointAward.id <= bindparam("upto_id")))
