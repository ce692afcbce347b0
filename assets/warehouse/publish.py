"""Publish the result tables for analysts: $TRADEPIPE_HOME/analytics.duckdb, readable at any time.

DuckDB lets one process hold a database file for writing, and nobody can open it meanwhile, so
analysts never query the warehouse during a run. Instead each complete run copies the contract's
tables into a new file beside the old one and renames it over `analytics.duckdb` in one step
(os.replace): a reader that opened the old file keeps reading it, a reader that opens the path
afterwards gets the new one; nobody sees a half-written state and nobody blocks the run.
"""

import os
import re
import shutil
import uuid
from pathlib import Path

import duckdb

from assets.warehouse.connection import ident, literal

SCHEMAS = ("marts", "ml", "trading")
# Views are re-created over the published tables; everything else is copied as a table.
_CATALOG = re.compile(r'\b"?warehouse"?\.')


# Tables of incremental dbt models: after an incremental build only their recent dates change
# (fct_alpha158 only where the feature set builds it).
INCREMENTAL_MARTS = ("fct_features", "fct_prices", "fct_labels", "fct_alpha158")
PUBLISHED_DDL = ("create table if not exists ops.published (build_id bigint, build_started_at timestamp, "
                 "prices_through date, mode varchar, published_at timestamp)")


def _has_builds(con: duckdb.DuckDBPyConnection) -> bool:
    return con.execute("select count(*) from duckdb_tables() where database_name = 'src' and schema_name = 'ops' "
                       "and table_name = 'dbt_builds'").fetchone()[0] > 0


def _incremental_since(warehouse: duckdb.DuckDBPyConnection, target: Path) -> tuple[int, object] | None:
    """(dbt build id, prices_through) of the previous publication when every dbt build since it was
    incremental and succeeded -- so its incremental marts differ from the warehouse's only in recent
    dates; None otherwise (no previous file, a full refresh since, a failed build)."""
    if not target.exists() or not _has_builds(warehouse):
        return None
    try:
        with duckdb.connect(str(target), read_only=True) as old:
            last = old.execute("select build_id, prices_through, build_started_at from ops.published").fetchone()
    except duckdb.Error:
        return None
    if last is None or None in last:
        return None
    since = warehouse.execute("select count(*), count(*) filter (where mode = 'incremental' and status = 'succeeded') "
                              "from src.ops.dbt_builds where build_id > ?", [last[0]]).fetchone()
    # the same build of the same warehouse (a rebuilt warehouse numbers its builds from 1 again)
    published = warehouse.execute("select count(*) from src.ops.dbt_builds where build_id = ? and started_at = ? "
                                  "and status = 'succeeded'", [last[0], last[2]]).fetchone()[0]
    return (last[0], last[1]) if published and since[0] == since[1] else None


def publish_analytics(warehouse: Path, target: Path, schemas: tuple[str, ...] = SCHEMAS) -> dict[str, int]:
    """Copy every table and view of ``schemas`` from ``warehouse`` into a fresh file and move it
    over ``target`` atomically. Returns rows per published table.

    When only incremental dbt builds ran since the last publication, the fresh file starts as a
    copy of the published one and the incremental marts (INCREMENTAL_MARTS) are refreshed from
    the dates the builds could have changed on (the longest label horizon + 5 trading days before
    the previous last price date); every other table is copied whole. Same result, a fraction of
    the time on a long history (the feature table is most of the bytes). Anything unexpected on
    that path falls back to the full copy."""
    remove_leftovers(target)
    with duckdb.connect() as probe:
        probe.execute(f"attach {literal(warehouse)} as src (read_only)")
        previous = _incremental_since(probe, target)
    if previous is not None:
        try:
            return _publish(warehouse, target, schemas, previous)
        except duckdb.Error:
            pass
    return _publish(warehouse, target, schemas, None)


def remove_leftovers(target: Path) -> list[Path]:
    """Delete temporary files an interrupted publication left beside ``target`` (a crash between
    creating the fresh file and renaming it); returns what was removed."""
    leftovers = sorted(target.parent.glob(f".{target.name}.*.tmp")) + sorted(target.parent.glob(f".{target.name}.*.tmp.wal"))
    for path in leftovers:
        path.unlink(missing_ok=True)
    return leftovers


def _publish(warehouse: Path, target: Path, schemas: tuple[str, ...], previous: tuple | None) -> dict[str, int]:
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    counts: dict[str, int] = {}
    try:
        if previous is not None:
            shutil.copyfile(target, tmp)
        con = duckdb.connect(str(tmp))
        try:
            con.execute(f"attach {literal(warehouse)} as src (read_only)")
            tables = con.execute("select schema_name, table_name from duckdb_tables() where database_name = 'src' "
                                 "and schema_name in ? order by all", [list(schemas)]).fetchall()
            views = con.execute("select schema_name, view_name, sql from duckdb_views() where database_name = 'src' "
                                "and not internal and schema_name in ? order by all", [list(schemas)]).fetchall()
            kept: set[tuple[str, str]] = set()
            if previous is not None:
                kept = _refresh_incremental_marts(con, previous[1])
                here = "database_name = current_database() and schema_name in ?"
                for schema, view in con.execute(f"select schema_name, view_name from duckdb_views() where {here} "
                                                "and not internal", [list(schemas)]).fetchall():
                    con.execute(f"drop view {ident(schema)}.{ident(view)}")
                for schema, table in con.execute(f"select schema_name, table_name from duckdb_tables() where {here}",
                                                 [list(schemas)]).fetchall():
                    if (schema, table) not in kept:
                        con.execute(f"drop table {ident(schema)}.{ident(table)}")
            for schema in (*schemas, "ops"):
                con.execute(f"create schema if not exists {ident(schema)}")
            for schema, table in tables:
                if (schema, table) not in kept:
                    con.execute(f"create table {ident(schema)}.{ident(table)} as select * from src.{ident(schema)}.{ident(table)}")
                counts[f"{schema}.{table}"] = con.execute(f"select count(*) from {ident(schema)}.{ident(table)}").fetchone()[0]
            build = con.execute("select build_id, started_at from src.ops.dbt_builds where status = 'succeeded' "
                                "order by build_id desc limit 1").fetchone() if _has_builds(con) else None
            build = build or (None, None)
            through = con.execute("select max(date) from src.marts.fct_prices").fetchone()[0] \
                if ("marts", "fct_prices") in set(tables) else None
            con.execute("detach src")
            for _schema, _view, sql in views:
                con.execute(_CATALOG.sub("", sql))
            con.execute(PUBLISHED_DDL)
            con.execute("delete from ops.published")
            con.execute("insert into ops.published values (?, ?, ?, ?, now()::timestamp)",
                        [build[0], build[1], through, "incremental" if previous is not None else "full"])
            con.execute("checkpoint")
        finally:
            con.close()
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
        tmp.with_name(tmp.name + ".wal").unlink(missing_ok=True)
    return counts


def _refresh_incremental_marts(con: duckdb.DuckDBPyConnection, previous_through) -> set[tuple[str, str]]:
    """Replace the recent dates of the incremental marts of the copied file from the warehouse."""
    horizon = con.execute("select coalesce(max(horizon), 0) from src.marts.fct_labels").fetchone()[0]
    cutoff = con.execute("""select coalesce(min(date), ?) from (
                                select date from src.intermediate.int_trading_days_numbered
                                where date <= ? order by date desc limit ?)""",
                         [previous_through, previous_through, int(horizon) + 5]).fetchone()[0]
    kept = set()
    here = {t for (t,) in con.execute("select table_name from duckdb_tables() where schema_name = 'marts' "
                                      "and database_name = current_database()").fetchall()}
    there = {t for (t,) in con.execute("select table_name from duckdb_tables() where schema_name = 'marts' "
                                       "and database_name = 'src'").fetchall()}
    for table in INCREMENTAL_MARTS:
        if table not in here or table not in there:  # a model not built (fct_alpha158): copied whole or dropped
            continue
        con.execute(f"delete from marts.{table} where date >= ?", [cutoff])
        con.execute(f"insert into marts.{table} select * from src.marts.{table} where date >= ?", [cutoff])
        kept.add(("marts", table))
    return kept
