"""Jobs and their schedules on the NYSE calendar (sessions, holidays and early closes from
exchange_calendars, via ml.market_calendar). Schedules are created stopped: turn them on in the
UI (Automation) or with `dagster schedule start <name>` while the daemon runs (`make ui` starts one)."""

import dagster as dg

from assets.backtest import BACKTEST
from assets.comparison import MODEL_COMPARISON
from assets.partitions import MARKET_DATES
from assets.training import CHAMPION_MODEL, CV_REPORT, OOS_PREDICTIONS
from ml.market_calendar import is_last_session_of_week, is_session

TIMEZONE = "America/New_York"

TRAINING = dg.AssetSelection.assets(CV_REPORT, OOS_PREDICTIONS, CHAMPION_MODEL)
BACKTESTING = dg.AssetSelection.assets(BACKTEST)
SELECTION = dg.AssetSelection.assets(MODEL_COMPARISON)

daily_job = dg.define_asset_job(
    "daily_job",
    selection=dg.AssetSelection.all() - TRAINING - BACKTESTING - SELECTION,
    partitions_def=MARKET_DATES,
    description="Ingest -> dbt -> regime update -> the champion scores the latest date -> signals -> "
                "weights -> trades (safety gate) -> positions -> monitoring -> report -> publish. "
                "No retraining.",
)
retrain_job = dg.define_asset_job(
    "retrain_job", selection=TRAINING,
    description="Walk-forward CV, the final model and the champion/challenger decision (skipped when no "
                "new labels arrived unless force is set).",
)
backtest_job = dg.define_asset_job(
    "backtest_job", selection=BACKTESTING,
    description="The champion's out-of-sample history traded through the daily functions.",
)


@dg.schedule(job=daily_job, cron_schedule="30 18 * * 1-5", execution_timezone=TIMEZONE,
             default_status=dg.DefaultScheduleStatus.STOPPED,
             description="Every NYSE session at 18:30 New York time, after the close (early closes too); "
                         "skips holidays.")
def daily_schedule(context: dg.ScheduleEvaluationContext):
    day = context.scheduled_execution_time
    if not is_session(day):
        return dg.SkipReason(f"{day.date()} is not an NYSE session (holiday)")
    return dg.RunRequest(run_key=f"daily-{day.date()}", partition_key=str(day.date()),
                         tags={"market_date": str(day.date())})


@dg.schedule(job=retrain_job, cron_schedule="0 20 * * 1-5", execution_timezone=TIMEZONE,
             default_status=dg.DefaultScheduleStatus.STOPPED,
             description="Weekly at 20:00 New York time on the last NYSE session of the week "
                         "(Thursday when Friday is a holiday).")
def weekly_retrain_schedule(context: dg.ScheduleEvaluationContext):
    day = context.scheduled_execution_time
    if not is_last_session_of_week(day):
        return dg.SkipReason(f"{day.date()} is not the last NYSE session of its week")
    return dg.RunRequest(run_key=f"retrain-{day.date()}", tags={"market_date": str(day.date())})


compare_job = dg.define_asset_job(
    "compare_job", selection=SELECTION,
    description="Every candidate model x optimizer walked forward on the same folds and backtested; the "
                "winner on the validation window (weighted score after thresholds) becomes champion with "
                "its optimizer; the selection report. Run it after a retrain, or when the candidates change.",
)

JOBS = [daily_job, retrain_job, backtest_job, compare_job]
SCHEDULES = [daily_schedule, weekly_retrain_schedule]
