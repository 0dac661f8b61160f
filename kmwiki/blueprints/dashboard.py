"""The leadership dashboard and its CSV exports (leaders and admins)."""
import math
from datetime import timedelta

from flask import Blueprint, Response, render_template, request
from flask_babel import format_timedelta, get_locale

from ..auth import roles_required
from ..models import Role
from ..services import dashboard, exports, periods

bp = Blueprint("dashboard", __name__)


def axis_ticks(values):
    """Gridline values from 0 to a round top at or above the largest value, at most five steps."""
    peak = max([*values, 1])
    step = next(s * 10 ** k for k in range(20) for s in (1, 2, 5) if s * 10 ** k * 5 >= peak)
    return [step * k for k in range(math.ceil(peak / step) + 1)]


def duration(seconds):
    """A rounded length of time in the reader's language ("30 hours", "3 days"), or a dash."""
    if seconds is None:
        return "—"
    # threshold=2: stay in hours up to two days, so a day and a half does not read as "1 day".
    return format_timedelta(timedelta(seconds=seconds), threshold=2)


@bp.get("/dashboard")
@roles_required(Role.LEADER, Role.ADMIN)
def index():
    """Participation, coverage, review service level and calibration for a period (?period=)."""
    period = periods.parse(request.args.get("period"))
    return render_template("dashboard/index.html", report=dashboard.report(period), periods=list(periods.Period),
                           duration=duration, axis_ticks=axis_ticks, thin_at_most=dashboard.THIN_AT_MOST,
                           calibration_gap=dashboard.CALIBRATION_GAP)


@bp.get("/dashboard/export/<table>.csv")
@roles_required(Role.LEADER, Role.ADMIN)
def export(table):
    """One dashboard table as a CSV download for Excel."""
    period = periods.parse(request.args.get("period"))
    data = exports.export(table, period, get_locale())
    return Response(exports.to_csv(data), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{exports.csv_filename(data, period)}"'})
