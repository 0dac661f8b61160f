"""Image attachments: checked by their bytes, stored under a random name, served only to staff."""
import hashlib
import os
import re
import secrets
import tempfile
import unicodedata
from pathlib import Path
from urllib.parse import quote

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from werkzeug.utils import secure_filename

from ..errors import Forbidden, KmwikiError, NotFound
from ..extensions import db
from ..models import Attachment, Entry
from . import access

# The type is decided by these leading bytes, never by the name or the browser's claim. No SVG:
# it is a document that can carry script.
SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "image/png", "png"),
    (b"\xff\xd8\xff", "image/jpeg", "jpg"),
    (b"GIF87a", "image/gif", "gif"),
    (b"GIF89a", "image/gif", "gif"),
)
EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/gif": "gif", "image/webp": "webp"}
TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{20,64}")
MAX_NAME = 200


class TooLarge(KmwikiError):
    status, code, default_message = 413, "too_large", _l("The file is too large.")


class UnsupportedType(KmwikiError):
    status, code, default_message = 415, "unsupported_type", \
        _l("Only PNG, JPEG, GIF and WEBP images can be uploaded.")


def sniff(head):
    """The image type of a file from its first bytes, or None."""
    for signature, content_type, _ in SIGNATURES:
        if head.startswith(signature):
            return content_type
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def clean_name(name):
    """The uploader's file name, kept only for display: no path, no control characters, bounded."""
    name = unicodedata.normalize("NFC", str(name or "")).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C" and c not in '"<>|*?:')
    return name.strip(" .")[:MAX_NAME] or "image"


def folder():
    """instance/attachments/, created on first use."""
    path = Path(current_app.instance_path) / "attachments"
    path.mkdir(parents=True, exist_ok=True)
    return path


def store(stream, filename, uploader, entry_id=None):
    """Check and keep an uploaded image; returns its Attachment row."""
    if not access.can_contribute(uploader):
        raise Forbidden()
    limit = current_app.config["ATTACHMENT_MAX_BYTES"]
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(_l("The image is larger than %(mb)s MB. Make it smaller and upload it again.",
                          mb=round(limit / 1024 / 1024, 1)))
    content_type = sniff(data[:16])
    if content_type is None:
        raise UnsupportedType()
    if entry_id is not None:
        entry = db.session.get(Entry, entry_id)
        entry_id = entry.id if entry is not None and access.can_edit(entry, uploader) else None
    token = secrets.token_urlsafe(32)
    target = folder() / token
    # Write aside, then rename: a reader never sees half a file.
    with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as handle:
        handle.write(data)
    os.replace(handle.name, target)
    attachment = Attachment(token=token, entry_id=entry_id, uploader_id=uploader.id,
                            original_name=clean_name(filename), content_type=content_type,
                            size=len(data), sha256=hashlib.sha256(data).hexdigest())
    db.session.add(attachment)
    try:
        db.session.commit()
    except Exception:
        db.session.rollback()
        target.unlink(missing_ok=True)
        raise
    return attachment


def get(token):
    """The attachment and its file path; NotFound for unknown or malformed tokens."""
    if not TOKEN_RE.fullmatch(token or ""):
        raise NotFound()
    attachment = db.session.scalar(select(Attachment).where(Attachment.token == token))
    path = folder() / token if attachment is not None else None
    if path is None or not path.is_file():
        raise NotFound()
    return attachment, path


def download_name(attachment):
    """A display name whose extension always matches the real type."""
    stem = attachment.original_name.rsplit(".", 1)[0] or "image"
    return f"{stem}.{EXTENSIONS.get(attachment.content_type, 'bin')}"


def content_disposition(attachment):
    """`inline`, with an ASCII fallback name and the real (UTF-8) name, neither able to break the header."""
    name = download_name(attachment)
    stem, _, extension = name.rpartition(".")
    fallback = f"{secure_filename(stem) or 'image'}.{extension}"
    return f"inline; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"
