"""Read-only access to the dbt marts (and the intermediate tables the checks and charts read).

dbt builds these tables; Python only reads them. Their asset keys come from the dbt manifest
(assets/dbt.py)."""

from collections.abc import Sequence

import duckdb
import pandas as pd

from assets.warehouse.connection import frame, ident, scalar
from ml.training import default_features, feature_set_columns


def features_on(con: duckdb.DuckDBPyConnection, day: pd.Timestamp, columns: Sequence[str] | None = None,
                in_universe: bool = False) -> pd.DataFrame:
    """marts.fct_features of one date with its marts.fct_alpha158 columns when that table is built
    (all columns, or ``columns``; only in-universe rows if asked): every feature a model may have
    been trained on."""
    cols = "*" if columns is None else ", ".join(ident(c) for c in columns)
    where = "date = ?" + (" and in_universe" if in_universe else "")
    alpha158 = "left join marts.fct_alpha158 using (ticker, date)" if has_alpha158(con) else ""
    return frame(con, f"select {cols} from marts.fct_features {alpha158} where {where} order by ticker",
                 [day.date()])


def has_alpha158(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether marts.fct_alpha158 exists: dbt builds it only for the feature sets that use it
    (the dbt var ``alpha158``, from ``[training] feature_set``)."""
    return bool(scalar(con, "select count(*) from duckdb_tables() where database_name = current_database() "
                            "and schema_name = 'marts' and table_name = 'fct_alpha158'"))


def drop_stale_alpha158(con: duckdb.DuckDBPyConnection) -> bool:
    """Drop marts.fct_alpha158 after a build that did not maintain it (dbt var ``alpha158`` false):
    left in place it would stop at its last build's date while scoring, the training panel and the
    analytics copy still read it. Whether it was there to drop."""
    if not has_alpha158(con):
        return False
    con.execute("drop table marts.fct_alpha158")
    return True


def features_span(con: duckdb.DuckDBPyConnection) -> tuple:
    """(first, last) date of marts.fct_features."""
    return con.execute("select min(date), max(date) from marts.fct_features").fetchone()


def latest_feature_date(con: duckdb.DuckDBPyConnection):
    return scalar(con, "select max(date) from marts.fct_features")


def feature_sample(con: duckdb.DuckDBPyConnection, columns: Sequence[str], start, end, rows: int) -> pd.DataFrame:
    """A seeded reservoir sample of ``rows`` in-universe feature rows dated ``start`` .. ``end``."""
    cols = ", ".join(ident(c) for c in columns)
    return frame(con, f"""select {cols} from marts.fct_features where in_universe and date between ? and ?
                          using sample reservoir({int(rows)} rows) repeatable (7)""", [start, end])


def labels(con: duckdb.DuckDBPyConnection, horizon: int, since: pd.Timestamp,
           label_price: str = "open") -> pd.DataFrame:
    """(ticker, date, fwd_return) of ``horizon`` from ``since`` on: ``label_price``'s label."""
    suffix = {"open": "", "close": "_close"}[label_price]
    return frame(con, f"select ticker, date, fwd_return{suffix} as fwd_return from marts.fct_labels "
                      "where horizon = ? and date >= ?", [horizon, since.date()])


def label_end_dates(con: duckdb.DuckDBPyConnection, horizon: int) -> pd.Series:
    return frame(con, "select label_end_date from marts.fct_training_panel where horizon = ?",
                 [horizon])["label_end_date"]


def panel_horizons(con: duckdb.DuckDBPyConnection) -> list[int]:
    return [h for (h,) in con.execute("select distinct horizon from marts.fct_training_panel order by 1").fetchall()]


def prices_on(con: duckdb.DuckDBPyConnection, day: pd.Timestamp) -> pd.DataFrame:
    """close and 20-day average volume of every ticker on ``day`` (index ticker)."""
    return frame(con, "select ticker, close, adv_20d_shares from marts.fct_prices where date = ? order by ticker",
                 [day.date()]).set_index("ticker")


def trailing_prices(con: duckdb.DuckDBPyConnection, day: pd.Timestamp, dates: int) -> pd.DataFrame:
    """Price rows (ticker, date, open, close, adv_20d_shares) of the last ``dates`` market dates up to ``day``."""
    return frame(con, """
        with dates as (select distinct date from marts.fct_prices where date <= ? order by date desc limit ?)
        select ticker, date, open, close, adv_20d_shares from marts.fct_prices
        where date in (select date from dates) order by date, ticker
    """, [day.date(), dates])


def prices_since(con: duckdb.DuckDBPyConnection, first_date, days_before: int = 400) -> pd.DataFrame:
    """Price rows from ``days_before`` calendar days before ``first_date`` on (covariance warm-up)."""
    return frame(con, f"""select ticker, date, open, close, adv_20d_shares from marts.fct_prices
                          where date >= ? - interval {int(days_before)} day order by date, ticker""", [first_date])


def sectors(con: duckdb.DuckDBPyConnection) -> pd.Series:
    return frame(con, "select ticker, sector from marts.dim_instruments order by ticker").set_index("ticker")["sector"]


def index_close(con: duckdb.DuckDBPyConnection) -> pd.Series:
    """The ^GSPC close as ingested (raw.macro)."""
    return frame(con, "select date, value from raw.macro where series = '^GSPC' order by date").set_index("date")["value"]


def index_level(con: duckdb.DuckDBPyConnection) -> pd.Series:
    """The ^GSPC level as of each date (the as-of macro join), for charts."""
    return frame(con, "select date, gspc from intermediate.int_macro_series_asof where gspc is not null "
                      "order by date").set_index("date")["gspc"]


def regime_features(con: duckdb.DuckDBPyConnection, day=None) -> pd.DataFrame:
    """marts.fct_regime_features: every date, or one."""
    if day is None:
        return frame(con, "select * from marts.fct_regime_features order by date")
    return frame(con, "select * from marts.fct_regime_features where date = ?", [day])


def dates_without_regime(con: duckdb.DuckDBPyConnection) -> int:
    """Regime-feature dates after the first regime that have none."""
    return int(scalar(con, """
        select count(*) from marts.fct_regime_features f
        where f.date >= (select min(date) from ml.regimes)
          and not exists (select 1 from ml.regimes r where r.date = f.date and r.regime is not null)
    """))


# --- data quality ---------------------------------------------------------------------------


def quarantine_by_rule(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    return dict(con.execute("select rule, count(*) from marts.quarantine group by rule order by rule").fetchall())


def quarantined_bars(con: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    """(quarantined bars, all bars) of the flagged price history."""
    return con.execute("select count(*) filter (where not is_valid), count(*) "
                       "from intermediate.int_prices_flagged").fetchone()


def coverage(con: duckdb.DuckDBPyConnection, day: pd.Timestamp | None) -> dict:
    """Valid-bar coverage of ``day`` (default: the latest date of marts.fct_prices): tickers with a
    valid bar that day against those traded on the six latest dates up to it, and the day's raw
    bars and quarantined tickers."""
    if day is None:
        latest = scalar(con, "select max(date) from marts.fct_prices")
        day = None if latest is None else pd.Timestamp(latest)
    if day is None:
        return {"date": None, "present": 0, "universe": 0, "bars": 0, "quarantined": 0}
    d = day.date()
    present, universe, bars, quarantined = con.execute("""
        with recent as (select distinct date from marts.fct_prices where date <= ? order by date desc limit 6)
        select (select count(distinct ticker) from marts.fct_prices where date = ?),
               (select count(distinct ticker) from marts.fct_prices where date in (select date from recent)),
               (select count(*) from raw.prices where cast(date as date) = ?),
               (select count(distinct ticker) from marts.quarantine where date = ?)
    """, [d, d, d, d]).fetchone()
    return {"date": d, "present": int(present), "universe": int(universe), "bars": int(bars),
            "quarantined": int(quarantined)}


def training_panel(con: duckdb.DuckDBPyConnection, horizon: int, features: Sequence[str] | None = None,
                   feature_set: str = "base", label_price: str = "open") -> pd.DataFrame:
    """One horizon of the training panel for ml.training.walk_forward, lean: the keys, the labels
    and the feature columns (``features``, default the ``feature_set`` columns of
    ml.training.default_features of marts.fct_training_panel: see ml.training.feature_set_columns),
    features as float32 (model precision): about half the memory of ``select *``.

    The label is ``label_price``'s (fct_labels: 'open' fwd_return, 'close' fwd_return_close),
    returned as fwd_return / fwd_excess_return. Rows are every in-universe row of
    marts.fct_features (with its marts.fct_alpha158 columns when built) up to the last labelled
    date, labelled or not: a per-date feature normalization then sees the names that date would
    have scored, not only those whose label later turned out to exist (rows without a label are
    predicted, never trained on)."""
    empty = frame(con, "select * from marts.fct_training_panel limit 0")
    names = list(features) if features is not None else list(feature_set_columns(default_features(empty), feature_set))
    missing = [f for f in names if f not in empty.columns]
    if missing:
        raise ValueError(f"marts.fct_training_panel has no feature columns {missing}")
    suffix = {"open": "", "close": "_close"}[label_price]
    columns = ", ".join(["f.ticker", "f.date", "?::integer as horizon", "l.label_end_date",
                         f"l.fwd_return{suffix} as fwd_return", f"l.fwd_excess_return{suffix} as fwd_excess_return"]
                        + [f"cast(f.{ident(f)} as float) as {ident(f)}" for f in names])
    alpha158 = "left join marts.fct_alpha158 using (ticker, date)" if has_alpha158(con) else ""
    return frame(con, f"""
        with labels as (select * from marts.fct_labels where horizon = ?),
        f as (select * from marts.fct_features {alpha158}
              where in_universe and date <= (select max(date) from labels))
        select {columns}
        from f left join labels l on l.ticker = f.ticker and l.date = f.date
        order by f.date, f.ticker""", [horizon, horizon])
