"""Full or incremental: which kind of dbt build a run needs, and the record of every build.

The price-path models are incremental (dbt_project/macros/incremental.sql): a daily run builds
only the dates after the last one built. That is right only when nothing before those dates
changed, so every build is recorded in ``ops.dbt_builds`` with a digest of the price rows it
covered and of everything else the models read (the dbt SQL, vars, raw.instruments). The next
build is incremental when the last one succeeded and the price rows up to its last date, and the
rest, digest the same; otherwise (first build, a restated or late bar, a new ticker's history, an
edited model, a failed or interrupted build) it is a full refresh, and the reason is recorded.
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from assets.warehouse.connection import table_exists

BUILDS_DDL = """
create schema if not exists ops;
create table if not exists ops.dbt_builds (
    build_id bigint, started_at timestamp, finished_at timestamp,
    mode varchar,                -- 'full' or 'incremental'
    reason varchar,
    status varchar,              -- 'running', 'succeeded', 'failed', 'partial' (full, not every model)
    prices_through date,         -- last price date the build covered
    prices_rows bigint,          -- raw.prices rows dated on or before prices_through
    prices_digest varchar,       -- digest of those rows
    inputs_digest varchar        -- digest of the dbt project, its vars and raw.instruments
)
"""

PRICE_COLUMNS = "date, ticker, open, high, low, close, volume, adj_close, has_adj_close"


@dataclass(frozen=True)
class BuildPlan:
    mode: str        # 'full' or 'incremental'
    reason: str


def prices_digest(con: duckdb.DuckDBPyConnection, through: date | None) -> tuple[int, str]:
    """(rows, digest) of raw.prices rows dated on or before ``through`` (order-independent)."""
    rows, total = con.execute(
        f"select count(*), coalesce(sum(hash({PRICE_COLUMNS})::hugeint), 0) from raw.prices "
        "where date <= ?", [through]).fetchone()
    return int(rows), str(total)


def inputs_digest(con: duckdb.DuckDBPyConnection, project_dir: Path, dbt_vars: dict[str, Any]) -> str:
    """Digest of what the incremental models read besides the prices: SQL, vars, instruments."""
    digest = hashlib.sha256()
    for folder in ("models", "macros"):
        for path in sorted((project_dir / folder).rglob("*")):
            if path.is_file():
                digest.update(path.relative_to(project_dir).as_posix().encode())
                digest.update(path.read_bytes())
    digest.update((project_dir / "dbt_project.yml").read_bytes())
    digest.update(json.dumps(dbt_vars, sort_keys=True).encode())
    if table_exists(con, "raw.instruments"):
        digest.update(str(con.execute("select coalesce(sum(hash(i)::hugeint), 0) from raw.instruments i")
                          .fetchone()[0]).encode())
    return digest.hexdigest()


def last_build(con: duckdb.DuckDBPyConnection) -> dict[str, Any] | None:
    if not table_exists(con, "ops.dbt_builds"):
        return None
    rows = con.execute("select * from ops.dbt_builds order by build_id desc limit 1").df()
    return None if rows.empty else rows.iloc[0].to_dict()


def plan_build(con: duckdb.DuckDBPyConnection, inputs: str, full_refresh: bool = False) -> BuildPlan:
    """Full refresh or incremental, with the reason (see the module docstring)."""
    if full_refresh:
        return BuildPlan("full", "a full refresh was asked for")
    last = last_build(con)
    if last is None or not table_exists(con, "marts.fct_features"):
        return BuildPlan("full", "first build of this warehouse")
    if last["status"] != "succeeded":
        return BuildPlan("full", f"the last build (#{last['build_id']}, {last['mode']}) did not finish "
                                 f"({last['status']})")
    if last["inputs_digest"] != inputs:
        return BuildPlan("full", "the dbt models, their vars or raw.instruments changed since the last build")
    through = last["prices_through"]
    if pd.isna(through):
        return BuildPlan("full", "the last build covered no price rows")
    through = pd.Timestamp(through).date()
    rows, digest = prices_digest(con, through)
    if digest != last["prices_digest"] or rows != last["prices_rows"]:
        return BuildPlan("full", f"price rows dated on or before {through} changed since the last build "
                                 f"({last['prices_rows']} rows then, {rows} now)")
    new_rows = con.execute("select count(*) from raw.prices where date > ?", [through]).fetchone()[0]
    return BuildPlan("incremental", f"{new_rows} new price rows after {through}; nothing before changed")


def record_start(con: duckdb.DuckDBPyConnection, plan: BuildPlan, inputs: str) -> int:
    """Open the build's row with the digest of the price rows it is about to build from."""
    con.execute(BUILDS_DDL)
    build_id = con.execute("select coalesce(max(build_id), 0) + 1 from ops.dbt_builds").fetchone()[0]
    through, rows, digest = None, None, None
    if table_exists(con, "raw.prices"):
        through = con.execute("select max(date) from raw.prices").fetchone()[0]
        rows, digest = prices_digest(con, through)
    con.execute("insert into ops.dbt_builds (build_id, started_at, mode, reason, status, prices_through, "
                "prices_rows, prices_digest, inputs_digest) values (?, now()::timestamp, ?, ?, 'running', ?, ?, ?, ?)",
                [build_id, plan.mode, plan.reason, through, rows, digest, inputs])
    return int(build_id)


def record_end(con: duckdb.DuckDBPyConnection, build_id: int, status: str) -> None:
    """Close the build's row: succeeded, failed or partial."""
    con.execute("update ops.dbt_builds set finished_at = now()::timestamp, status = ? where build_id = ?",
                [status, build_id])
