"""Jobs and schedules: the daily schedule ticks on NYSE sessions only, the retrain on the week's last."""

from datetime import datetime
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from assets.definitions import defs
from assets.jobs import daily_schedule, weekly_retrain_schedule

NY = ZoneInfo("America/New_York")


def _tick(schedule, day: str, hour: int, minute: int):
    context = dg.build_schedule_context(
        repository_def=defs.get_repository_def(),
        scheduled_execution_time=datetime.fromisoformat(day).replace(hour=hour, minute=minute, tzinfo=NY))
    return list(schedule.evaluate_tick(context).run_requests or [])


@pytest.mark.parametrize(("day", "runs"), [
    ("2024-07-03", True),    # a session (early close at 13:00)
    ("2024-07-04", False),   # Independence Day
    ("2024-11-29", True),    # day after Thanksgiving: early close, still a session
    ("2024-11-28", False),   # Thanksgiving
    ("2024-03-29", False),   # Good Friday
    ("2024-07-06", False),   # a Saturday
])
def test_daily_schedule_runs_on_nyse_sessions_only(day, runs):
    requests = _tick(daily_schedule, day, 18, 30)
    assert bool(requests) is runs
    if runs:
        assert requests[0].run_key == f"daily-{day}"
        assert requests[0].tags["market_date"] == day
        assert requests[0].partition_key == day


@pytest.mark.parametrize(("day", "runs"), [
    ("2024-03-28", True),    # Thursday before Good Friday ends the week
    ("2024-03-22", True),    # an ordinary Friday
    ("2024-03-21", False),   # an ordinary Thursday
])
def test_retrain_runs_on_the_last_session_of_the_week(day, runs):
    assert bool(_tick(weekly_retrain_schedule, day, 20, 0)) is runs


def test_definitions_have_the_jobs_and_stopped_schedules():
    for name in ("daily_job", "retrain_job", "backtest_job"):
        assert defs.resolve_job_def(name) is not None
    for schedule in (daily_schedule, weekly_retrain_schedule):
        assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED
        assert schedule.execution_timezone == "America/New_York"
    daily = {tuple(k.path) for k in defs.resolve_job_def("daily_job").asset_layer.selected_asset_keys}
    assert ("ml", "daily_predictions") in daily and ("trading", "positions") in daily
    assert ("ml", "champion_model") not in daily and ("trading", "backtest") not in daily
