"""The entry editor's helpers: live preview and image attachments."""
from flask import Blueprint

bp = Blueprint("editor", __name__)
