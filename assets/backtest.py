"""Backtest: the champion's out-of-sample prediction history traded day by day through the daily
run's own functions (ml.backtest), against the equal-weight universe and ^GSPC."""

import time

import dagster as dg
import duckdb
import pandas as pd

from assets import metadata
from assets.resources import TradepipeSettings, TradingSettings
from assets.tables import table_exists
from assets.trading import INSTRUMENTS, PRICES, REGIMES, champion_optimizer, sectors
from ml.backtest import STRATEGY, BacktestResult, run_backtest
from ml.backtest import drawdown, performance_summary, regime_breakdown
from ml.metrics import daily_ic
from ml.reports import charts
from ml.training import registry

OOS_PREDICTIONS = dg.AssetKey(["ml", "oos_predictions"])
CHAMPION_MODEL = dg.AssetKey(["ml", "champion_model"])
RAW_MACRO = dg.AssetKey(["raw", "macro"])
LABELS = dg.AssetKey(["marts", "fct_labels"])
BACKTEST = dg.AssetKey(["trading", "backtest"])


def champion_oos(con: duckdb.DuckDBPyConnection, horizon: int, since=None) -> tuple[str, pd.DataFrame]:
    """The champion's model id and its walk-forward out-of-sample predictions with their labels
    (from ``since`` on, when given)."""
    reg = con.execute("select * from ml.model_registry").df() if table_exists(con, "ml.model_registry") else None
    champion = registry.current_champion(reg, horizon) if reg is not None else None
    if champion is None:
        raise ValueError(f"no champion model for horizon {horizon}: materialize ml/champion_model first")
    preds = con.execute("""
        select p.date, p.ticker, p.yhat, p.yhat_std, p.prob_up, l.fwd_excess_return, l.label_end_date
        from ml.preds p left join marts.fct_labels l using (ticker, date, horizon)
        where p.kind = 'oos' and p.horizon = ? and p.date >= ?
          and p.model_id in (select fold_model_id from ml.cv_folds where model_id = ?)
        order by p.date, p.ticker
    """, [horizon, pd.Timestamp(since or "1900-01-01").date(), champion["model_id"]]).df()
    if preds.empty:
        raise ValueError(f"the champion {champion['model_id']} has no out-of-sample predictions in ml.preds")
    return champion["model_id"], preds


def backtest_inputs(con: duckdb.DuckDBPyConnection, first_date) -> tuple[pd.DataFrame, pd.Series, pd.Series, pd.Series]:
    """What a backtest from ``first_date`` reads: prices (with 400 days of history before it for the
    covariance windows), the regime of every date, sectors and the ^GSPC close."""
    prices = con.execute("""select ticker, date, open, close, adv_20d_shares from marts.fct_prices
                            where date >= ? - interval 400 day""", [first_date]).df()
    regimes = con.execute("select date, regime from ml.regimes").df()
    index = con.execute("select date, value from raw.macro where series = '^GSPC'").df()
    regimes = regimes.assign(date=pd.to_datetime(regimes["date"])).set_index("date")["regime"]
    return prices, regimes, sectors(con), index.set_index("date")["value"]


def summarize(result: BacktestResult, ic: pd.Series) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Metrics per strategy, and the model's per-regime breakdown."""
    daily = result.daily
    weights = result.weights.pivot(index="date", columns="ticker", values="weight") if len(result.weights) else None
    rows = []
    for name, frame in daily.groupby("strategy", sort=False):
        frame = frame.set_index("date")
        extra = {"gross_returns": frame["gross_return"], "turnover": frame["turnover"]}
        if name == STRATEGY and weights is not None:
            extra["weights"] = weights
        stats = performance_summary(frame["net_return"], **extra)
        if name == STRATEGY:
            stats["blocked_days"] = float((~frame["approved"].astype(bool)).sum())
        rows.append({"strategy": name, **stats})
    model = daily[daily["strategy"] == STRATEGY].set_index("date")
    regimes = regime_breakdown(model["net_return"], model["regime"], ic=ic)
    return pd.DataFrame(rows), regimes.reset_index()


def _as_dates(frame: pd.DataFrame) -> pd.DataFrame:
    """Market-date columns as DATE in the warehouse (as in every other table), not TIMESTAMP."""
    cols = [c for c in ("date", "trade_date", "return_end_date") if c in frame]
    return frame.assign(**{c: pd.to_datetime(frame[c]).dt.date for c in cols})


@dg.asset(key=BACKTEST, deps=[OOS_PREDICTIONS, CHAMPION_MODEL, REGIMES, PRICES, INSTRUMENTS, RAW_MACRO, LABELS],
          group_name="trading", kinds={"duckdb"})
def backtest(context: dg.AssetExecutionContext, settings: TradepipeSettings,
             trading: TradingSettings) -> dg.MaterializeResult:
    """trading.backtest_daily (one row per date and strategy), trading.backtest_summary,
    trading.backtest_regimes, and the simulated weights, trades and positions
    (trading.backtest_weights / _trades / _positions). Replaced as a whole on every run."""
    with settings.warehouse(read_only=True) as con:
        spec = trading.spec(champion_optimizer(con, trading))
        model_id, preds = champion_oos(con, trading.horizon)
        inputs = backtest_inputs(con, preds["date"].min())
    prices, regimes, sector, index_close = inputs
    # Start where the regime history starts: earlier predictions have no regime to size with.
    traded = preds[pd.to_datetime(preds["date"]) >= regimes.index.min()]
    if traded.empty:
        raise ValueError(f"no out-of-sample prediction date has a regime (regimes start {regimes.index.min().date()}, "
                         f"predictions end {preds['date'].max()})")
    started = time.perf_counter()
    result = run_backtest(traded[["date", "ticker", "yhat", "yhat_std", "prob_up"]], prices, regimes, sector,
                          spec, index_close=index_close)
    seconds = time.perf_counter() - started
    labelled = traded.dropna(subset=["yhat", "fwd_excess_return"])
    ic = daily_ic(labelled, "yhat", "fwd_excess_return", method="spearman")
    ic.index = pd.to_datetime(ic.index)
    summary, by_regime = summarize(result, ic)
    summary = summary.assign(model_id=model_id, optimizer=spec.portfolio.optimizer)
    by_regime = by_regime.assign(model_id=model_id, optimizer=spec.portfolio.optimizer)
    daily = result.daily.assign(model_id=model_id, optimizer=spec.portfolio.optimizer)
    with settings.warehouse() as con:
        con.execute("begin transaction")
        con.execute("create schema if not exists trading")
        for name, frame in [("backtest_daily", daily), ("backtest_summary", summary),
                            ("backtest_regimes", by_regime), ("backtest_weights", result.weights),
                            ("backtest_trades", result.trades), ("backtest_positions", result.positions)]:
            con.register("_frame", _as_dates(frame))
            con.execute(f"create or replace table trading.{name} as select * from _frame")
            con.unregister("_frame")
        con.execute("commit")
    for note in result.notes[:20]:
        context.log.warning(note)
    equity = daily.pivot(index="date", columns="strategy", values="equity")
    model = daily[daily["strategy"] == STRATEGY].set_index("date")["net_return"]
    charts_dir = settings.home_path / "charts"
    shown = summary.set_index("strategy")[["cagr", "volatility", "sharpe", "sortino", "max_drawdown", "calmar",
                                           "turnover", "hit_rate", "cost_drag"]]
    return dg.MaterializeResult(metadata={
        "model_id": model_id, "optimizer": spec.portfolio.optimizer,
        "first_date": str(daily["date"].min().date()), "last_date": str(daily["date"].max().date()),
        "days": int(len(model)), "seconds": round(seconds, 2),
        "summary": metadata.table(shown),
        "by_regime": metadata.table(by_regime.set_index("regime").drop(columns=["model_id", "optimizer"])),
        "equity": metadata.chart(charts.equity_chart(equity, "Equity: model vs benchmarks"),
                                 charts_dir / "backtest_equity.png"),
        "drawdown": metadata.chart(charts.drawdown_chart(drawdown(model), "Model drawdown"),
                                   charts_dir / "backtest_drawdown.png"),
        "notes": dg.MetadataValue.json(result.notes[:50]),
    })
