"""Calendar periods (week, month, quarter, year, all time) in the configured time zone."""
import enum
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from flask import current_app

from ..models.base import utcnow


class Period(enum.StrEnum):
    WEEK = "week"
    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"
    ALL = "all"


@dataclass(frozen=True)
class Window:
    """A half-open UTC range [start, end); both None for all time."""

    period: Period
    start: datetime | None
    end: datetime | None


def zone():
    """The configured time zone (TIMEZONE, Asia/Shanghai by default)."""
    return ZoneInfo(current_app.config["TIMEZONE"])


def window(period, now=None):
    """The calendar period containing `now`, as UTC bounds. Weeks start on Monday."""
    period = Period(period)
    if period == Period.ALL:
        return Window(period, None, None)
    local = (now or utcnow()).astimezone(zone())
    today = local.date()
    if period == Period.WEEK:
        first = today - timedelta(days=today.weekday())
        following = first + timedelta(days=7)
    elif period == Period.MONTH:
        first = today.replace(day=1)
        following = (first + timedelta(days=32)).replace(day=1)
    elif period == Period.QUARTER:
        first = today.replace(month=(today.month - 1) // 3 * 3 + 1, day=1)
        following = (first + timedelta(days=95)).replace(day=1)
    else:
        first = today.replace(month=1, day=1)
        following = first.replace(year=first.year + 1)
    return Window(period, utc_midnight(first), utc_midnight(following))


def utc_midnight(day):
    """The start of a local calendar day, in UTC."""
    return datetime.combine(day, time.min, tzinfo=zone()).astimezone(timezone.utc)


def parse(value, default=Period.MONTH):
    """A Period from a query-string value, or the default when it is missing or unknown."""
    try:
        return Period(value)
    except ValueError:
        return default
