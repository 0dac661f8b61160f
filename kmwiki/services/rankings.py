"""Leaderboards by person, team and branch, and one user's standing (DESIGN §5).

Every number is a SUM over the points ledger for a calendar window (services.periods), never a
stored counter. The ledger is aggregated per user in SQL (GROUP BY user_id); names, teams and
membership are joined onto that result afterwards, for the rows shown only.

Tie-break: standard competition ranking — equal scores share a rank and the next rank skips
(1, 1, 3); rows of equal score are listed by display name, then by id, so the order is stable.

Speed: the per-user sums come from services.ledger_sums, which keeps each window's settled
history per process (see there), so a board costs milliseconds at a million ledger rows.
"""
import enum
from bisect import bisect_right
from dataclasses import asdict, dataclass, replace
from typing import NamedTuple

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import String, and_, cast, func, null, select

from ..database import hot_row
from ..errors import Forbidden, Invalid
from ..extensions import db
from ..models import Branch, Entry, PageGeneration, PointAward, Role, Team, User, UserRole
from . import access, ledger_sums, periods
from .periods import Period

BOARD_ROLES = (Role.LEADER, Role.ADMIN)
NAMES_KEY = "kmwiki.board_names"
NAMES_KEPT = 5000  # ~1 MB per worker; boards of five periods show a few hundred people
_GENERATION = select(PageGeneration.token).where(PageGeneration.id == 1)


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
        """The row as plain JSON-ready values."""
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
        """The row as plain JSON-ready values."""
        return asdict(self)


@dataclass(frozen=True)
class Standing:
    """A user's points and rank in one period; rank is None without points there."""

    period: Period
    points: int
    rank: int | None
    ranked: int


# --- input ---------------------------------------------------------------------------------------


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


# --- boards --------------------------------------------------------------------------------------


def leaderboard(scope, period, now=None, sort=None, limit=None, viewer=None):
    """The ranked rows of a board for the calendar period containing `now`.

    The person board lists users with non-zero points in the window; team and branch boards list
    every team or branch, by points per agent unless `sort` says otherwise. `limit` keeps the first
    rows. With `viewer`, a board they may not see raises Forbidden.
    """
    scope = Scope(scope)
    if viewer is not None and not can_see(scope, viewer):
        raise Forbidden(_l("Team and branch rankings are for leaders and administrators."))
    sums = ledger_sums.user_sums(periods.window(period, now))
    if scope == Scope.USER:
        return _people(sums, limit)
    return _groups(scope, sums, Sort(sort or Sort.PER_AGENT), limit)


def standing(user, period, now=None):
    """The user's points and rank in a period, and how many people are ranked there."""
    sums = ledger_sums.user_sums(periods.window(period, now))
    mine = sums.points_of(user.id)
    ranked = sums.ranked()
    above = len(ranked) - bisect_right(ranked, mine)
    return Standing(Period(period), mine, above + 1 if mine else None, len(ranked))


def own_row(scope, user):
    """The id of the viewer's own row on a board: themselves, their team or their branch (None without a team)."""
    scope = Scope(scope)
    if scope == Scope.USER:
        return user.id
    if scope == Scope.TEAM or user.team_id is None:
        return user.team_id
    return db.session.scalar(select(Team.branch_id).where(Team.id == user.team_id))


def standings(user, now=None):
    """The user's standing in every period, by period."""
    return {period: standing(user, period, now) for period in Period}


def ledger_rows(user):
    """Every ledger row of the user, newest first, as (PointAward, entry title or None) pairs."""
    awards = db.session.scalars(_ledger_query(user)).all()
    titles = entry_titles(user, awards)
    return [(award, titles.get(award.entry_id)) for award in awards]


def ledger_page(user, page, per_page=50):
    """One page of the user's ledger rows, newest first, and the titles of their entries."""
    rows = db.paginate(_ledger_query(user), page=page, per_page=per_page, error_out=False)
    return rows, entry_titles(user, rows.items)


def entry_titles(user, awards):
    """{entry id: title} for the entries of these awards that the user may see (a reviewer's award
    can name an entry that was since rejected: its title stays hidden, as the entry is)."""
    ids = {award.entry_id for award in awards if award.entry_id is not None}
    if not ids:
        return {}
    return dict(db.session.execute(select(Entry.id, Entry.title)
                                   .where(Entry.id.in_(ids), access.visible_clause(user))).all())


def _ledger_query(user):
    return (select(PointAward).where(PointAward.user_id == user.id)
            .order_by(PointAward.created_at.desc(), PointAward.id.desc()))


def _ranked(items, score):
    """Yield (rank, item) in standard competition ranking; `items` are sorted best first already."""
    rank, previous = 0, None
    for position, item in enumerate(items, 1):
        value = score(item)
        if value != previous:
            rank, previous = position, value
        yield rank, item


def _people(sums, limit):
    ascending = sums.ranked()
    if not ascending:
        return []
    # Everyone down to the cut, including the whole tie group that straddles it; names are read for those only.
    cut = ascending[-min(limit, len(ascending))] if limit is not None else ascending[0]
    chosen = sums.at_least(cut)
    points = {user_id: sums.points_of(user_id) for user_id in chosen}
    names = _names(chosen)
    chosen.sort(key=lambda user_id: (-points[user_id], names[user_id].display_name, user_id))
    rows = [PersonRow(rank=len(ascending) - bisect_right(ascending, points[user_id]) + 1, id=user_id,
                      name=names[user_id].display_name, points=points[user_id], adopted=sums.adopted_of(user_id),
                      team=names[user_id].team, branch=names[user_id].branch)
            for user_id in chosen[:limit]]
    return rows


class _Name(NamedTuple):
    """What a person row shows of someone besides their figures."""

    display_name: str
    team: str | None
    branch: str | None


def _names(user_ids):
    """{user id: _Name} for these people, kept per process while the page generation stands: it
    is replaced with every change to a name, team or branch that a page or a board shows (pages.py,
    caching.SHOWN_NAMES). Reading the names was a seventh of a board's time under load."""
    generation = hot_row(_GENERATION)
    if generation is None:  # a database without the row: nothing would tell a rename
        names = {}
    else:
        kept = current_app.extensions.get(NAMES_KEY)
        if kept is None or kept[0] != generation[0] or len(kept[1]) > NAMES_KEPT:
            kept = current_app.extensions[NAMES_KEY] = (generation[0], {})
        names = kept[1]
    missing = [user_id for user_id in user_ids if user_id not in names]
    if missing:
        names.update((row.id, _Name(row.display_name, row.team, row.branch)) for row in db.session.execute(
            select(User.id, User.display_name, Team.name.label("team"), Branch.name.label("branch"))
            .outerjoin(Team, Team.id == User.team_id).outerjoin(Branch, Branch.id == Team.branch_id)
            .where(User.id.in_(missing))))
    return names


def _groups(scope, sums, sort, limit):
    """Team or branch rows: their people's points, members (active agents), per agent, participation."""
    group_id = User.team_id if scope == Scope.TEAM else Team.branch_id
    member = and_(User.active, UserRole.user_id.is_not(None))
    # Ids come back as one string per group: 10,000 row objects would each be garbage to collect, and
    # their churn set off full collection passes that cost more than the whole board.
    people = db.session.execute(
        select(group_id, member, func.aggregate_strings(cast(User.id, String), ","))
        .select_from(User).join(Team, Team.id == User.team_id)
        .outerjoin(UserRole, and_(UserRole.user_id == User.id, UserRole.role == Role.AGENT.value))
        .group_by(group_id, member)).all()
    tally = {}  # group id -> [points, adopted, members, participants]
    points, adopted = sums.points, sums.adopted
    for group, is_member, ids in people:
        ids = [int(user_id) for user_id in ids.split(",")]
        counts = tally.setdefault(group, [0, 0, 0, 0])
        counts[0] += sum(points.get(user_id, 0) for user_id in ids)
        paid = [adopted.get(user_id, 0) for user_id in ids]
        counts[1] += sum(paid)
        if is_member:  # members are the active agents; participants those with an adoption paid in the window
            counts[2] += len(ids)
            counts[3] += sum(1 for n in paid if n)
    if scope == Scope.TEAM:
        groups = db.session.execute(select(Team.id, Team.name, Branch.name.label("branch")).join(Branch)).all()
    else:
        groups = db.session.execute(select(Branch.id, Branch.name, null().label("branch"))).all()
    rows = [_group_row(group, *tally.get(group.id, (0, 0, 0, 0))) for group in groups]
    score = {Sort.TOTAL: lambda row: row.points, Sort.PER_AGENT: lambda row: row.points_per_agent,
             Sort.PARTICIPATION: lambda row: row.participation}[sort]
    rows.sort(key=lambda row: (-score(row), row.name, row.id))
    ranked = [replace(row, rank=rank) for rank, row in _ranked(rows, score)]
    return ranked[:limit] if limit is not None else ranked


def _group_row(group, points, adopted, members, participants):
    # Ranked on the rounded figures shown, so two rows that look equal share a rank.
    return GroupRow(rank=0, id=group.id, name=group.name, points=points, adopted=adopted, members=members,
                    points_per_agent=round(points / members, 1) if members else 0.0,
                    participation=round(participants / members, 4) if members else 0.0,
                    branch=group.branch)


def warm_up(now=None):
    """Sum the settled ledger of every current period: what the first board of each period in a
    process would otherwise wait for (up to 2 s for a year of 1,000,000 rows on SQLite)."""
    for period in Period:
        ledger_sums.user_sums(periods.window(period, now))
