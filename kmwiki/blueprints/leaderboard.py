"""Leaderboards and the user's own points."""
from flask import Blueprint, get_template_attribute, render_template, request
from flask_babel import get_locale, lazy_gettext as _l
from flask_login import current_user, login_required
from markupsafe import Markup

from ..caching import rendered_once
from ..forms import whole_number
from ..labels import REASON_LABELS
from ..services import rankings
from ..services.periods import Period

bp = Blueprint("leaderboard", __name__)
BOARD_ROWS = 100  # the page shows the top of a board; everyone's own standing sits above it
LEDGER_PER_PAGE = 50

SCOPE_LABELS = {
    rankings.Scope.USER: _l("People"),
    rankings.Scope.TEAM: _l("Teams"),
    rankings.Scope.BRANCH: _l("Branches"),
}
PERIOD_LABELS = {
    Period.WEEK: _l("This week"),
    Period.MONTH: _l("This month"),
    Period.QUARTER: _l("This quarter"),
    Period.YEAR: _l("This year"),
    Period.ALL: _l("All time"),
}
SORT_LABELS = {
    rankings.Sort.PER_AGENT: _l("Points per agent"),
    rankings.Sort.TOTAL: _l("Total points"),
    rankings.Sort.PARTICIPATION: _l("Participation"),
}


@bp.before_request
@login_required
def require_login():
    """Rankings and points are for signed-in staff only."""


@bp.get("/leaderboard")
def index():
    """A leaderboard by person, team or branch for one calendar period, with the viewer's own standing."""
    scope = rankings.parse_scope(request.args.get("scope"))
    period = rankings.parse_period(request.args.get("period"))
    sort = rankings.parse_sort(request.args.get("sort"), scope)
    rows = rankings.leaderboard(scope, period, sort=sort, limit=BOARD_ROWS, viewer=current_user)
    return render_template("leaderboard/index.html", rows=rows, scope=scope, period=period, sort=sort,
                           mine=rankings.standing(current_user, period), mine_id=rankings.own_row(scope, current_user),
                           scopes=rankings.visible_scopes(current_user), periods=list(Period),
                           scope_labels=SCOPE_LABELS, period_labels=PERIOD_LABELS, sort_labels=SORT_LABELS,
                           board_rows=board_rows)


def board_rows(rows, scope, mine_id):
    """The rows' HTML. Each row is rendered once per process for its figures and language and kept
    (a row is a frozen value, so the key holds all it shows): rendering a board's 100 rows anew took
    more time than counting the board (3.7 of 12.5 ms at 1,000,000 ledger rows), and between two
    adoptions almost every row looks the same."""
    locale, render = str(get_locale()), get_template_attribute("leaderboard/_row.html", "row")

    def html(row, mine):
        return rendered_once(("board row", locale, scope, mine, row), lambda: render(row, scope, mine))

    return Markup("\n".join(html(row, row.id == mine_id) for row in rows))


@bp.get("/me/points")
def my_points():
    """The user's total, rank in every period, and the ledger rows that make up the total."""
    page, titles = rankings.ledger_page(current_user, request.args.get("page", 1, type=whole_number), LEDGER_PER_PAGE)
    standings = rankings.standings(current_user)
    return render_template("leaderboard/my_points.html", standings=standings, total=standings[Period.ALL].points,
                           page=page, titles=titles, period_labels=PERIOD_LABELS, reason_labels=REASON_LABELS)
