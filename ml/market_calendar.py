"""The exchange calendar the schedules and freshness rules run on (NYSE by default).

Sessions, holidays and early closes come from ``exchange_calendars`` (maintained, rule-based:
nothing is downloaded). The calendar object is built on first use, never at import.

Examples
--------
>>> is_session("2024-07-04")          # Independence Day
False
>>> is_session("2024-11-29")          # the day after Thanksgiving: an early close, still a session
True
>>> is_last_session_of_week("2024-03-28")   # Good Friday is a holiday: Thursday ends the week
True
"""

from __future__ import annotations

from functools import cache

import exchange_calendars as xcals
import pandas as pd

__all__ = ["DEFAULT_EXCHANGE", "calendar", "is_last_session_of_week", "is_session", "last_completed_session"]

DEFAULT_EXCHANGE = "XNYS"


@cache
def calendar(exchange: str = DEFAULT_EXCHANGE) -> xcals.ExchangeCalendar:
    """The ``exchange_calendars`` calendar (built once per process, on first use)."""
    return xcals.get_calendar(exchange)


def _day(date: object) -> pd.Timestamp:
    day = pd.Timestamp(date)
    if day.tzinfo is not None:
        day = day.tz_convert("America/New_York").tz_localize(None)
    return day.normalize()


def is_session(date: object, exchange: str = DEFAULT_EXCHANGE) -> bool:
    """True when ``date`` (a local date, or a tz-aware time converted to New York) is a trading day."""
    return bool(calendar(exchange).is_session(_day(date)))


def is_last_session_of_week(date: object, exchange: str = DEFAULT_EXCHANGE) -> bool:
    """True when ``date`` is a session and the next session falls in a later ISO week."""
    day = _day(date)
    cal = calendar(exchange)
    if not cal.is_session(day):
        return False
    following = cal.next_session(day)
    return following.isocalendar()[:2] != day.isocalendar()[:2]


def last_completed_session(now: object, exchange: str = DEFAULT_EXCHANGE) -> pd.Timestamp:
    """The latest session whose close (early closes included) is at or before ``now`` (tz-aware,
    or naive UTC)."""
    moment = pd.Timestamp(now)
    moment = moment.tz_localize("UTC") if moment.tzinfo is None else moment.tz_convert("UTC")
    cal = calendar(exchange)
    session = cal.date_to_session(_day(moment), direction="previous")
    if cal.session_close(session) > moment:
        session = cal.previous_session(session)
    return pd.Timestamp(session).tz_localize(None) if pd.Timestamp(session).tzinfo else pd.Timestamp(session)
