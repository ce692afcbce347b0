"""The daily report for people: $TRADEPIPE_HOME/reports/<YYYY-MM-DD>/ with report.html,
trades.csv, portfolio_weights.csv, signals.json and monitoring_log.json (ml.report).

It depends on trading/trades, not on the approval: a day whose trades were blocked still gets
its report, with the blocked banner and the failed rules."""

import json

import dagster as dg
import pandas as pd

from assets.backtest import BACKTEST
from assets.monitoring import MONITORING
from assets.checks import DAILY_FRESHNESS
from assets.resources import TradepipeSettings, TradingSettings
from assets.partitions import MARKET_DATES
from assets.trading import SIGNALS, TARGET_WEIGHTS, TRADES, market_date, predictions_on
from ml.backtest import STRATEGY, drawdown, performance_summary
from ml.reports import ReportData, report_folder, write_report
from ml.trades import CheckResult

CURRENT_REGIME = dg.AssetKey(["ml", "current_regime"])
DAILY_REPORT = dg.AssetKey(["reports", "daily_report"])


def history_as_of(con, day: pd.Timestamp) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Backtest rows, their metrics and the regime history as known at the close of ``day``:
    only backtest returns whose period ended by then (return_end_date <= day) and regimes up to
    it, so the report of a past (backfilled) date shows nothing from after it. The stored metrics
    are used when every row is known; otherwise they are recomputed from the known rows."""
    d = day.date()
    daily = con.execute("""select date, strategy, gross_return, net_return, turnover, equity from trading.backtest_daily
                           where return_end_date <= ? order by date""", [d]).df()
    later = con.execute("select count(*) from trading.backtest_daily where return_end_date > ?", [d]).fetchone()[0]
    if later == 0:
        summary = con.execute("select * from trading.backtest_summary").df()
    else:
        summary = pd.DataFrame([{"strategy": name, **performance_summary(
            f.set_index("date")["net_return"], gross_returns=f.set_index("date")["gross_return"],
            turnover=f.set_index("date")["turnover"])} for name, f in daily.groupby("strategy", sort=False)])
    regimes = con.execute("select date, regime from ml.regimes where date <= ? order by date", [d]).df()
    return daily, summary, regimes


@dg.asset(key=DAILY_REPORT, deps=[SIGNALS, TARGET_WEIGHTS, TRADES, BACKTEST, MONITORING, CURRENT_REGIME],
          group_name="reports", kinds={"html"}, partitions_def=MARKET_DATES, freshness_policy=DAILY_FRESHNESS)
def daily_report(context: dg.AssetExecutionContext, settings: TradepipeSettings,
                 trading: TradingSettings) -> dg.MaterializeResult:
    """Equity against both benchmarks, drawdown, regime timeline, IC over time, today's portfolio
    and trades, the safety results and model health, in one self-contained HTML page plus the
    CSV/JSON files; re-running a date replaces its folder's files."""
    with settings.warehouse(read_only=True) as con:
        day = market_date(context)
        model_id, _ = predictions_on(con, day, trading.horizon)
        d = day.date()
        daily, summary, regimes = history_as_of(con, day)
        today = con.execute("select * from ml.regimes where date = ?", [d]).df()
        ic = con.execute("select date, rank_ic, rolling_rank_ic from ml.monitoring_ic where as_of = ?", [d]).df()
        weights = con.execute("select * from trading.target_weights where date = ?", [d]).df()
        trades = con.execute("select * from trading.trades where date = ?", [d]).df()
        signals = con.execute("select ticker, score, signal, method from trading.signals where date = ?", [d]).df()
        checks = con.execute("select * from trading.safety_checks where date = ?", [d]).df()
        log = con.execute("select log from ml.monitoring_log where as_of = ?", [d]).fetchone()
        model = con.execute("select model_id, model_type, horizon, train_start, train_end, cv_metrics "
                            "from ml.model_registry where model_id = ?", [model_id]).df()
        portfolio = con.execute("select * from trading.portfolios where date = ?", [d]).df()
    equity = daily.pivot(index="date", columns="strategy", values="equity")
    model_returns = daily[daily["strategy"] == STRATEGY].set_index("date")["net_return"]
    metrics = summary.drop(columns=[c for c in ("model_id", "optimizer") if c in summary]).set_index("strategy")
    info = {k: (str(v) if not isinstance(v, (int, float)) else v) for k, v in model.iloc[0].items()} if len(model) else {}
    notes = []
    if len(portfolio):
        notes += [f"portfolio: {portfolio['optimizer'].iloc[0]}, regime {portfolio['regime'].iloc[0]}, "
                  f"exposure {portfolio['exposure'].iloc[0]:.0%}, added {portfolio['added'].iloc[0]}, "
                  f"dropped {portfolio['dropped'].iloc[0]}"]
        notes += json.loads(portfolio["notes"].iloc[0])
    notes.append("Backtest rows are keyed by decision date; each return runs from the next open to the open after.")
    data = ReportData(
        date=day,
        equity=equity,
        drawdown=drawdown(model_returns) if len(model_returns) else pd.Series(dtype=float),
        regimes=regimes.assign(date=pd.to_datetime(regimes["date"])).set_index("date")["regime"],
        regime_today=today["regime"].iloc[0] if len(today) else None,
        regime_probs={c: float(today[c].iloc[0]) for c in today.columns if c.startswith("prob_")} if len(today) else {},
        ic=ic.assign(date=pd.to_datetime(ic["date"])).set_index("date"),
        weights=weights[["ticker", "weight", "sector", "score", "optimizer", "regime"]],
        trades=trades.drop(columns=["date"]),
        signals=signals,
        checks=[CheckResult(r.check, bool(r.passed), r.detail) for r in checks.itertuples()],
        summary=metrics.loc[STRATEGY].to_dict() if STRATEGY in metrics.index else {},
        benchmarks={k: v.to_dict() for k, v in metrics.drop(index=STRATEGY, errors="ignore").iterrows()},
        monitoring=json.loads(log[0]) if log else {},
        model=info,
        notes=notes,
    )
    paths = write_report(report_folder(settings.home_path, day), data)
    return dg.MaterializeResult(metadata={
        "date": str(d), "folder": dg.MetadataValue.path(str(paths["report"].parent)),
        "report": dg.MetadataValue.path(str(paths["report"])),
        "files": dg.MetadataValue.json(sorted(p.name for p in paths.values())),
    })
