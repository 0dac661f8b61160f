"""Leaderboards and the user's own points."""
from flask import Blueprint, abort
from flask_login import login_required

bp = Blueprint("leaderboard", __name__)


@bp.get("/leaderboard")
@login_required
def index():
    """Placeholder until the leaderboard lands (issue 3, in progress)."""
    abort(404)
