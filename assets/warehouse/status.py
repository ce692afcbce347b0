"""What the command line (assets/cli.py) reports: read-only summaries of a warehouse or its
published copy."""

from typing import Any

import duckdb

from assets.warehouse.connection import columns_of, qualified, scalar, table_exists


def table_stats(con: duckdb.DuckDBPyConnection, table: str) -> tuple[int, Any, Any] | None:
    """(rows, first date, last date) of ``table`` (dates None without a date column); None when missing."""
    if not table_exists(con, table):
        return None
    if "date" in columns_of(con, table):
        return con.execute(f"select count(*), min(date), max(date) from {qualified(table)}").fetchone()
    return scalar(con, f"select count(*) from {qualified(table)}"), None, None


def quarantine_counts(con: duckdb.DuckDBPyConnection) -> list[tuple[str, int]]:
    return con.execute("select rule, count(*) from marts.quarantine group by rule order by rule").fetchall()


def backtest_rows(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    """(strategy, cagr, sharpe, max_drawdown) of the backtest summary."""
    return con.execute("select strategy, cagr, sharpe, max_drawdown from trading.backtest_summary").fetchall()


def latest_trades(con: duckdb.DuckDBPyConnection) -> tuple[Any, dict[str, int]]:
    """The latest trading date and its orders by status."""
    day = scalar(con, "select max(date) from trading.trades")
    if day is None:
        return None, {}
    return day, dict(con.execute("select status, count(*) from trading.trades where date = ? group by 1 order by 1",
                                 [day]).fetchall())


def latest_market_date(con: duckdb.DuckDBPyConnection):
    return scalar(con, "select max(date) from marts.fct_features")


def latest_approval(con: duckdb.DuckDBPyConnection) -> tuple | None:
    """(date, approved, orders, approved_orders, failed_checks, kill_switch) of the latest decided
    date (kill_switch: 'armed' / 'halted', None for a table written before the column existed)."""
    switch = "kill_switch" if "kill_switch" in columns_of(con, "trading.trade_approvals") else "null"
    return con.execute(f"select date, approved, orders, approved_orders, failed_checks, {switch} "
                       "from trading.trade_approvals order by date desc limit 1").fetchone()


def latest_regime(con: duckdb.DuckDBPyConnection) -> tuple | None:
    return con.execute("select date, regime from ml.regimes order by date desc limit 1").fetchone()


def latest_book(con: duckdb.DuckDBPyConnection) -> tuple | None:
    """(date, equity, cash, mode) of the latest paper book."""
    return con.execute("select date, equity, cash, mode from trading.paper_book order by date desc limit 1").fetchone()


def never_approved(con: duckdb.DuckDBPyConnection) -> bool:
    """True when the gate has decided days but approved none: the paper book cannot exist yet."""
    return table_exists(con, "trading.trade_approvals") and not scalar(
        con, "select count(*) from trading.trade_approvals where approved")


def registry_rows(con: duckdb.DuckDBPyConnection, statuses: list[str]) -> list[tuple]:
    """(model_id, model_type, horizon, train_start, train_end, status, cv_metrics, reason, created_at,
    optimizer) of the registry rows with one of ``statuses``, newest first."""
    columns = set(columns_of(con, "ml.model_registry"))
    reason = "reason" if "reason" in columns else "null"
    optimizer = "optimizer" if "optimizer" in columns else "null"
    return con.execute(
        f"select model_id, model_type, horizon, train_start, train_end, status, cv_metrics, {reason}, created_at, "
        f"{optimizer} from ml.model_registry where list_contains(?, status) order by created_at desc, horizon",
        [statuses]).fetchall()


def latest_trading_date(con: duckdb.DuckDBPyConnection):
    return scalar(con, "select max(date) from trading.trades")


def adapted_rows(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    """(stage, key, configured, chosen, reason) of ops.adapted_settings (assets/warehouse/adapted.py)."""
    if not table_exists(con, "ops.adapted_settings"):
        return []
    return con.execute("select stage, key, configured, chosen, reason from ops.adapted_settings "
                       "order by stage, key").fetchall()
