"""Reading: bookmarks, comments and the personal home page's data."""
from flask import Blueprint

bp = Blueprint("reading", __name__)
