"""CSV export of every dashboard table: UTF-8 with a BOM for Excel, guarded against formula injection."""
import csv
import io
from dataclasses import dataclass

from flask_babel import gettext as _

from ..errors import NotFound
from ..models import Vocabulary
from ..models.base import utcnow
from . import periods
from .dashboard import (calibration, coverage, non_contributors, participation, service_level, timeline,
                        top_helpful, top_viewed)
from .periods import Period

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


@dataclass
class Table:
    """A table ready for CSV: a header row and data rows."""

    name: str
    headers: list
    rows: list


def _rate(value):
    return round(value * 100, 1)


def _round(value, digits=2):
    return round(value, digits) if value is not None else ""


def _hours(seconds):
    return round(seconds / 3600, 1) if seconds is not None else ""


def _participation_table(win, now, locale):
    data = participation(win)
    rows = [[t.branch or "", t.team or _("No team"), t.agents, t.contributors, _rate(t.rate)] for t in data.teams]
    rows.append([_("All teams"), "", data.agents, data.contributors, _rate(data.rate)])
    return [_("Branch"), _("Team"), _("Agents"), _("Contributors"), _("Participation (%)")], rows


def _non_contributors_table(win, now, locale):
    rows = [[p.branch or "", p.team or _("No team"), p.name, p.username] for p in non_contributors(win)]
    return [_("Branch"), _("Team"), _("Name"), _("Username")], rows


def _timeline_table(win, now, locale):
    rows = [[b.start.isoformat(), b.last_day.isoformat(), b.adopted, b.points, b.contributors]
            for b in timeline(win.period, now)]
    return [_("From"), _("To"), _("Entries adopted"), _("Points awarded"), _("Agents with adopted work")], rows


def _coverage_rows(matrix, locale):
    headers = [_("Kind")] + [c.name(locale) for c in matrix.columns] + [_("All entries of the kind")]
    rows = [[kind.name(locale)] + [matrix.count(kind, c) for c in matrix.columns]
            + [matrix.kind_totals.get(kind.id, 0)] for kind in matrix.kinds]
    rows.append([_("Total")] + [matrix.column_totals.get(c.id, 0) for c in matrix.columns] + [matrix.total])
    return headers, rows


def _service_table(win, now, locale):
    level = service_level(win, now)
    oldest = level.oldest_submitted_at.astimezone(periods.zone()).isoformat() if level.oldest_submitted_at else ""
    rows = [
        [_("Entries waiting for review"), level.queue_size],
        [_("Oldest pending submission"), oldest],
        [_("Age of the oldest pending submission (hours)"),
         _hours(level.oldest_age.total_seconds()) if level.oldest_age else ""],
        [_("Decisions in the period"), level.decisions],
        [_("Median time from submission to decision (hours)"), _hours(level.median_seconds)],
    ]
    return [_("Measure"), _("Value")], rows


def _top_entries_table(win, now, locale):
    rows = []
    for label, items in ((_("Most helpful"), top_helpful(win)), (_("Most viewed"), top_viewed())):
        rows += [[label, rank, item.entry.id, item.entry.title, item.entry.kind.name(locale),
                  item.entry.author.display_name, item.helpful, item.helpful_total, item.views]
                 for rank, item in enumerate(items, 1)]
    return [_("List"), _("Rank"), _("Entry ID"), _("Title"), _("Kind"), _("Author"),
            _("Helpful votes in the period"), _("Helpful votes, all time"), _("Views")], rows


def _calibration_table(win, now, locale):
    data = calibration(win)
    rows = [[s.name, s.reviews, _round(s.mean), _round(s.spread), _rate(s.share("adopt")),
             _rate(s.share("revise")), _rate(s.share("reject")), _round(s.delta)]
            for s in data.reviewers + [data.peers]]
    return [_("Reviewer"), _("Reviews"), _("Mean score"), _("Spread (std. dev.)"), _("Adopted (%)"),
            _("Returned (%)"), _("Rejected (%)"), _("Mean minus peers")], rows


_BUILDERS = {
    "participation": _participation_table,
    "non_contributors": _non_contributors_table,
    "timeline": _timeline_table,
    "coverage_products": lambda win, now, locale: _coverage_rows(coverage(Vocabulary.PRODUCT), locale),
    "coverage_segments": lambda win, now, locale: _coverage_rows(coverage(Vocabulary.SEGMENT), locale),
    "review_service": _service_table,
    "top_entries": _top_entries_table,
    "calibration": _calibration_table,
}
TABLES = tuple(_BUILDERS)


def export(name, period, locale, now=None):
    """One dashboard table, complete (no display limits), for the period containing `now`."""
    if name not in _BUILDERS:
        raise NotFound()
    now = now or utcnow()
    headers, rows = _BUILDERS[name](periods.window(period, now), now, locale)
    return Table(name, headers, rows)


def safe_cell(value):
    """A value for a CSV cell; text that a spreadsheet would run as a formula is quoted with '."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def to_csv(table):
    """The table as CSV text with a UTF-8 byte-order mark, so Excel reads the Chinese correctly."""
    return "".join(csv_stream(table.headers, table.rows))


def csv_stream(headers, rows, chunk_chars=64_000):
    """CSV text in pieces (byte-order mark and header first), so a million rows never sit in memory."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([safe_cell(h) for h in headers])
    yield "\ufeff" + _drain(out)
    for row in rows:
        writer.writerow([safe_cell(v) for v in row])
        if out.tell() >= chunk_chars:
            yield _drain(out)
    yield _drain(out)


def _drain(out):
    text = out.getvalue()
    out.seek(0)
    out.truncate()
    return text


def csv_filename(table, period, now=None):
    """kmwiki-TABLE-PERIOD-YYYY-MM-DD.csv, dated in the configured time zone."""
    day = (now or utcnow()).astimezone(periods.zone()).date().isoformat()
    return f"kmwiki-{table.name}-{Period(period)}-{day}.csv"
