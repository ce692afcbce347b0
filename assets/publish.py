"""Publish the result tables for analysts: $TRADEPIPE_HOME/analytics.duckdb, readable at any time
(the copy is made by assets/warehouse/publish.py)."""

import time

import dagster as dg

from assets import metadata
from assets.backtest import BACKTEST
from assets.checks import DAILY_FRESHNESS
from assets.monitoring import MONITORING
from assets.reports import DAILY_REPORT
from assets.resources import TradepipeSettings
from assets.trades import POSITIONS
from assets.warehouse.connection import shell_command
from assets.warehouse.publish import publish_analytics

ANALYTICS_DB = dg.AssetKey(["publish", "analytics_db"])

@dg.asset(key=ANALYTICS_DB, deps=[DAILY_REPORT, POSITIONS, MONITORING, BACKTEST], group_name="publish",
          kinds={"duckdb"}, freshness_policy=DAILY_FRESHNESS)
def analytics_db(settings: TradepipeSettings) -> dg.MaterializeResult:
    """$TRADEPIPE_HOME/analytics.duckdb: the marts, ml and trading tables of the warehouse after a
    complete run, swapped in atomically. Open it read-only at any time, even during a run."""
    target = settings.home_path / "analytics.duckdb"
    started = time.perf_counter()
    counts = publish_analytics(settings.warehouse_path, target)
    return dg.MaterializeResult(metadata=metadata.entries({
        "path": dg.MetadataValue.path(str(target)), "tables": len(counts),
        "seconds": round(time.perf_counter() - started, 2),
        "rows": dg.MetadataValue.json(counts),
        "connect": dg.MetadataValue.md(f"`{shell_command(target)}`"),
    }))
