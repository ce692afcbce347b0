"""Backtest: the champion's out-of-sample prediction history traded day by day through the daily
run's own functions (ml.backtest), against the equal-weight universe and ^GSPC."""

import time

import dagster as dg
import duckdb
import pandas as pd

from assets import metadata
from assets.dbt import DIM_INSTRUMENTS, FCT_LABELS, FCT_PRICES
from assets.ingest import RAW_MACRO
from assets.portfolio import champion_optimizer
from assets.regimes import REGIMES
from assets.resources import TradepipeSettings, TradingSettings
from assets.training import CHAMPION_MODEL, OOS_PREDICTIONS
from assets.warehouse import backtest as backtest_tables
from assets.warehouse import marts
from assets.warehouse import preds as preds_table
from assets.warehouse import regimes as regime_tables
from assets.warehouse import registry as registry_table
from assets.warehouse.connection import transaction
from ml.backtest import (
    STRATEGY,
    BacktestResult,
    drawdown,
    performance_summary,
    regime_breakdown,
    run_backtest,
)
from ml.metrics import daily_ic
from ml.reports import charts
from ml.trades import halt_stats

BACKTEST = dg.AssetKey(["trading", "backtest"])


def champion_oos(con: duckdb.DuckDBPyConnection, horizon: int, since=None) -> tuple[str, pd.DataFrame]:
    """The champion's model id and its walk-forward out-of-sample predictions with their labels
    (from ``since`` on, when given)."""
    champion = registry_table.champion(con, horizon)
    if champion is None:
        raise ValueError(f"no champion model for horizon {horizon}: materialize ml/champion_model first")
    preds = preds_table.walk_forward_history(con, horizon, champion["model_id"], since,
                                             registry_table.label_price(champion)).drop(columns=["fwd_return"])
    if preds.empty:
        raise ValueError(f"the champion {champion['model_id']} has no out-of-sample predictions in ml.preds")
    return champion["model_id"], preds


def backtest_inputs(con: duckdb.DuckDBPyConnection, first_date) -> tuple[pd.DataFrame, pd.Series, pd.Series, pd.Series]:
    """What a backtest from ``first_date`` reads: prices (with 400 days of history before it for the
    covariance windows), the regime of every date, sectors and the ^GSPC close."""
    prices = marts.prices_since(con, first_date, days_before=400)
    regimes = regime_tables.history(con)[["date", "regime"]]
    regimes = regimes.assign(date=pd.to_datetime(regimes["date"])).set_index("date")["regime"]
    return prices, regimes, marts.sectors(con), marts.index_close(con)


def _held(positions: pd.DataFrame, dates: pd.Index) -> pd.DataFrame:
    """Date x ticker shares of the book after each date's approved trades (0: not held), every date
    of ``dates``: the holding periods are the book's, not the targets' (a blocked day holds no target)."""
    if positions.empty:
        return pd.DataFrame(index=dates)
    shares = positions.pivot_table(index="date", columns="ticker", values="shares", aggfunc="sum")
    return shares.reindex(dates).fillna(0)


def summarize(result: BacktestResult, ic: pd.Series) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Metrics per strategy, and the model's per-regime breakdown. The model's holding period is
    that of the book (missing when it never held anything); its ``blocked_days`` count the days
    some rule failed (a kill-switch halt included, even when its sells were approved), and
    ``halted_days``, ``halts`` and ``longest_halt`` the kill switch's halts (days in a row)."""
    daily = result.daily
    rows = []
    for name, frame in daily.groupby("strategy", sort=False):
        frame = frame.set_index("date")
        extra = {"gross_returns": frame["gross_return"], "turnover": frame["turnover"]}
        if name == STRATEGY:
            extra["weights"] = _held(result.positions, frame.index)
        stats = performance_summary(frame["net_return"], **extra)
        if name == STRATEGY:
            stats["blocked_days"] = int((~frame["approved"].astype(bool)).sum())
            stats.update(halt_stats(frame["kill_switch_halted"]))
        rows.append({"strategy": name, **stats})
    model = daily[daily["strategy"] == STRATEGY].set_index("date")
    regimes = regime_breakdown(model["net_return"], model["regime"], ic=ic)
    return pd.DataFrame(rows), regimes.reset_index()


@dg.asset(key=BACKTEST, deps=[OOS_PREDICTIONS, CHAMPION_MODEL, REGIMES, FCT_PRICES, DIM_INSTRUMENTS, RAW_MACRO, FCT_LABELS],
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
                          spec, index_close=index_close, log=context.log.info)
    seconds = time.perf_counter() - started
    labelled = traded.dropna(subset=["yhat", "fwd_excess_return"])
    ic = daily_ic(labelled, "yhat", "fwd_excess_return", method="spearman")
    ic.index = pd.to_datetime(ic.index)
    summary, by_regime = summarize(result, ic)
    summary = summary.assign(model_id=model_id, optimizer=spec.portfolio.optimizer)
    by_regime = by_regime.assign(model_id=model_id, optimizer=spec.portfolio.optimizer)
    daily = result.daily.assign(model_id=model_id, optimizer=spec.portfolio.optimizer)
    with settings.warehouse() as con, transaction(con):
        backtest_tables.write(con, {"backtest_daily": daily, "backtest_summary": summary,
                                    "backtest_regimes": by_regime, "backtest_weights": result.weights,
                                    "backtest_trades": result.trades, "backtest_positions": result.positions})
    for note in result.notes[:20]:
        context.log.warning(note)
    equity = daily.pivot(index="date", columns="strategy", values="equity")
    model = daily[daily["strategy"] == STRATEGY].set_index("date")["net_return"]
    charts_dir = settings.home_path / "charts"
    shown = summary.set_index("strategy")[["cagr", "volatility", "sharpe", "sortino", "max_drawdown", "calmar",
                                           "turnover", "hit_rate", "cost_drag"]]
    return dg.MaterializeResult(metadata=metadata.entries({
        "model_id": model_id, "optimizer": spec.portfolio.optimizer,
        "first_date": str(daily["date"].min().date()), "last_date": str(daily["date"].max().date()),
        "days": int(len(model)), "seconds": round(seconds, 2),
        "summary": metadata.table(shown),
        "kill_switch": dg.MetadataValue.json({"mode": spec.kill_switch_mode, **{
            k: int(summary.set_index("strategy").loc[STRATEGY, k])
            for k in ("halted_days", "halts", "longest_halt", "blocked_days")}}),
        "by_regime": metadata.table(by_regime.set_index("regime").drop(columns=["model_id", "optimizer"])),
        "equity": metadata.chart(charts.equity_chart(equity, "Equity: model vs benchmarks"),
                                 charts_dir / "backtest_equity.png"),
        "drawdown": metadata.chart(charts.drawdown_chart(drawdown(model), "Model drawdown"),
                                   charts_dir / "backtest_drawdown.png"),
        "notes": dg.MetadataValue.json(result.notes[:50]),
    }))
