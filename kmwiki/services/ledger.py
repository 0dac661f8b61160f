"""The whole points ledger for administrators: filters, keyset pages, totals per reason, CSV rows.

Pages are keyset pages over (created_at, id), newest first: a page is "the rows just older (or newer)
than this row", so rows that arrive while an admin pages never shift a page (no row twice, none
skipped), and a page deep in a million rows is one index seek, where OFFSET would scan every row
it skips.
"""
from dataclasses import dataclass
from datetime import date, timedelta

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, func, literal, or_, select
from sqlalchemy.orm import selectinload

from ..errors import Forbidden, Invalid, NotFound
from ..extensions import db
from ..labels import REASON_LABELS
from ..models import AuditEvent, Entry, PointAward, Reason, Team, User
from ..models.base import MAX_ID
from . import ledger_sums, periods

PER_PAGE = 50
EXPORT_CHUNK = 1000
TOTALS_CACHE_KEY = "kmwiki.ledger_totals"
CACHED_FILTERS = 64
RETRACTED = "retracted"  # the audit action review.retract writes beside the reversing rows
RULE_CHANGED = "point_rule_changed"
FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(2999, 12, 31)
NEWEST_FIRST = (PointAward.created_at.desc(), PointAward.id.desc())
OLDEST_FIRST = (PointAward.created_at, PointAward.id)


@dataclass(frozen=True)
class LedgerFilter:
    """Which ledger rows to show; the dates are local calendar days (TIMEZONE), both inclusive."""

    username: str = ""
    reason: str = ""
    since: date | None = None
    until: date | None = None
    entry_id: int | None = None

    @classmethod
    def from_args(cls, args):
        """Build from the query arguments user, reason, from, to and entry; Invalid names the bad ones."""
        errors = {}
        reason = (args.get("reason") or "").strip()
        if reason and reason not in {r.value for r in Reason}:
            errors["reason"] = [_l("Choose one of the listed reasons.")]
        since, until = _day(args, "from", errors), _day(args, "to", errors)
        if since and until and since > until:
            errors["to"] = [_l("The end date is before the start date.")]
        entry_id = _number(args, "entry", errors)
        if errors:
            raise Invalid(fields=errors)
        return cls(username=(args.get("user") or "").strip().lower(), reason=reason, since=since, until=until,
                   entry_id=entry_id)

    def as_args(self):
        """The query arguments that select these rows again (for links and the CSV export)."""
        args = {"user": self.username, "reason": self.reason, "entry": self.entry_id,
                "from": self.since.isoformat() if self.since else None,
                "to": self.until.isoformat() if self.until else None}
        return {name: value for name, value in args.items() if value not in (None, "")}


def _day(args, name, errors):
    text = (args.get(name) or "").strip()
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        day = None
    if day is None or not FIRST_DAY <= day <= LAST_DAY:
        errors[name] = [_l("Enter a date like 2025-03-31.")]
        return None
    return day


def _number(args, name, errors):
    text = (args.get(name) or "").strip()
    if not text:
        return None
    if not (text.isascii() and text.isdigit() and len(text) <= 10 and 0 < int(text) <= MAX_ID):
        errors[name] = [_l("Enter a number.")]
        return None
    return int(text)


def cursor(args, name):
    """A page cursor (`before` or `after`: a ledger row id) from query arguments; None when absent."""
    errors = {}
    value = _number(args, name, errors)
    if errors:
        raise Invalid(fields=errors)
    return value


@dataclass(frozen=True)
class LedgerRow:
    """One ledger row as an admin reads it."""

    award: PointAward  # its user, team and branch loaded
    local_time: object  # created_at in TIMEZONE
    entry_title: str | None
    retraction: AuditEvent | None  # retraction rows: the audit event that says who retracted and why

    @property
    def retracted_by(self):
        return self.retraction.actor if self.retraction else None

    @property
    def retraction_reason(self):
        return self.retraction.details.get("reason") if self.retraction else None

    def as_dict(self):
        award, team = self.award, self.award.user.team
        admin = self.retracted_by
        return {
            "id": award.id, "created_at": award.created_at.isoformat(), "amount": award.amount,
            "reason": award.reason, "cause": award.cause, "entry_id": award.entry_id, "entry_title": self.entry_title,
            "user": {"username": award.user.username, "display_name": award.user.display_name},
            "team": team.name if team else None, "branch": team.branch.name if team else None,
            "retraction": {"by": admin.username if admin else None, "reason": self.retraction_reason}
            if self.retraction else None,
        }

    def csv_cells(self):
        award, team = self.award, self.award.user.team
        admin = self.retracted_by
        return [self.local_time.strftime("%Y-%m-%d %H:%M:%S"), award.user.display_name, award.user.username,
                team.branch.name if team else "", team.name if team else "",
                str(REASON_LABELS.get(award.reason, award.reason)), award.amount, award.cause,
                award.entry_id or "", self.entry_title or "",
                f"{admin.display_name} ({admin.username})" if admin else "", self.retraction_reason or ""]


@dataclass(frozen=True)
class ReasonTotal:
    reason: str
    rows: int
    points: int


@dataclass(frozen=True)
class Totals:
    """Row count and net points of the filtered rows, in all and per reason."""

    by_reason: list
    rows: int
    points: int

    def as_dict(self):
        return {"rows": self.rows, "points": self.points,
                "by_reason": {t.reason: {"rows": t.rows, "points": t.points} for t in self.by_reason}}


@dataclass(frozen=True)
class LedgerPage:
    """One keyset page, newest first; `newer`/`older` are the cursors of the neighbouring pages, or None."""

    rows: list
    totals: Totals
    newer: int | None
    older: int | None


def browse(filters, viewer, before=None, after=None, per_page=PER_PAGE):
    """A page of the filtered ledger: the rows older than `before`, or newer than `after`, or the newest."""
    where = _conditions(filters, viewer)
    if after is not None:
        rows = _fetch(where, _newer_than(_anchor(after)), OLDEST_FIRST, per_page + 1)
        has_newer, rows = len(rows) > per_page, rows[:per_page][::-1]
        has_older = _exists(where, _older_than(_key(rows[-1]) if rows else _anchor(after)))
        return _page(filters, where, rows, has_newer=has_newer, has_older=has_older)
    rows = _fetch(where, _older_than(_anchor(before)) if before is not None else None, NEWEST_FIRST, per_page + 1)
    has_older, rows = len(rows) > per_page, rows[:per_page]
    has_newer = before is not None and _exists(where, _newer_than(_key(rows[0]) if rows else _anchor(before)))
    return _page(filters, where, rows, has_newer=has_newer, has_older=has_older)


def export(filters, viewer):
    """(headers, rows) of every filtered row for CSV, newest first; the rows are read lazily in chunks."""
    where = _conditions(filters, viewer)
    headers = [_("Time"), _("Display name"), _("Username"), _("Branch"), _("Team"), _("Reason"), _("Points"),
               _("Cause"), _("Entry ID"), _("Title"), _("Retracted by"), _("Retraction reason")]
    return headers, (row.csv_cells() for row in _all_rows(where))


def _all_rows(where):
    older = None
    while True:
        awards = _fetch(where, older, NEWEST_FIRST, EXPORT_CHUNK)
        yield from _decorate(awards)
        if len(awards) < EXPORT_CHUNK:
            return
        older = _older_than(_key(awards[-1]))


def filter_for_event(event):
    """Query arguments of the ledger rows an audit event explains, or None: a retraction → the entry's
    rows; a point rule change → the rows of that reason since the day of the change."""
    if event.action == RETRACTED and event.entry_id:
        return {"entry": event.entry_id}
    if event.action == RULE_CHANGED:
        key = str(event.details.get("key", ""))
        reason = {"adopt.edit": Reason.EDIT_ADOPTED, "review": Reason.REVIEW}.get(key) or (
            Reason.ENTRY_ADOPTED if key.startswith("adopt.") else Reason.HELPFUL if key.startswith("helpful") else None)
        if reason:
            return {"reason": reason.value, "from": event.created_at.astimezone(periods.zone()).date().isoformat()}
    return None


def _conditions(filters, viewer):
    """The WHERE clauses of a filter, after checking the viewer and resolving the username."""
    if not viewer.is_admin:
        raise Forbidden()
    where = []
    if filters.username:
        user_id = db.session.scalar(select(User.id).where(User.username == filters.username))
        if user_id is None:
            raise Invalid(fields={"user": [_l("No user has this username.")]})
        where.append(PointAward.user_id == user_id)
    if filters.reason:
        where.append(PointAward.reason == filters.reason)
    if filters.since:
        where.append(PointAward.created_at >= periods.utc_midnight(filters.since))
    if filters.until:
        where.append(PointAward.created_at < periods.utc_midnight(filters.until + timedelta(days=1)))
    if filters.entry_id is not None:
        where.append(PointAward.entry_id == filters.entry_id)
    return where


def _anchor(award_id):
    """The (created_at, id) position of a cursor row."""
    row = db.session.execute(select(PointAward.created_at, PointAward.id).where(PointAward.id == award_id)).first()
    if row is None:
        raise NotFound()
    return tuple(row)


def _key(award):
    return award.created_at, award.id


# Spelled as "created_at <= t AND (created_at < t OR id < i)" rather than a row comparison: both
# SQLite and PostgreSQL then seek the created_at index, and only rows at the same instant check the id.
def _older_than(anchor):
    at, award_id = anchor
    return and_(PointAward.created_at <= at, or_(PointAward.created_at < at, PointAward.id < award_id))


def _newer_than(anchor):
    at, award_id = anchor
    return and_(PointAward.created_at >= at, or_(PointAward.created_at > at, PointAward.id > award_id))


def _fetch(where, position, order, limit):
    query = (select(PointAward).where(*where).order_by(*order).limit(limit)
             .options(selectinload(PointAward.user).selectinload(User.team).selectinload(Team.branch)))
    if position is not None:
        query = query.where(position)
    return db.session.scalars(query).all()


def _exists(where, position):
    return db.session.scalar(select(PointAward.id).where(*where, position).limit(1)) is not None


def _page(filters, where, awards, has_newer, has_older):
    return LedgerPage(rows=_decorate(awards), totals=_totals(filters, where),
                      newer=awards[0].id if has_newer and awards else None,
                      older=awards[-1].id if has_older and awards else None)


@dataclass(frozen=True)
class _Settled:
    """Per reason (rows, points) of a filter's rows created before `horizon` with id <= `last_id`."""

    horizon: object
    last_id: int
    sums: dict


def _totals(filters, where):
    """Totals of the filtered rows. Summing a million rows takes 0.1-0.3 s, so the settled history
    (ledger_sums.settled_horizon) is summed once per filter and hour and kept per process; each page
    adds only the rows created since the horizon or inserted since the sum was taken (a larger id)."""
    cache = current_app.extensions.setdefault(TOTALS_CACHE_KEY, {})
    horizon = ledger_sums.settled_horizon()
    settled = cache.get(filters)
    if settled is None or settled.horizon != horizon:
        last_id = db.session.scalar(select(func.coalesce(func.max(PointAward.id), 0)))
        counted = db.session.execute(
            select(PointAward.reason, func.count(), func.coalesce(func.sum(PointAward.amount), 0))
            .where(*where, PointAward.created_at < horizon, PointAward.id <= last_id).group_by(PointAward.reason)).all()
        settled = _Settled(horizon, last_id, {reason: (int(n), int(p)) for reason, n, p in counted})
        if len(cache) >= CACHED_FILTERS and filters not in cache:
            cache.pop(next(iter(cache)), None)
        cache[filters] = settled
    sums = {reason: list(pair) for reason, pair in settled.sums.items()}
    # The rows since the horizon by the time index, and the rows inserted since the sum (also backdated
    # ones) by primary key alone: with the filter in WHERE, SQLite would walk a filter's whole index.
    # Read row by row, not GROUP BY, for the same reason.
    recent = select(PointAward.reason, PointAward.amount, literal(True)).where(
        *where, PointAward.created_at >= settled.horizon)
    late = select(PointAward.reason, PointAward.amount, and_(PointAward.created_at < settled.horizon, *where)).where(
        PointAward.id > settled.last_id)
    for statement in (recent, late):
        for reason, amount, counted in db.session.execute(statement):
            if counted:
                pair = sums.setdefault(reason, [0, 0])
                pair[0], pair[1] = pair[0] + 1, pair[1] + amount
    order = {reason.value: i for i, reason in enumerate(Reason)}
    by_reason = sorted((ReasonTotal(r, n, p) for r, (n, p) in sums.items() if n),
                       key=lambda t: order.get(t.reason, len(order)))
    return Totals(by_reason, rows=sum(t.rows for t in by_reason), points=sum(t.points for t in by_reason))


def _decorate(awards):
    """Ledger rows with their entries' titles and, for retraction rows, the retraction's audit event."""
    entry_ids = {a.entry_id for a in awards if a.entry_id is not None}
    titles = dict(db.session.execute(select(Entry.id, Entry.title).where(Entry.id.in_(entry_ids))).all()) \
        if entry_ids else {}
    retracted = {a.entry_id for a in awards if a.reason == Reason.RETRACTION and a.entry_id is not None}
    events = {e.entry_id: e for e in db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == RETRACTED, AuditEvent.entry_id.in_(retracted))
        .options(selectinload(AuditEvent.actor)).order_by(AuditEvent.id))} if retracted else {}
    zone = periods.zone()
    return [LedgerRow(a, a.created_at.astimezone(zone), titles.get(a.entry_id),
                      events.get(a.entry_id) if a.reason == Reason.RETRACTION else None) for a in awards]
