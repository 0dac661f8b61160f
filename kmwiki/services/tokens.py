"""Bearer tokens for the JSON API."""
import hashlib
import secrets
from datetime import timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from ..errors import Unauthorized
from ..extensions import db
from ..models import ApiToken
from ..models.base import utcnow
from . import users


def _digest(token):
    return hashlib.sha256(token.encode()).hexdigest()


def issue(username, password, days):
    """A new token for valid credentials; only its digest is stored."""
    user = users.authenticate(username, password, channel="api")
    if user is None:
        raise Unauthorized(_l("Wrong username or password."))
    token = secrets.token_urlsafe(32)
    db.session.add(ApiToken(user_id=user.id, digest=_digest(token), auth_version=user.auth_version,
                            expires_at=utcnow() + timedelta(days=days)))
    db.session.commit()
    return token


def user_for(token):
    """The user a presented token belongs to, or None when unknown, expired, revoked or outdated."""
    row = db.session.scalar(select(ApiToken).where(ApiToken.digest == _digest(token)))
    if row is None or row.revoked_at is not None or row.expires_at <= utcnow():
        return None
    user = row.user
    if not user.active or user.auth_version != row.auth_version:
        return None
    return user


def revoke(token, user):
    """Revoke one of the user's own tokens."""
    row = db.session.scalar(select(ApiToken).where(ApiToken.digest == _digest(token), ApiToken.user_id == user.id))
    if row is not None and row.revoked_at is None:
        row.revoked_at = utcnow()
        db.session.commit()
    return row is not None
