"""The points ledger: rules as data, exactly-once awards, reversals, and a user's own account.

Totals are always sums over PointAward rows, never a stored counter, so every total can be
explained row by row.
"""
import math

from sqlalchemy import func, select

from ..database import insert_once
from ..extensions import db
from ..models import PointAward, PointRule, Reason
from ..models.base import utcnow
from ..errors import NotFound
from . import activity, periods

# (key, value, 中文说明, English description) — the defaults of DESIGN §4; admins edit the rows.
DEFAULT_RULES = [
    ("adopt.client_case", 20, "客户案例被采纳的基础分", "Base points for an adopted client case"),
    ("adopt.sales_technique", 20, "销售技巧被采纳的基础分", "Base points for an adopted sales technique"),
    ("adopt.objection_handling", 15, "异议处理被采纳的基础分", "Base points for adopted objection handling"),
    ("adopt.product_knowledge", 15, "产品知识被采纳的基础分", "Base points for adopted product knowledge"),
    ("adopt.claims_service", 15, "理赔服务被采纳的基础分", "Base points for an adopted claims tip"),
    ("adopt.faq", 10, "常见问答被采纳的基础分", "Base points for an adopted FAQ"),
    ("adopt.other", 10, "其他新增类型被采纳的基础分", "Base points for kinds added later"),
    ("adopt.edit", 5, "他人对已采纳条目的修改被采纳", "An adopted edit of someone else's entry"),
    ("review", 2, "完成一次审核", "Completing a review"),
    ("helpful", 1, "条目被标记为有帮助（每票）", "Each helpful vote received"),
    ("helpful.daily_cap", 20, "每人每天因“有帮助”获得的积分上限", "Most helpful-vote points one person receives a day"),
]
QUALITY_PIVOT = 3  # a mean rubric score of 3 pays the base amount (DESIGN §4: base × quality / 3)


def ensure_default_rules():
    """Insert missing rule rows; returns how many were added."""
    existing = set(db.session.scalars(select(PointRule.key)))
    added = [PointRule(key=k, value=v, description_zh=zh, description_en=en)
             for k, v, zh, en in DEFAULT_RULES if k not in existing]
    db.session.add_all(added)
    db.session.commit()
    return len(added)


def rule(key, default=0):
    """A rule's current value: its row, else the seeded default, else `default`."""
    value = db.session.scalar(select(PointRule.value).where(PointRule.key == key))
    if value is None:
        value = {k: v for k, v, *_ in DEFAULT_RULES}.get(key, default)
    return value


def rules():
    """All rule rows, by key."""
    return db.session.scalars(select(PointRule).order_by(PointRule.key)).all()


def set_rule(key, value, actor):
    """Change one rule's value (admins); audited. Negative values are refused by the caller's form."""
    row = db.session.get(PointRule, key)
    if row is None:
        raise NotFound()
    activity.audit(actor, "point_rule_changed", key=key, old=row.value, new=int(value))
    row.value = int(value)
    db.session.commit()
    return row


def award(user_id, amount, reason, cause, entry_id=None):
    """Append a ledger row for `cause` unless that cause was already paid; True when it paid.

    The unique key on `cause` decides in the database, so concurrent requests and retries pay once.
    The caller commits.
    """
    paid = insert_once(PointAward, {"user_id": user_id, "amount": amount, "reason": reason, "cause": cause,
                                    "entry_id": entry_id, "created_at": utcnow()}, ["cause"])
    return paid is not None


def adoption_amount(kind_slug, quality, is_edit):
    """Points for an adopted revision: base by kind (or the edit base) × mean rubric score / 3,
    rounded half up (四舍五入), not Python's half-to-even."""
    base = rule("adopt.edit") if is_edit else rule(f"adopt.{kind_slug}", default=None)
    if base is None:  # a kind added after the rules were seeded
        base = rule("adopt.other")
    return math.floor(base * quality / QUALITY_PIVOT + 0.5)


def reverse_entry(entry_id):
    """Reverse every adoption award of an entry with new negative rows (retraction); the amounts."""
    paid = db.session.scalars(select(PointAward).where(
        PointAward.entry_id == entry_id,
        PointAward.reason.in_([Reason.ENTRY_ADOPTED, Reason.EDIT_ADOPTED]))).all()
    return [-p.amount for p in paid if award(p.user_id, -p.amount, Reason.RETRACTION, f"reverse:{p.id}", entry_id)]


def local_day(moment=None):
    """The calendar day of a moment in the configured time zone, as YYYY-MM-DD."""
    return (moment or utcnow()).astimezone(periods.zone()).date().isoformat()


def award_helpful(receiver_id, entry_id, voter_id):
    """Pay a helpful vote, at most `helpful.daily_cap` a day per receiver.

    Each of the day's payments takes a numbered slot in its cause ("helpful:RECEIVER:DAY:N"), so the
    unique key enforces the cap even when votes arrive at the same instant.
    """
    day, cap = local_day(), rule("helpful.daily_cap")
    prefix = f"helpful:{receiver_id}:{day}:"
    used = db.session.scalar(select(func.count()).where(PointAward.cause.like(prefix + "%")))
    for slot in range(used + 1, cap + 1):
        if award(receiver_id, rule("helpful"), Reason.HELPFUL, f"{prefix}{slot}", entry_id):
            return True
    return False


def total(user_id, since=None, until=None):
    """A user's points, all time or within [since, until)."""
    query = select(func.coalesce(func.sum(PointAward.amount), 0)).where(PointAward.user_id == user_id)
    if since is not None:
        query = query.where(PointAward.created_at >= since)
    if until is not None:
        query = query.where(PointAward.created_at < until)
    return db.session.scalar(query)


def ledger(user_id, limit=200):
    """A user's newest ledger rows."""
    return db.session.scalars(select(PointAward).where(PointAward.user_id == user_id)
                              .order_by(PointAward.created_at.desc(), PointAward.id.desc()).limit(limit)).all()

