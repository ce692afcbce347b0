"""Asset checks beyond the dbt tests (which dagster-dbt turns into checks on their models)."""


from datetime import timedelta

import dagster as dg
import pandas as pd

from assets.resources import TradepipeSettings
from ml.config import describe, settings
from ml.market_calendar import calendar, last_completed_session

QUARANTINE = dg.AssetKey(["marts", "quarantine"])

# Warns (whole history); the latest date's share blocks trading in latest_date_coverage
# (TradepipeSettings.max_quarantined_share): two rules, two settings in [quality].
WARN_QUARANTINED_SHARE = settings().quality.warn_quarantined_share


@dg.asset_check(asset=QUARANTINE, description=f"Counts quarantined bars by rule. "
                                              f"{describe('quality.warn_quarantined_share')} "
                                              f"({WARN_QUARANTINED_SHARE:.0%})")
def quarantine_share(settings: TradepipeSettings) -> dg.AssetCheckResult:
    with settings.warehouse(read_only=True) as con:
        by_rule = dict(con.execute(
            "select rule, count(*) from marts.quarantine group by rule order by rule"
        ).fetchall())
        quarantined, bars = con.execute(
            "select count(*) filter (where not is_valid), count(*) from intermediate.int_prices_flagged"
        ).fetchone()
    share = quarantined / bars if bars else 0.0
    return dg.AssetCheckResult(
        passed=share <= WARN_QUARANTINED_SHARE,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "quarantined_bars": quarantined,
            "bars": bars,
            "quarantined_share": float(share),
            "by_rule": dg.MetadataValue.json(by_rule),
        },
    )


RAW_PRICES = dg.AssetKey(["raw", "prices"])
FCT_PRICES = dg.AssetKey(["marts", "fct_prices"])

# Daily outputs must be refreshed after each weekday's close (the daily schedule runs at 18:30
# New York time). A cron cannot see NYSE holidays: on a holiday these read overdue.
DAILY_FRESHNESS = dg.FreshnessPolicy.cron(deadline_cron="0 20 * * 1-5", lower_bound_delta=timedelta(hours=2),
                                          timezone="America/New_York")


@dg.asset_check(asset=RAW_PRICES, description="Warns when the latest market date in raw.prices is older than "
                                               "the last completed NYSE session before the run.")
def prices_fresh(settings: TradepipeSettings) -> dg.AssetCheckResult:
    with settings.warehouse(read_only=True) as con:
        latest = con.execute("select max(cast(date as date)) from raw.prices").fetchone()[0]
    expected = last_completed_session(pd.Timestamp.now(tz="UTC"))
    latest_ts = pd.Timestamp(latest) if latest is not None else None
    behind = (len(calendar().sessions_in_range(max(latest_ts + pd.Timedelta(days=1), calendar().first_session),
                                               expected))
              if latest_ts is not None and latest_ts < expected else 0)
    return dg.AssetCheckResult(
        passed=latest_ts is not None and latest_ts >= expected, severity=dg.AssetCheckSeverity.WARN,
        description=f"latest {latest_ts.date() if latest_ts is not None else None}; last completed NYSE "
                    f"session {expected.date()}; {behind} sessions behind",
        metadata={"latest_date": str(latest), "expected_date": str(expected.date()), "sessions_behind": behind},
    )


@dg.asset_check(asset=FCT_PRICES, blocking=True,
                description="Blocks trading when the latest date's valid bars cover too little of the universe "
                            "or too many of its bars were quarantined.")
def latest_date_coverage(settings: TradepipeSettings) -> dg.AssetCheckResult:
    with settings.warehouse(read_only=True) as con:
        latest, present, universe, bars, quarantined = con.execute("""
            with latest as (select max(date) as d from marts.fct_prices),
                 recent as (select distinct date from marts.fct_prices order by date desc limit 6)
            select (select d from latest),
                   (select count(distinct ticker) from marts.fct_prices where date = (select d from latest)),
                   (select count(distinct ticker) from marts.fct_prices where date in (select date from recent)),
                   (select count(*) from raw.prices where cast(date as date) = (select d from latest)),
                   (select count(distinct ticker) from marts.quarantine where date = (select d from latest))
        """).fetchone()
    coverage = present / universe if universe else 0.0
    share_q = quarantined / bars if bars else 0.0
    ok = coverage >= settings.min_coverage and share_q <= settings.max_quarantined_share
    return dg.AssetCheckResult(
        passed=ok,
        description=f"{latest}: {present} of {universe} recent tickers have a valid bar ({coverage:.1%}, min "
                    f"{settings.min_coverage:.0%}); {quarantined} of {bars} bars quarantined ({share_q:.1%}, max "
                    f"{settings.max_quarantined_share:.0%})",
        metadata={"date": str(latest), "coverage": float(coverage), "quarantined_share": float(share_q),
                  "present": int(present), "universe": int(universe)},
    )
