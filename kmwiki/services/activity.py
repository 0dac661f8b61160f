"""The audit log and in-app notifications. Both are written inside the caller's transaction."""
from sqlalchemy import bindparam, func, select, update

from ..database import hot_row
from ..extensions import db
from ..models import AuditEvent, Notification, Role, User, UserRole
from ..models.base import utcnow


def audit(actor, action, entry=None, **details):
    """Record a state change for administrators."""
    db.session.add(AuditEvent(actor_id=actor.id if actor else None, action=action,
                              entry_id=entry.id if entry else None, details=details))


def audit_log(page, per_page=50, action=None):
    """Newest audit events first."""
    query = select(AuditEvent).order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
    if action:
        query = query.where(AuditEvent.action == action)
    return db.paginate(query, page=page, per_page=per_page, error_out=False)


def notify(user_ids, kind, entry=None, actor=None, **details):
    """Tell users about something; the actor is never told about their own action."""
    for user_id in set(user_ids) - {actor.id if actor else None}:
        db.session.add(Notification(user_id=user_id, kind=kind, entry_id=entry.id if entry else None,
                                    actor_id=actor.id if actor else None, details=details))


def reviewer_ids():
    """Active users holding the reviewer role."""
    return db.session.scalars(select(User.id).join(UserRole).where(
        UserRole.role == Role.REVIEWER, User.active.is_(True))).all()


def notifications(user, limit=100):
    """The user's notifications, newest first."""
    return db.session.scalars(select(Notification).where(Notification.user_id == user.id)
                              .order_by(Notification.created_at.desc(), Notification.id.desc()).limit(limit)).all()


def unread_count(user):
    """How many notifications the user has not read: every page's bell, so a hot read (database.hot_row)."""
    return hot_row(_UNREAD_COUNT, user_id=user.id)[0]


def unread_count_query(user_id):
    """The count of unread notifications, as a query to run alone or inside another."""
    return select(func.count()).where(Notification.user_id == user_id, Notification.read_at.is_(None))


_UNREAD_COUNT = unread_count_query(bindparam("user_id"))


def mark_all_read(user):
    """Mark every notification of the user as read."""
    db.session.execute(update(Notification).where(Notification.user_id == user.id, Notification.read_at.is_(None))
                       .values(read_at=utcnow()))
    db.session.commit()
