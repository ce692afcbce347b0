"""Ten representative features in plain pandas, against the same ten as one DuckDB SQL query.

The pandas code is written the way a user would write it: sort, ``groupby("ticker")``, then
``shift`` and ``rolling(n, min_periods=n)``. The definitions follow the dbt models
(``int_returns_windowed``, ``int_prices_windowed``): windows run over each ticker's valid rows
ordered by date, and a windowed value is NULL (NaN) until its ``n`` rows all have a value.

Run as a child process of ``bench.run`` on a built warehouse::

    python -m bench.pandas_reference WAREHOUSE OUT_JSON [--repeat N]

It reads ``intermediate.int_prices_validated`` into pandas (load time reported, not compared),
times the pandas features and the SQL query (best of ``N`` runs each; the SQL result goes into a
temp table, DuckDB threads left at their default), then checks that both agree, and that the
SQL agrees with dbt's ``marts.fct_features``. Results are written to ``OUT_JSON``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

FEATURES: tuple[str, ...] = (
    "ret_1d", "ret_5d", "ret_20d", "mom_12_1", "vol_20d", "close_to_ma20",
    "rsi_14", "volume_ratio_20d", "dist_high_252d", "atr_14d_ratio",
)

PRICES_SQL = """
    select ticker, date, open, high, low, close, volume
    from intermediate.int_prices_validated
"""

# The same ten features as one query with window functions (NULL until a window is full),
# written as the dbt models compile (int_returns_windowed, int_prices_windowed).
FEATURES_SQL = """
create or replace temp table bench_sql_features as
with

daily as (
    select
        ticker, date, history_days, high, low, close, volume,
        lag(close) over w as prev_close,
        lag(close, 5) over w as close_5,
        lag(close, 20) over w as close_20,
        lag(close, 21) over w as close_21,
        lag(close, 252) over w as close_252
    from intermediate.int_prices_validated
    window w as (partition by ticker order by date)
),

moves as (
    select
        *,
        close / prev_close - 1 as ret_1d,
        case when prev_close is not null then greatest(close - prev_close, 0) end as gain,
        case when prev_close is not null then greatest(prev_close - close, 0) end as loss,
        case when prev_close is not null
            then greatest(high - low, abs(high - prev_close), abs(low - prev_close))
        end as true_range
    from daily
),

windows as (
    -- As the dbt rolling() macro compiles with nonnull_from: the inputs are non-null from the
    -- ticker's row nonnull_from on, so "window full" is a test on history_days, not a count.
    select
        *,
        case when history_days >= 21 then stddev_samp(ret_1d) over w20 end as vol_20d,
        case when history_days >= 20 then avg(close) over w20 end as ma_20,
        case when history_days >= 20 then avg(volume) over w20 end as volume_20,
        case when history_days >= 15 then avg(gain) over w14 end as gain_14,
        case when history_days >= 15 then avg(loss) over w14 end as loss_14,
        case when history_days >= 15 then avg(true_range) over w14 end as atr_14,
        case when history_days >= 252 then max(high) over w252 end as high_252
    from moves
    window
        w14 as (partition by ticker order by date rows between 13 preceding and current row),
        w20 as (partition by ticker order by date rows between 19 preceding and current row),
        w252 as (partition by ticker order by date rows between 251 preceding and current row)
)

select
    ticker,
    date,
    ret_1d,
    close / close_5 - 1 as ret_5d,
    close / close_20 - 1 as ret_20d,
    close_21 / close_252 - 1 as mom_12_1,
    vol_20d,
    close / ma_20 as close_to_ma20,
    100 * (gain_14 / nullif(gain_14 + loss_14, 0)) as rsi_14,
    volume / volume_20 as volume_ratio_20d,
    close / high_252 - 1 as dist_high_252d,
    atr_14 / close as atr_14d_ratio
from windows
"""


def pandas_features(prices: pd.DataFrame) -> pd.DataFrame:
    """Return ticker, date and the ten features computed with groupby/shift/rolling."""
    df = prices.sort_values(["ticker", "date"], ignore_index=True)
    by_ticker = df.groupby("ticker", sort=False)

    def rolling(values: pd.Series, n: int, how: str) -> pd.Series:
        """``how`` (mean, std, max) over each ticker's last n rows, NaN until all n are present."""
        window = values.groupby(df["ticker"], sort=False).rolling(n, min_periods=n)
        return getattr(window, how)().reset_index(level=0, drop=True)

    close = df["close"]
    prev_close = by_ticker["close"].shift(1)
    gain = (close - prev_close).clip(lower=0)
    loss = (prev_close - close).clip(lower=0)
    true_range = np.maximum.reduce(  # NaN (not a partial max) on a ticker's first row
        [df["high"] - df["low"], (df["high"] - prev_close).abs(), (df["low"] - prev_close).abs()]
    )
    gain_14 = rolling(gain, 14, "mean")
    loss_14 = rolling(loss, 14, "mean")

    out = df[["ticker", "date"]].copy()
    out["ret_1d"] = close / prev_close - 1
    out["ret_5d"] = close / by_ticker["close"].shift(5) - 1
    out["ret_20d"] = close / by_ticker["close"].shift(20) - 1
    out["mom_12_1"] = by_ticker["close"].shift(21) / by_ticker["close"].shift(252) - 1
    out["vol_20d"] = rolling(out["ret_1d"], 20, "std")
    out["close_to_ma20"] = close / rolling(close, 20, "mean")
    out["rsi_14"] = 100 * gain_14 / (gain_14 + loss_14).replace(0, np.nan)
    out["volume_ratio_20d"] = df["volume"] / rolling(df["volume"], 20, "mean")
    out["dist_high_252d"] = close / rolling(df["high"], 252, "max") - 1
    out["atr_14d_ratio"] = rolling(pd.Series(true_range, index=df.index), 14, "mean") / close
    return out


def _best_of(repeat: int, action: Any) -> tuple[float, Any]:
    """Run ``action()`` ``repeat`` times; return the shortest wall time and the last result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = action()
        best = min(best, time.perf_counter() - start)
    return best, result


def _max_abs_diffs(con: duckdb.DuckDBPyConnection, left: str, right: str) -> dict[str, dict[str, float | int | None]]:
    """Per feature: max |left - right| over rows both have, and rows where only one is NULL."""
    parts = ", ".join(
        f"max(abs(l.{c} - r.{c})) as {c}_diff, "
        f"count(*) filter (where (l.{c} is null) <> (r.{c} is null)) as {c}_nulls"
        for c in FEATURES
    )
    row = con.execute(
        f"select count(*) as n, {parts} from {left} l inner join {right} r using (ticker, date)"
    ).fetchone()
    result: dict[str, dict[str, float | int | None]] = {"_joined_rows": {"rows": row[0]}}
    for i, column in enumerate(FEATURES):
        result[column] = {"max_abs_diff": row[1 + 2 * i], "null_mismatch": row[2 + 2 * i]}
    return result


def compare(warehouse: Path, repeat: int = 1) -> dict[str, Any]:
    """Time pandas against SQL on ``warehouse`` and check that their values agree."""
    con = duckdb.connect(str(warehouse), read_only=True)
    start = time.perf_counter()
    prices = con.execute(PRICES_SQL).df()
    load_s = time.perf_counter() - start

    pandas_s, features = _best_of(repeat, lambda: pandas_features(prices))
    sql_s, _ = _best_of(repeat, lambda: con.execute(FEATURES_SQL))
    sql_rows = con.execute("select count(*) from bench_sql_features").fetchone()[0]

    con.register("bench_pandas_features", features)
    pandas_vs_sql = _max_abs_diffs(con, "bench_pandas_features", "bench_sql_features")
    has_dbt = con.execute(
        "select count(*) from information_schema.tables "
        "where table_schema = 'marts' and table_name = 'fct_features'"
    ).fetchone()[0]
    sql_vs_dbt = _max_abs_diffs(con, "bench_sql_features", "marts.fct_features") if has_dbt else None
    threads = con.execute("select current_setting('threads')").fetchone()[0]
    con.close()
    return {
        "rows": len(prices),
        "pandas_rows": len(features),
        "sql_rows": sql_rows,
        "load_s": load_s,
        "pandas_s": pandas_s,
        "sql_s": sql_s,
        "pandas_over_sql": pandas_s / sql_s if sql_s > 0 else None,
        "repeat": repeat,
        "duckdb_threads": threads,
        "pandas_vs_sql": pandas_vs_sql,
        "sql_vs_dbt_fct_features": sql_vs_dbt,
    }


def main() -> None:
    """Command line: compare on one warehouse and write the result as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("warehouse", type=Path)
    parser.add_argument("out_json", type=Path)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each side; the best is kept")
    args = parser.parse_args()
    args.out_json.write_text(json.dumps(compare(args.warehouse, args.repeat), indent=2, default=str))


if __name__ == "__main__":
    main()
