"""Data-quality checks beyond the dbt tests (which dagster-dbt turns into checks on their models),
and the freshness policy of the daily outputs."""


from datetime import timedelta

import dagster as dg
import pandas as pd

from assets import metadata
from assets.dbt import FCT_PRICES, QUARANTINE
from assets.ingest import RAW_INSTRUMENTS, RAW_MACRO, RAW_PRICES
from assets.resources import TradepipeSettings
from assets.warehouse import marts, raw
from ml.config import describe, settings
from ml.ingest import MACRO_SERIES
from ml.market_calendar import calendar, last_completed_session

# Warns (whole history); the latest date's share blocks trading in latest_date_coverage
# (TradepipeSettings.max_quarantined_share): two rules, two settings in [quality].
WARN_QUARANTINED_SHARE = settings().quality.warn_quarantined_share

# Daily outputs must be refreshed after each weekday's close (the daily schedule runs at 18:30
# New York time). A cron cannot see NYSE holidays: on a holiday these read overdue.
DAILY_FRESHNESS = dg.FreshnessPolicy.cron(deadline_cron="0 20 * * 1-5", lower_bound_delta=timedelta(hours=2),
                                          timezone="America/New_York")


def run_market_date(context: dg.AssetCheckExecutionContext) -> pd.Timestamp | None:
    """The market date (partition) the run materializes; None for an unpartitioned run."""
    try:
        key = context.run.tags.get("dagster/partition")
    except dg.DagsterError:  # invoked directly, outside a run: no run, no partition
        return None
    return pd.Timestamp(key) if key else None


@dg.asset_check(asset=QUARANTINE, description=f"Counts quarantined bars by rule. "
                                              f"{describe('quality.warn_quarantined_share')} "
                                              f"({WARN_QUARANTINED_SHARE:.0%})")
def quarantine_share(settings: TradepipeSettings) -> dg.AssetCheckResult:
    with settings.warehouse(read_only=True) as con:
        by_rule = marts.quarantine_by_rule(con)
        quarantined, bars = marts.quarantined_bars(con)
    share = quarantined / bars if bars else 0.0
    return dg.AssetCheckResult(
        passed=share <= WARN_QUARANTINED_SHARE,
        severity=dg.AssetCheckSeverity.WARN,
        metadata=metadata.entries({
            "quarantined_bars": quarantined,
            "bars": bars,
            "quarantined_share": float(share),
            "by_rule": dg.MetadataValue.json(by_rule),
        }),
    )


@dg.asset_check(asset=RAW_PRICES, description="Warns when the latest market date in raw.prices is older than "
                                               "the last completed NYSE session before the run.")
def prices_fresh(settings: TradepipeSettings) -> dg.AssetCheckResult:
    with settings.warehouse(read_only=True) as con:
        latest = raw.latest_price_date(con)
    expected = last_completed_session(pd.Timestamp.now(tz="UTC"))
    latest_ts = pd.Timestamp(latest) if latest is not None else None
    behind = (len(calendar().sessions_in_range(max(latest_ts + pd.Timedelta(days=1), calendar().first_session),
                                               expected))
              if latest_ts is not None and latest_ts < expected else 0)
    return dg.AssetCheckResult(
        passed=latest_ts is not None and latest_ts >= expected, severity=dg.AssetCheckSeverity.WARN,
        description=f"latest {latest_ts.date() if latest_ts is not None else None}; last completed NYSE "
                    f"session {expected.date()}; {behind} sessions behind",
        metadata=metadata.entries({"latest_date": str(latest), "expected_date": str(expected.date()),
                                   "sessions_behind": behind}),
    )


@dg.asset_check(asset=FCT_PRICES, blocking=True,
                description="Blocks trading when the run's market date (its partition; the latest date for an "
                            "unpartitioned run) has valid bars for too little of the universe, or too many of "
                            "its bars were quarantined.")
def latest_date_coverage(context: dg.AssetCheckExecutionContext, settings: TradepipeSettings) -> dg.AssetCheckResult:
    with settings.warehouse(read_only=True) as con:
        c = marts.coverage(con, run_market_date(context))
    coverage = c["present"] / c["universe"] if c["universe"] else 0.0
    share_q = c["quarantined"] / c["bars"] if c["bars"] else 0.0
    ok = coverage >= settings.min_coverage and share_q <= settings.max_quarantined_share
    return dg.AssetCheckResult(
        passed=ok,
        description=f"{c['date']}: {c['present']} of {c['universe']} recent tickers have a valid bar ({coverage:.1%}, "
                    f"min {settings.min_coverage:.0%}); {c['quarantined']} of {c['bars']} bars quarantined "
                    f"({share_q:.1%}, max {settings.max_quarantined_share:.0%})",
        metadata=metadata.entries({"date": str(c["date"]), "coverage": float(coverage),
                                   "quarantined_share": float(share_q), "present": c["present"],
                                   "universe": c["universe"]}),
    )


@dg.asset_check(asset=RAW_PRICES, blocking=True,
                description="Blocks trading when most bars of the run's market date (its partition; the latest date "
                            "for an unpartitioned run) repeat each ticker's previous bar exactly: a stale feed, "
                            "not news.")
def last_day_not_stale(context: dg.AssetCheckExecutionContext, settings: TradepipeSettings) -> dg.AssetCheckResult:
    with settings.warehouse(read_only=True) as con:
        day = run_market_date(context)
        day = day.date() if day is not None else raw.latest_price_date(con)
        repeated, compared = raw.repeated_bars(con, day)
    share = repeated / compared if compared else 0.0
    return dg.AssetCheckResult(
        passed=share <= settings.max_repeated_share,
        description=f"{day}: {repeated} of {compared} bars repeat the previous bar exactly ({share:.0%}, max "
                    f"{settings.max_repeated_share:.0%})",
        metadata=metadata.entries({"date": str(day), "repeated": int(repeated), "compared": int(compared),
                                   "share": float(share)}))


@dg.asset_check(asset=RAW_MACRO, description=f"Every macro series the pipeline reads is in the macro file "
                                              f"({', '.join(MACRO_SERIES)}): a missing one would silently drop "
                                              f"regime features. Series it does not read are listed.")
def macro_series_present(settings: TradepipeSettings) -> dg.AssetCheckResult:
    with settings.warehouse(read_only=True) as con:
        found = raw.macro_series(con)
    missing = [s for s in MACRO_SERIES if s not in found]
    unknown = [s for s in found if s not in MACRO_SERIES]
    return dg.AssetCheckResult(
        passed=not missing, severity=dg.AssetCheckSeverity.ERROR,
        description=(f"missing {missing}" if missing else "every series present")
                    + (f"; not read by the pipeline: {unknown}" if unknown else ""),
        metadata=metadata.entries({"missing": dg.MetadataValue.json(missing),
                                   "unknown": dg.MetadataValue.json(unknown)}))


@dg.asset_check(asset=RAW_INSTRUMENTS, description="Every ticker of the price files is in the sectors file (one "
                                                    "that is not gets the sector 'Unknown', which the sector cap "
                                                    "treats as one sector).")
def every_ticker_has_a_sector(settings: TradepipeSettings) -> dg.AssetCheckResult:
    with settings.warehouse(read_only=True) as con:
        unsectored = raw.tickers_without_sector(con)
    return dg.AssetCheckResult(
        passed=not unsectored, severity=dg.AssetCheckSeverity.WARN,
        description=f"{len(unsectored)} ticker(s) without a sector" if unsectored else "every ticker has a sector",
        metadata=metadata.entries({"without_sector": len(unsectored),
                                   "examples": dg.MetadataValue.json(unsectored[:20])}))
