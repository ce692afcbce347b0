"""The daily report for people: $TRADEPIPE_HOME/reports/<YYYY-MM-DD>/ with report.html,
trades.csv, portfolio_weights.csv, signals.json and monitoring_log.json (ml.reports).

It depends on trading/trades, not on the approval: a day whose trades were blocked still gets
its report, with the blocked banner and the failed rules."""

import json

import dagster as dg
import pandas as pd

from assets import metadata
from assets.backtest import BACKTEST
from assets.checks import DAILY_FRESHNESS
from assets.monitoring import MONITORING
from assets.partitions import MARKET_DATES
from assets.portfolio import TARGET_WEIGHTS
from assets.regimes import CURRENT_REGIME
from assets.resources import TradepipeSettings, TradingSettings
from assets.signals import SIGNALS, market_date
from assets.trades import TRADES
from assets.warehouse import adapted as adapted_table
from assets.warehouse import backtest as backtest_tables
from assets.warehouse import monitoring as monitoring_tables
from assets.warehouse import preds as preds_table
from assets.warehouse import regimes as regime_tables
from assets.warehouse import registry as registry_table
from assets.warehouse import trading as decisions
from ml.backtest import STRATEGY, drawdown, performance_summary
from ml.reports import ReportData, report_folder, write_report
from ml.trades import CheckResult, unexplained

DAILY_REPORT = dg.AssetKey(["reports", "daily_report"])


def history_as_of(con, day: pd.Timestamp) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Backtest rows, their metrics and the regime history as known at the close of ``day``:
    only backtest returns whose period ended by then (return_end_date <= day) and regimes up to
    it, so the report of a past (backfilled) date shows nothing from after it. The stored metrics
    are used when every row is known; otherwise they are recomputed from the known rows."""
    daily, summary = backtest_tables.history_as_of(con, day)
    if summary is None:
        summary = pd.DataFrame([{"strategy": name, **performance_summary(
            f.set_index("date")["net_return"], gross_returns=f.set_index("date")["gross_return"],
            turnover=f.set_index("date")["turnover"])} for name, f in daily.groupby("strategy", sort=False)])
    regimes = regime_tables.history(con, until=day)[["date", "regime"]]
    return daily, summary, regimes


def _names(what: str, tickers: str) -> str:
    """``added 3: AAA, BBB, CCC`` from the JSON list of trading.portfolios."""
    names = json.loads(tickers) if tickers else []
    return f"{what} {len(names)}" + (f": {', '.join(names)}" if names else "")


@dg.asset(key=DAILY_REPORT, deps=[SIGNALS, TARGET_WEIGHTS, TRADES, BACKTEST, MONITORING, CURRENT_REGIME],
          group_name="reports", kinds={"html"}, partitions_def=MARKET_DATES, freshness_policy=DAILY_FRESHNESS)
def daily_report(context: dg.AssetExecutionContext, settings: TradepipeSettings,
                 trading: TradingSettings) -> dg.MaterializeResult:
    """Equity against both benchmarks, drawdown, regime timeline, IC over time, today's portfolio
    and trades, why these trades (the features behind each traded name's prediction), the safety
    results and model health, in one self-contained HTML page plus the CSV/JSON files; re-running
    a date replaces its folder's files."""
    with settings.warehouse(read_only=True) as con:
        day = market_date(context)
        model_id, _ = preds_table.predictions_on(con, day, trading.horizon)
        d = day.date()
        daily, summary, regimes = history_as_of(con, day)
        today = regime_tables.regime_row(con, day)
        ic = monitoring_tables.ic_on(con, day)
        weights = decisions.weights_on(con, day)
        trades = decisions.trades_on(con, day)
        reasons = decisions.reasons_on(con, day)
        signals = decisions.signals_on(con, day)
        checks = decisions.safety_checks_on(con, day)
        switch = decisions.kill_switch_history(con, day)
        log = monitoring_tables.log_on(con, day)
        row = registry_table.model(con, model_id)
        portfolio = decisions.portfolio_on(con, day)
        adapted = adapted_table.load(con)
    equity = daily.pivot(index="date", columns="strategy", values="equity")
    model_returns = daily[daily["strategy"] == STRATEGY].set_index("date")["net_return"]
    metrics = summary.drop(columns=[c for c in ("model_id", "optimizer") if c in summary]).set_index("strategy")
    shown = ("model_type", "model_id", "horizon", "train_start", "train_end", "cv_metrics")
    info = {k: row[k] for k in shown} if row else {}  # the page formats dates, numbers and the CV metrics
    notes = []
    if portfolio is not None:
        notes += [f"portfolio: {portfolio['optimizer']}, regime {portfolio['regime']}, "
                  f"exposure {portfolio['exposure']:.0%}; {_names('added', portfolio['added'])}; "
                  f"{_names('dropped', portfolio['dropped'])}"]
        notes += json.loads(portfolio["notes"])
    notes += [f"adapted to the data ({r.stage}): {r.key} {r.configured:g} -> {r.chosen:g}: {r.reason}"
              for r in adapted.itertuples()]
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
        monitoring=json.loads(log) if log else {},
        model=info,
        notes=notes,
        reasons=reasons,
        unexplained=unexplained(row["model_type"], model_id) if row else None,
        kill_switch=switch,
    )
    paths = write_report(report_folder(settings.home_path, day), data)
    return dg.MaterializeResult(metadata=metadata.entries({
        "date": str(d), "folder": dg.MetadataValue.path(str(paths["report"].parent)),
        "report": dg.MetadataValue.path(str(paths["report"])),
        "files": dg.MetadataValue.json(sorted(p.name for p in paths.values())),
    }))
