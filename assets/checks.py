"""Asset checks beyond the dbt tests (which dagster-dbt turns into checks on their models)."""


import dagster as dg

from assets.resources import TradepipeSettings

QUARANTINE = dg.AssetKey(["marts", "quarantine"])

# Above this share of quarantined bars the input is more likely broken than glitchy.
MAX_QUARANTINED_SHARE = 0.01


@dg.asset_check(asset=QUARANTINE, description="Counts quarantined bars by rule; warns when more than 1% of bars are quarantined.")
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
        passed=share <= MAX_QUARANTINED_SHARE,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "quarantined_bars": quarantined,
            "bars": bars,
            "quarantined_share": float(share),
            "by_rule": dg.MetadataValue.json(by_rule),
        },
    )
