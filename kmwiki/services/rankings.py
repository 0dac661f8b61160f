"""Leaderboards by person, team and branch, and one user's standing (DESIGN §5).

Every number here is a SUM over the points ledger for a calendar window (services.periods), never
a stored counter. The ledger is aggregated per user in SQL first (one GROUP BY over the covering
index); names, teams and membership are joined onto that small result afterwards.

Tie-break: standard competition ranking — equal scores share a rank and the next rank skips
(1, 1, 3); rows of equal score are listed by display name, then by id, so the order is stable.
"""
import enum
from dataclasses import asdict, dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, case, func, null, select

from ..errors import Forbidden, Invalid
from ..extensions import db
from ..models import Branch, Entry, PointAward, Reason, Role, Team, User, UserRole
from . import access, periods
from .periods import Period

ADOPTION_REASONS = (Reason.ENTRY_ADOPTED.value, Reason.EDIT_ADOPTED.value)
BOARD_ROLES = (Role.LEADER, Role.ADMIN)


class Scope(enum.StrEnum):
    """Who a leaderboard ranks."""

    USER = "user"
    TEAM = "team"
    BRANCH = "branch"


class Sort(enum.StrEnum):
    """What a team or branch board ranks by."""

    TOTAL = "total"
    PER_AGENT = "per_agent"
    PARTICIPATION = "participation"


@dataclass(frozen=True)
class PersonRow:
    """One person on the person board."""

    rank: int
    id: int
    name: str
    points: int
    adopted: int
    team: str | None
    branch: str | None

    def as_dict(self):
        return asdict(self)


@dataclass(frozen=True)
class GroupRow:
    """One team or branch: its total, points per agent and participation in the window."""

    rank: int
    id: int
    name: str
    points: int
    adopted: int
    members: int
    points_per_agent: float
    participation: float
    branch: str | None = None

    def as_dict(self):
        return asdict(self)


@dataclass(frozen=True)
class Standing:
    """A user's points and rank in one period; rank is None without points there."""

    period: Period
    points: int
    rank: int | None
    ranked: int


def parse_scope(value):
    """A Scope from a query value (default: the person board); Invalid when unknown."""
    try:
        return Scope(value or Scope.USER)
    except ValueError:
        raise Invalid(_l("Unknown leaderboard scope."),
                      fields={"scope": [_l("Choose user, team or branch.")]}) from None


def parse_period(value):
    """A Period from a query value (default: this month); Invalid when unknown."""
    try:
        return Period(value or Period.MONTH)
    except ValueError:
        raise Invalid(_l("Unknown period."),
                      fields={"period": [_l("Choose week, month, quarter, year or all.")]}) from None


def parse_sort(value, scope):
    """A Sort for a board; team and branch boards default to points per agent (DESIGN §5)."""
    if scope == Scope.USER:
        return Sort.TOTAL
    try:
        return Sort(value or Sort.PER_AGENT)
    except ValueError:
        raise Invalid(_l("Unknown sort order."),
                      fields={"sort": [_l("Choose total, per_agent or participation.")]}) from None


def can_see(scope, user):
    """Everyone sees the person board; team and branch boards are for leaders and admins."""
    return Scope(scope) == Scope.USER or user.has_role(*BOARD_ROLES)


def visible_scopes(user):
    """The boards this user may open, in tab order."""
    return [scope for scope in Scope if can_see(scope, user)]


def leaderboard(scope, period, now=None, sort=None, limit=None, viewer=None):
    """The ranked rows of a board for the calendar period containing `now`.

    The person board lists users with non-zero points in the window; team and branch boards list
    every team or branch. `limit` keeps the first rows (ties at the cut are ordered by name first).
    With `viewer`, a board they may not see raises Forbidden.
    """
    scope = Scope(scope)
    if viewer is not None and not can_see(scope, viewer):
        raise Forbidden(_l("Team and branch rankings are for leaders."))
    window = periods.window(period, now)
    if scope == Scope.USER:
        return _people(window, limit)
    return _groups(scope, window, Sort(sort or Sort.PER_AGENT), limit)


def standing(user, period, now=None):
    """The user's points and rank in a period, and how many people are ranked there."""
    window = periods.window(period, now)
    mine = db.session.scalar(_windowed(select(func.coalesce(func.sum(PointAward.amount), 0))
                                       .where(PointAward.user_id == user.id), window))
    # Only the per-user sums are needed, so this reads the (created_at, user_id, amount) index alone.
    sums = _windowed(select(func.sum(PointAward.amount).label("points")), window) \
        .group_by(PointAward.user_id).having(func.sum(PointAward.amount) != 0).subquery()
    above, ranked = db.session.execute(
        select(func.coalesce(func.sum(case((sums.c.points > mine, 1), else_=0)), 0), func.count())
        .select_from(sums)).one()
    return Standing(Period(period), int(mine), int(above) + 1 if mine else None, int(ranked))


def standings(user, now=None):
    """The user's standing in every period, by period."""
    return {period: standing(user, period, now) for period in Period}


def ledger_rows(user, page=None, per_page=50):
    """The user's ledger rows, newest first, each with the title of its entry when the user may see it.

    Returns (PointAward, title or None) pairs: all of them, or one Pagination page when `page` is given.
    """
    query = (select(PointAward, Entry.title)
             .outerjoin(Entry, and_(Entry.id == PointAward.entry_id, access.visible_clause(user)))
             .where(PointAward.user_id == user.id)
             .order_by(PointAward.created_at.desc(), PointAward.id.desc()))
    if page is None:
        return db.session.execute(query).all()
    return db.paginate(query, page=page, per_page=per_page, error_out=False, scalars=False)


def _windowed(query, window):
    """Restrict a ledger query to a half-open UTC window."""
    if window.start is not None:
        query = query.where(PointAward.created_at >= window.start)
    if window.end is not None:
        query = query.where(PointAward.created_at < window.end)
    return query


def _user_totals(window):
    """Per user in the window: (user_id, points, adopted) — the one pass over the ledger."""
    adopted = func.sum(case((and_(PointAward.reason.in_(ADOPTION_REASONS), PointAward.amount > 0), 1), else_=0))
    return _windowed(select(PointAward.user_id.label("user_id"), func.sum(PointAward.amount).label("points"),
                            adopted.label("adopted")), window).group_by(PointAward.user_id)


def _ranked(items, score):
    """Yield (rank, item) in standard competition ranking; `items` are sorted best first already."""
    rank, previous = 0, None
    for position, item in enumerate(items, 1):
        value = score(item)
        if value != previous:
            rank, previous = position, value
        yield rank, item


def _people(window, limit):
    totals = [row for row in db.session.execute(_user_totals(window)).all() if row.points]
    totals.sort(key=lambda row: -row.points)
    if limit is not None and len(totals) > limit:
        # Names are needed only down to the cut, but for the whole tie group that straddles it.
        cut = totals[limit - 1].points
        totals = [row for row in totals if row.points >= cut]
    names = {row.id: row for row in db.session.execute(
        select(User.id, User.display_name, Team.name.label("team"), Branch.name.label("branch"))
        .outerjoin(Team, Team.id == User.team_id).outerjoin(Branch, Branch.id == Team.branch_id)
        .where(User.id.in_([row.user_id for row in totals])))}
    totals.sort(key=lambda row: (-row.points, names[row.user_id].display_name, row.user_id))
    rows = [PersonRow(rank, row.user_id, names[row.user_id].display_name, int(row.points), int(row.adopted),
                      names[row.user_id].team, names[row.user_id].branch)
            for rank, row in _ranked(totals, lambda row: row.points)]
    return rows[:limit] if limit is not None else rows


def _groups(scope, window, sort, limit):
    group_id = User.team_id if scope == Scope.TEAM else Team.branch_id
    is_agent = UserRole.user_id.is_not(None)
    totals = _user_totals(window).subquery()
    # A participant is a member (active agent) with at least one adoption paid in the window.
    earned = {row.group_id: row for row in db.session.execute(
        select(group_id.label("group_id"), func.sum(totals.c.points).label("points"),
               func.sum(totals.c.adopted).label("adopted"),
               func.sum(case((and_(totals.c.adopted > 0, User.active, is_agent), 1), else_=0)).label("participants"))
        .select_from(totals).join(User, User.id == totals.c.user_id).join(Team, Team.id == User.team_id)
        .outerjoin(UserRole, and_(UserRole.user_id == User.id, UserRole.role == Role.AGENT.value))
        .group_by(group_id))}
    members = dict(db.session.execute(
        select(group_id, func.count()).select_from(User).join(Team, Team.id == User.team_id)
        .join(UserRole, and_(UserRole.user_id == User.id, UserRole.role == Role.AGENT.value))
        .where(User.active).group_by(group_id)).all())
    if scope == Scope.TEAM:
        groups = db.session.execute(select(Team.id, Team.name, Branch.name.label("branch")).join(Branch)).all()
    else:
        groups = db.session.execute(select(Branch.id, Branch.name, null().label("branch"))).all()
    rows = [_group_row(group, earned.get(group.id), members.get(group.id, 0)) for group in groups]
    score = {Sort.TOTAL: lambda row: row.points, Sort.PER_AGENT: lambda row: row.points_per_agent,
             Sort.PARTICIPATION: lambda row: row.participation}[sort]
    rows.sort(key=lambda row: (-score(row), row.name, row.id))
    ranked = [GroupRow(**{**asdict(row), "rank": rank}) for rank, row in _ranked(rows, score)]
    return ranked[:limit] if limit is not None else ranked


def _group_row(group, earned, members):
    points = int(earned.points) if earned else 0
    participants = int(earned.participants) if earned else 0
    return GroupRow(rank=0, id=group.id, name=group.name, points=points,
                    adopted=int(earned.adopted) if earned else 0, members=members,
                    points_per_agent=round(points / members, 1) if members else 0.0,
                    participation=round(participants / members, 4) if members else 0.0,
                    branch=group.branch)
