"""ml.market_calendar on known NYSE dates (holidays, early closes, weekends)."""

import pandas as pd
import pytest

from ml.market_calendar import (
    is_last_session_of_week,
    is_session,
    last_completed_session,
)


@pytest.mark.parametrize(("day", "expected"), [
    ("2024-07-04", False), ("2024-07-03", True), ("2024-11-29", True), ("2024-07-06", False),
    ("2017-11-10", True), ("2017-11-23", False),
])
def test_is_session(day, expected):
    assert is_session(day) is expected


def test_a_tz_aware_time_is_read_in_new_york():
    # 2024-07-05 01:00 UTC is still July 4th in New York
    assert not is_session(pd.Timestamp("2024-07-05 01:00", tz="UTC"))


@pytest.mark.parametrize(("now", "expected"), [
    ("2024-11-29 17:30+00:00", "2024-11-27"),  # before the 13:00 ET early close; 28th is Thanksgiving
    ("2024-11-29 18:30+00:00", "2024-11-29"),  # after the early close
    ("2024-07-06 12:00+00:00", "2024-07-05"),  # a Saturday
    ("2024-07-08 15:00+00:00", "2024-07-05"),  # Monday, market open
])
def test_last_completed_session(now, expected):
    assert last_completed_session(now) == pd.Timestamp(expected)


def test_last_session_of_week():
    assert is_last_session_of_week("2024-03-28")   # Good Friday follows
    assert is_last_session_of_week("2024-03-22")
    assert not is_last_session_of_week("2024-03-21")
    assert not is_last_session_of_week("2024-03-29")  # a holiday is no session
