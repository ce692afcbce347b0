"""The daily decision tables, each keyed by market date, written stage by stage:

signals -> target weights (+ the portfolio verdict) -> trades (+ safety checks, the kill switch's
state and the reasons: the features behind each traded name's prediction) -> approval -> positions
(+ the paper book).

A date's decision is replaced as a whole: writing a stage for a date deletes that date's rows of
the stage and of every later stage, so a re-run, or a re-decision that is blocked before the
book moves, leaves exactly what that run decided and nothing of an earlier one.
"""

from typing import Any

import duckdb
import pandas as pd

from assets.warehouse.connection import (
    delete_where,
    frame,
    replace_rows,
    scalar,
    table_exists,
)
from ml.trades import Book, KillSwitchState

# Stages in decision order, each with the tables it writes.
STAGES: dict[str, tuple[str, ...]] = {
    "signals": ("trading.signals",),
    "weights": ("trading.target_weights", "trading.portfolios"),
    "trades": ("trading.trades", "trading.safety_checks", "trading.kill_switch", "trading.trade_reasons"),
    "approval": ("trading.trade_approvals",),
    "positions": ("trading.positions", "trading.paper_book"),
}


def clear_decisions(con: duckdb.DuckDBPyConnection, day: pd.Timestamp, from_stage: str = "signals") -> None:
    """Delete ``day``'s rows of ``from_stage`` and every later stage (inside the caller's transaction)."""
    names = list(STAGES)
    for stage in names[names.index(from_stage):]:
        for table in STAGES[stage]:
            delete_where(con, table, "date = ?", [day.date()])


def write_stage(con: duckdb.DuckDBPyConnection, stage: str, day: pd.Timestamp, rows: dict[str, pd.DataFrame]) -> None:
    """Replace ``day``'s decision from ``stage`` on with ``rows`` (table -> the day's rows of this
    stage), inside the caller's transaction."""
    unknown = sorted(set(rows) - set(STAGES[stage]))
    if unknown:
        raise ValueError(f"stage {stage} writes {STAGES[stage]}, not {unknown}")
    clear_decisions(con, day, stage)
    for table, table_rows in rows.items():
        replace_rows(con, table, table_rows.assign(date=day.date()), "date = ?", [day.date()])


# --- readers -------------------------------------------------------------------------------


def _on(con: duckdb.DuckDBPyConnection, table: str, day: pd.Timestamp, columns: str = "*") -> pd.DataFrame:
    if not table_exists(con, table):
        return pd.DataFrame()
    return frame(con, f"select {columns} from {table} where date = ? order by all", [day.date()])


def signals_on(con: duckdb.DuckDBPyConnection, day: pd.Timestamp) -> pd.DataFrame:
    return _on(con, "trading.signals", day, "ticker, score, signal, method")


def weights_on(con: duckdb.DuckDBPyConnection, day: pd.Timestamp) -> pd.DataFrame:
    return _on(con, "trading.target_weights", day)


def portfolio_on(con: duckdb.DuckDBPyConnection, day: pd.Timestamp) -> dict[str, Any] | None:
    rows = _on(con, "trading.portfolios", day)
    return None if rows.empty else rows.iloc[0].to_dict()


def trades_on(con: duckdb.DuckDBPyConnection, day: pd.Timestamp) -> pd.DataFrame:
    return _on(con, "trading.trades", day)


def safety_checks_on(con: duckdb.DuckDBPyConnection, day: pd.Timestamp) -> pd.DataFrame:
    return _on(con, "trading.safety_checks", day)


def reasons_on(con: duckdb.DuckDBPyConnection, day: pd.Timestamp) -> pd.DataFrame:
    """The date's trade reasons, by ticker and rank."""
    if not table_exists(con, "trading.trade_reasons"):
        return pd.DataFrame()
    return frame(con, "select * exclude (date) from trading.trade_reasons where date = ? order by ticker, rank",
                 [day.date()])


def book_before(con: duckdb.DuckDBPyConnection, day: pd.Timestamp, capital: float) -> tuple[Book, pd.Timestamp | None]:
    """The paper book at the end of the latest date before ``day`` (empty with ``capital`` cash at first)."""
    if not table_exists(con, "trading.paper_book"):
        return Book.empty(capital), None
    last = scalar(con, "select max(date) from trading.paper_book where date < ?", [day.date()])
    if last is None:
        return Book.empty(capital), None
    cash = scalar(con, "select cash from trading.paper_book where date = ?", [last])
    held = frame(con, "select ticker, shares from trading.positions where date = ? and shares <> 0 order by ticker",
                 [last])
    shares = held.set_index("ticker")["shares"].astype("int64") if len(held) else pd.Series(dtype="int64")
    return Book(shares, float(cash)), pd.Timestamp(last)


def kill_switch_before(con: duckdb.DuckDBPyConnection, day: pd.Timestamp) -> tuple[KillSwitchState, pd.Timestamp | None]:
    """The kill switch after the latest decision date before ``day`` (armed when there is none)
    and the first date of its halt (None when armed): the state the date's decision starts from,
    so re-deciding a date starts from the same state."""
    if not table_exists(con, "trading.kill_switch"):
        return KillSwitchState(), None
    rows = frame(con, "select * from trading.kill_switch where date = (select max(date) from trading.kill_switch "
                      "where date < ?)", [day.date()])
    if rows.empty:
        return KillSwitchState(), None
    start = rows["halt_start"].iloc[0]
    return KillSwitchState.from_record(rows.iloc[0]), None if pd.isna(start) else pd.Timestamp(start)


def kill_switch_on(con: duckdb.DuckDBPyConnection, day: pd.Timestamp) -> dict[str, Any] | None:
    rows = _on(con, "trading.kill_switch", day)
    return None if rows.empty else rows.iloc[0].to_dict()


def kill_switch_history(con: duckdb.DuckDBPyConnection, until: pd.Timestamp) -> pd.DataFrame:
    """``trading.kill_switch`` up to and including ``until``, by date (empty without the table)."""
    if not table_exists(con, "trading.kill_switch"):
        return pd.DataFrame()
    return frame(con, "select * from trading.kill_switch where date <= ? order by date", [until.date()])


def equity_on(con: duckdb.DuckDBPyConnection, day: pd.Timestamp) -> float | None:
    if not table_exists(con, "trading.paper_book"):
        return None
    return scalar(con, "select equity from trading.paper_book where date = ?", [day.date()])


def book_history_before(con: duckdb.DuckDBPyConnection, day: pd.Timestamp) -> pd.DataFrame:
    """The paper book's recorded (date, daily_return, equity) before ``day``."""
    if not table_exists(con, "trading.paper_book"):
        return pd.DataFrame(columns=["date", "daily_return", "equity"])
    return frame(con, "select date, daily_return, equity from trading.paper_book where date < ? order by date",
                 [day.date()])
