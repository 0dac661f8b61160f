"""The leadership dashboard."""
from flask import Blueprint, abort
from flask_login import login_required

bp = Blueprint("dashboard", __name__)


@bp.get("/dashboard")
@login_required
def index():
    """Placeholder until the dashboard lands (issue 3, in progress)."""
    abort(404)
