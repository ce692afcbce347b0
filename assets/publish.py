"""Publish the result tables for analysts: $TRADEPIPE_HOME/analytics.duckdb, readable at any time.

DuckDB lets one process hold a database file for writing, and nobody can open it meanwhile, so
analysts never query the warehouse during a run. Instead each complete run copies the contract's
tables into a new file beside the old one and renames it over `analytics.duckdb` in one step
(os.replace): a reader that opened the old file keeps reading it, a reader that opens the path
afterwards gets the new one; nobody sees a half-written state and nobody blocks the run.
"""

import os
import re
import time
import uuid
from pathlib import Path

import dagster as dg
import duckdb

from assets.backtest import BACKTEST
from assets.monitoring import MONITORING
from assets.reports import DAILY_REPORT
from assets.checks import DAILY_FRESHNESS
from assets.resources import TradepipeSettings
from assets.trading import POSITIONS

ANALYTICS_DB = dg.AssetKey(["publish", "analytics_db"])
SCHEMAS = ("marts", "ml", "trading")
# Views are re-created over the published tables; everything else is copied as a table.
_CATALOG = re.compile(r'\b"?warehouse"?\.')


def publish_analytics(warehouse: Path, target: Path, schemas: tuple[str, ...] = SCHEMAS) -> dict[str, int]:
    """Copy every table and view of ``schemas`` from ``warehouse`` into a fresh file and move it
    over ``target`` atomically. Returns rows per published table."""
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    counts: dict[str, int] = {}
    try:
        con = duckdb.connect(str(tmp))
        try:
            con.execute(f"attach '{warehouse}' as src (read_only)")
            tables = con.execute("select schema_name, table_name from duckdb_tables() where database_name = 'src' "
                                 "and schema_name in ? order by all", [list(schemas)]).fetchall()
            views = con.execute("select schema_name, view_name, sql from duckdb_views() where database_name = 'src' "
                                "and not internal and schema_name in ? order by all", [list(schemas)]).fetchall()
            for schema in schemas:
                con.execute(f"create schema if not exists {schema}")
            for schema, table in tables:
                con.execute(f'create table {schema}."{table}" as select * from src.{schema}."{table}"')
                counts[f"{schema}.{table}"] = con.execute(f'select count(*) from {schema}."{table}"').fetchone()[0]
            con.execute("detach src")
            for _schema, _view, sql in views:
                con.execute(_CATALOG.sub("", sql))
            con.execute("checkpoint")
        finally:
            con.close()
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return counts


@dg.asset(key=ANALYTICS_DB, deps=[DAILY_REPORT, POSITIONS, MONITORING, BACKTEST], group_name="publish",
          kinds={"duckdb"}, freshness_policy=DAILY_FRESHNESS)
def analytics_db(settings: TradepipeSettings) -> dg.MaterializeResult:
    """$TRADEPIPE_HOME/analytics.duckdb: the marts, ml and trading tables of the warehouse after a
    complete run, swapped in atomically. Open it read-only at any time, even during a run."""
    target = settings.home_path / "analytics.duckdb"
    started = time.perf_counter()
    counts = publish_analytics(settings.warehouse_path, target)
    return dg.MaterializeResult(metadata={
        "path": dg.MetadataValue.path(str(target)), "tables": len(counts),
        "seconds": round(time.perf_counter() - started, 2),
        "rows": dg.MetadataValue.json(counts),
        "connect": dg.MetadataValue.md(f"`duckdb -readonly {target}`"),
    })
