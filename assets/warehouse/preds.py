"""ml.preds (out-of-sample and live predictions) and ml.predictions_in_force (which model scored a date)."""

import duckdb
import pandas as pd

from assets.warehouse import trading
from assets.warehouse.connection import frame, replace_rows, scalar, table_exists

PREDS = "ml.preds"
IN_FORCE = "ml.predictions_in_force"
PREDS_COLUMNS = ("ticker", "date", "horizon", "model_id", "yhat", "yhat_std", "prob_up")

PREDS_DDL = """
create table if not exists ml.preds (
    ticker varchar, date date, horizon integer, model_id varchar,
    yhat double, yhat_std double, prob_up double,
    kind varchar,            -- 'oos': walk-forward test fold; 'live': a market date scored by the model in force
    created_at timestamp
)
"""
IN_FORCE_DDL = """
create table if not exists ml.predictions_in_force (
    date date, horizon integer, model_id varchar, source varchar, n_predictions integer, written_at timestamp
)
"""


# For analysts: each date's predictions by the model in force that day only (scored live, or
# replayed from the walk-forward history), never a retired model's rows of another date's run.
IN_FORCE_VIEW = """
create or replace view ml.preds_in_force as
select p.ticker, p.date, p.horizon, p.model_id, p.yhat, p.yhat_std, p.prob_up, f.source
from ml.predictions_in_force f
join ml.preds p on p.date = f.date and p.horizon = f.horizon and p.model_id = f.model_id
 and p.kind = case f.source when 'scored' then 'live' else 'oos' end
"""


def _now() -> pd.Timestamp:
    return pd.Timestamp.now(tz="UTC").tz_localize(None)


def _ensure(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema if not exists ml")
    con.execute(PREDS_DDL)
    con.execute(IN_FORCE_DDL)
    con.execute(IN_FORCE_VIEW)


def _rows(predictions: pd.DataFrame, kind: str) -> pd.DataFrame:
    return predictions[list(PREDS_COLUMNS)].assign(kind=kind, created_at=_now())


def write_oos(con: duckdb.DuckDBPyConnection, predictions: pd.DataFrame) -> None:
    """Replace the out-of-sample predictions of the fold models in ``predictions`` as a whole
    (inside the caller's transaction)."""
    _ensure(con)
    models = sorted(predictions["model_id"].unique())
    replace_rows(con, PREDS, _rows(predictions, "oos"), "kind = 'oos' and list_contains(?, model_id)", [models])


def write_live(con: duckdb.DuckDBPyConnection, day: pd.Timestamp, horizon: int, model_id: str, source: str,
               predictions: pd.DataFrame | None) -> None:
    """Record the model in force on ``day`` and replace the day's live predictions as a whole:
    every live row of (day, horizon) goes, whatever model or ticker it had, and only
    ``predictions`` remain (none when the day is replayed from the walk-forward history). The
    day's trading decisions, made from the replaced predictions, go too."""
    _ensure(con)
    live = (_rows(predictions, "live") if predictions is not None and len(predictions)
            else pd.DataFrame(columns=[*PREDS_COLUMNS, "kind", "created_at"]))
    replace_rows(con, PREDS, live, "kind = 'live' and date = ? and horizon = ?", [day.date(), horizon])
    n = len(live) if source == "scored" else replayed(con, day, horizon, model_id)
    record = pd.DataFrame([{"date": day.date(), "horizon": horizon, "model_id": model_id, "source": source,
                            "n_predictions": n, "written_at": _now()}])
    replace_rows(con, IN_FORCE, record, "date = ? and horizon = ?", [day.date(), horizon])
    trading.clear_decisions(con, day)


def in_force(con: duckdb.DuckDBPyConnection, day: pd.Timestamp, horizon: int) -> dict | None:
    """The ml.predictions_in_force row of (day, horizon), or None."""
    if not table_exists(con, IN_FORCE):
        return None
    rows = frame(con, f"select * from {IN_FORCE} where date = ? and horizon = ?", [day.date(), horizon])
    return None if rows.empty else rows.iloc[0].to_dict()


def predictions_on(con: duckdb.DuckDBPyConnection, day: pd.Timestamp, horizon: int) -> tuple[str, pd.DataFrame]:
    """The model in force on ``day`` and its predictions for the day."""
    row = in_force(con, day, horizon)
    if row is None:
        raise ValueError(f"no predictions recorded for {day.date()} (horizon {horizon}): "
                         f"materialize ml/daily_predictions for that date first")
    preds = frame(con, f"select ticker, yhat, yhat_std, prob_up from {PREDS} where date = ? and horizon = ? "
                       "and model_id = ? order by ticker", [day.date(), horizon, row["model_id"]])
    return row["model_id"], preds


def replayed(con: duckdb.DuckDBPyConnection, day: pd.Timestamp, horizon: int, model_id: str) -> int:
    """Out-of-sample predictions ``model_id`` made for ``day`` in the walk-forward history."""
    if not table_exists(con, PREDS):
        return 0
    return int(scalar(con, f"select count(*) from {PREDS} where kind = 'oos' and date = ? and horizon = ? "
                           "and model_id = ?", [day.date(), horizon, model_id]))


def walk_forward_history(con: duckdb.DuckDBPyConnection, horizon: int, model_id: str,
                         since: pd.Timestamp | None = None, label_price: str = "open") -> pd.DataFrame:
    """The out-of-sample predictions of the walk-forward behind ``model_id`` with their labels
    (fwd_return, fwd_excess_return, label_end_date; NULL where not labelled), from ``since`` on.
    The labels are ``label_price``'s (the model's: registry.label_price)."""
    suffix = {"open": "", "close": "_close"}[label_price]
    return frame(con, f"""
        select p.date, p.ticker, p.yhat, p.yhat_std, p.prob_up,
               l.fwd_return{suffix} as fwd_return, l.fwd_excess_return{suffix} as fwd_excess_return,
               l.label_end_date
        from {PREDS} p left join marts.fct_labels l using (ticker, date, horizon)
        where p.kind = 'oos' and p.horizon = ? and p.date >= ?
          and p.model_id in (select fold_model_id from ml.cv_folds where model_id = ?)
        order by p.date, p.ticker
    """, [horizon, pd.Timestamp(since or "1900-01-01").date(), model_id])


def non_finite(con: duckdb.DuckDBPyConnection, day: pd.Timestamp, horizon: int, model_id: str) -> int:
    """Predictions of the model in force on ``day`` whose yhat is NULL, NaN or infinite."""
    return int(scalar(con, f"select count(*) from {PREDS} where date = ? and horizon = ? and model_id = ? "
                           "and (yhat is null or not isfinite(yhat))", [day.date(), horizon, model_id]))


def unscored(con: duckdb.DuckDBPyConnection, day: pd.Timestamp, horizon: int, model_id: str) -> list[str]:
    """In-universe tickers of ``day`` without a prediction of ``model_id``."""
    return con.execute(f"""
        select list(f.ticker order by f.ticker) from marts.fct_features f
        where f.date = ? and f.in_universe and not exists (
            select 1 from {PREDS} p where p.ticker = f.ticker and p.date = f.date and p.horizon = ? and p.model_id = ?)
    """, [day.date(), horizon, model_id]).fetchone()[0] or []
