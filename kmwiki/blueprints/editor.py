"""The entry editor's helpers: live preview and image attachments."""
from functools import wraps

from flask import Blueprint, current_app, jsonify, request, send_file, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from .. import markup
from ..errors import Forbidden, Invalid, Unauthorized
from ..extensions import limiter
from ..forms import whole_number
from ..models import Vocabulary
from ..services import access, attachments, entries, taxonomy
from ..services.attachments import TooLarge

bp = Blueprint("editor", __name__)

# Previews are debounced in the browser (one per pause in typing), so this only stops a runaway
# script; uploads are rarer still. Counted per user, as a branch office shares one address.
PREVIEW_LIMIT = "120 per minute"
UPLOAD_LIMIT = "30 per minute"
SEGMENT_GROUP_LABELS = {
    "life_stage": _l("Life stage"),
    "value_tier": _l("Value tier"),
}


def per_user():
    """Rate-limit key: the signed-in user, else the address."""
    return f"user:{current_user.get_id()}" if current_user.is_authenticated else request.remote_addr or ""


def signed_in_json(view):
    """A JSON endpoint for signed-in staff: 401 instead of a redirect to the sign-in page."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        if not current_user.is_authenticated:
            raise Unauthorized()
        return view(*args, **kwargs)

    return wrapped


@bp.post("/editor/preview")
@signed_in_json
@limiter.limit(PREVIEW_LIMIT, key_func=per_user)
def preview():
    """Render the editor's Markdown exactly as the entry page will: through markup.render."""
    payload = request.get_json(silent=True)
    body = payload.get("body") if isinstance(payload, dict) else request.form.get("body")
    if not isinstance(body, str):
        raise Invalid(fields={"body": [_l("Send the body text to preview.")]})
    limit = current_app.config["MAX_BODY_CHARS"]
    if len(body) > limit:
        raise TooLarge(_l("The body is longer than %(n)s characters.", n=limit))
    return jsonify(html=str(markup.render(body)))


@bp.post("/editor/attachments")
@signed_in_json
@limiter.limit(UPLOAD_LIMIT, key_func=per_user)
def upload():
    """Keep an uploaded image; answers with the address and the Markdown to insert."""
    if not access.can_contribute(current_user):
        raise Forbidden()
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise Invalid(fields={"file": [_l("Choose an image to upload.")]})
    attachment = attachments.store(upload.stream, upload.filename, current_user,
                                   entry_id=request.form.get("entry_id", type=whole_number))
    url = url_for("editor.attachment", token=attachment.token)
    alt = attachments.download_name(attachment).rsplit(".", 1)[0].replace("[", "").replace("]", "")
    return jsonify(url=url, name=attachment.original_name, size=attachment.size,
                   content_type=attachment.content_type, markdown=f"![{alt}]({url})"), 201


@bp.get("/attachments/<token>")
@login_required
def attachment(token):
    """Serve an image with headers that keep it an image: no sniffing, no script, no sharing caches."""
    row, path = attachments.get(token)
    response = send_file(path, mimetype=row.content_type, conditional=True, etag=row.sha256)
    response.headers["Content-Disposition"] = attachments.content_disposition(row)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cache-Control"] = "private, max-age=86400"
    return response


@bp.app_template_global()
def editor_tag_suggestions(limit=60):
    """Tags already in use, most used first, for the editor's tag suggestions."""
    return [name for name, _count in entries.popular_tags(limit)]


@bp.app_template_global()
def editor_segment_groups():
    """Segment choices grouped as the category data groups them: [(group label, {slugs})]."""
    groups = {}
    for category in taxonomy.categories(Vocabulary.SEGMENT):
        groups.setdefault(category.group, set()).add(category.slug)
    return [(SEGMENT_GROUP_LABELS.get(group, group) if group else _l("Other"), slugs)
            for group, slugs in groups.items()]


@bp.app_template_global()
def editor_recent_titles(limit=5):
    """Titles of the user's most recently changed entries: a draft saved under one of them was saved."""
    if not current_user.is_authenticated:
        return []
    return entries.recent_titles(current_user, limit)
