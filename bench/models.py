"""Model stages on a built warehouse, one per child process so each gets its own peak memory.

    python -m bench.models WAREHOUSE STAGE OUT_JSON

STAGE is ``regime`` (walk-forward regime history with the pipeline's defaults: quarterly refits
on an expanding window), a model type (``lightgbm``, ``ridge``): walk-forward CV + OOS
predictions on the 5-day panel with the configured recipe (tradepipe.toml [training]: expanding
windows, quarterly retrains, the close label, ...; that model type and its defaults), then the final
model and the scoring of the latest date, or ``backtest``: the daily backtest (ml.backtest, the
daily run's own day kernels on arrays) of the LightGBM OOS history with each optimizer. The regime and
LightGBM stages leave their outputs beside OUT_JSON for the backtest stage. The OOS figures are reported as measured; nothing is
tuned to them.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import duckdb
import pandas as pd

OUT_DIR = Path(".")  # set by main(): where stages leave outputs for the backtest stage


def regime(con: duckdb.DuckDBPyConnection) -> dict:
    from ml.regimes import (
        DEFAULT_FEATURES,
        prepare_regime_features,
        walk_forward_regimes,
    )

    raw = con.execute("select * from marts.fct_regime_features order by date").df().set_index("date")
    start = time.perf_counter()
    prepared = prepare_regime_features(raw, DEFAULT_FEATURES)
    history = walk_forward_regimes(prepared)
    seconds = time.perf_counter() - start
    history.to_pickle(OUT_DIR / "regimes.pkl")
    return {"seconds": seconds, "dates": len(history), "models": int(history["model_id"].nunique()),
            "days_by_regime": {k: int(v) for k, v in history["regime"].value_counts().items()}}


def model(con: duckdb.DuckDBPyConnection, model_type: str) -> dict:
    from assets.warehouse import marts
    from bench.forecast import configured_spec
    from ml import predictions, training
    from ml.config import value

    # the configured recipe ([training]: windows, label, normalization, ...) with this model type
    spec = configured_spec(model_type=model_type)
    start = time.perf_counter()
    panel = marts.training_panel(con, 5, feature_set=value("training.feature_set"), label_price=spec.label_price)
    load_s = time.perf_counter() - start
    start = time.perf_counter()
    result = training.walk_forward(panel, spec)
    cv_s = time.perf_counter() - start
    result.predictions.to_pickle(OUT_DIR / f"oos_{model_type}.pkl")
    start = time.perf_counter()
    final = training.train_final(panel, spec)
    final_s = time.perf_counter() - start
    latest = marts.features_on(con, pd.Timestamp(marts.latest_feature_date(con)))
    start = time.perf_counter()
    scored = predictions.score_latest(final, latest, result.models[-3:])
    score_s = time.perf_counter() - start
    s = result.summary
    return {
        "panel_rows": len(panel), "load_s": load_s, "walk_forward_s": cv_s, "folds": len(result.folds),
        "oos_rows": len(result.predictions), "train_final_s": final_s,
        "score_latest_s": score_s, "scored_tickers": len(scored),
        "oos_mean_ic": s["ic"], "oos_mean_rank_ic": s["rank_ic"], "rank_icir": s["rank_icir"],
        "rank_ic_t_stat": s.get("rank_ic_t_stat"), "top_minus_bottom_decile": s["spread_top_bottom"],
        "oos_first_date": str(pd.Timestamp(result.predictions["date"].min()).date()),
        "oos_last_date": str(pd.Timestamp(result.predictions["date"].max()).date()),
    }


def backtest_inputs(con: duckdb.DuckDBPyConnection, preds: pd.DataFrame, regimes: pd.Series) -> tuple:
    """What a backtest of OOS ``preds`` reads from a warehouse: the predictions from the first
    regime date on, prices, sectors, the ^GSPC close and the daily rank IC of the predictions."""
    from ml.metrics import daily_ic

    prices = con.execute("select ticker, date, open, close, adv_20d_shares from marts.fct_prices").df()
    sectors = con.execute("select ticker, sector from marts.dim_instruments").df().set_index("ticker")["sector"]
    index = con.execute("select date, value from raw.macro where series = '^GSPC'").df().set_index("date")["value"]
    preds = preds[pd.to_datetime(preds["date"]) >= regimes.index.min()]
    labelled = preds.dropna(subset=["yhat", "fwd_excess_return"])
    ic = daily_ic(labelled, "yhat", "fwd_excess_return", method="spearman")
    ic.index = pd.to_datetime(ic.index)
    return preds, prices, sectors, index, ic


def backtest(con: duckdb.DuckDBPyConnection) -> dict:
    from assets.backtest import summarize
    from ml.backtest import run_backtest
    from ml.portfolio import OPTIMIZERS, PortfolioSpec
    from ml.trades import TradingSpec

    preds = pd.read_pickle(OUT_DIR / "oos_lightgbm.pkl")
    regimes = pd.read_pickle(OUT_DIR / "regimes.pkl").set_index("date")["regime"]
    preds, prices, sectors, index, ic = backtest_inputs(con, preds, regimes)
    out: dict = {"oos_rows": len(preds)}
    for optimizer in OPTIMIZERS:
        spec = TradingSpec(portfolio=PortfolioSpec(optimizer=optimizer))
        start = time.perf_counter()
        result = run_backtest(preds[["date", "ticker", "yhat", "yhat_std", "prob_up"]], prices, regimes,
                              sectors, spec, index_close=index)
        seconds = time.perf_counter() - start
        summary, by_regime = summarize(result, ic)
        out[optimizer] = {
            "seconds": seconds, "days": int((result.daily["strategy"] == "model").sum()),
            "ms_per_day": 1000 * seconds / max(1, int((result.daily["strategy"] == "model").sum())),
            "first_date": str(result.daily["date"].min().date()), "last_date": str(result.daily["date"].max().date()),
            "summary": summary.set_index("strategy").to_dict(orient="index"),
            "by_regime": by_regime.set_index("regime").to_dict(orient="index"),
        }
    return out


def main() -> None:
    global OUT_DIR
    warehouse, stage, out = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    OUT_DIR = out.parent
    with duckdb.connect(warehouse, read_only=True) as con:
        if stage == "regime":
            result = regime(con)
        elif stage == "backtest":
            result = backtest(con)
        else:
            result = model(con, stage)
    out.write_text(json.dumps(result, indent=2, default=float))


if __name__ == "__main__":
    main()
