"""Backtest the champion's out-of-sample predictions (ml.backtest) and write a report (ml.reports).

Trades the walk-forward predictions day by day through the daily run's own functions (signals,
target weights, orders, safety gate): decided at the close, filled at the next open, costs
included, against the equal-weight universe and ^GSPC. Prints the headline metrics and the
model's returns by regime, and writes to a folder (--out, default a new temporary folder):
report.html (the daily report's page as of the backtest's last day: performance, equity,
drawdown, regimes, rank IC, that day's portfolio, orders and safety checks), its CSV/JSON files,
and summary.csv / regimes.csv with every metric.

It reads the champion's predictions (ml.preds), prices, regimes and sectors from
$TRADEPIPE_HOME/warehouse.duckdb (read-only), so run the pipeline first: `make demo` builds
.tradepipe/ on the bundled sample. Trading settings come from tradepipe.toml; the optimizer is
the champion's, as in the daily run, unless --optimizer names one.

    .venv/bin/python examples/backtest.py
    .venv/bin/python examples/backtest.py --days 126 --optimizer inverse_vol --out /tmp/backtest
"""

import argparse
import os
import tempfile
from pathlib import Path

import pandas as pd

from assets.backtest import backtest_inputs, champion_oos, summarize
from assets.portfolio import champion_optimizer
from assets.resources import TradingSettings
from assets.warehouse.connection import connect
from ml.backtest import STRATEGY, drawdown, run_backtest
from ml.config import OPTIMIZERS
from ml.metrics import daily_ic
from ml.reports import ReportData, write_report
from ml.signals import make_signals
from ml.trades import CheckResult

HEADLINE = ["cagr", "volatility", "sharpe", "sortino", "max_drawdown", "calmar", "turnover", "hit_rate", "cost_drag"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", default=os.environ.get("TRADEPIPE_HOME", ".tradepipe"),
                        help="folder holding warehouse.duckdb (default: $TRADEPIPE_HOME or .tradepipe)")
    parser.add_argument("--days", type=int, help="only the last DAYS prediction dates (default: all of them)")
    parser.add_argument("--optimizer", choices=OPTIMIZERS, help="portfolio optimizer (default: the champion's)")
    parser.add_argument("--out", type=Path, help="report folder (default: a new temporary folder)")
    args = parser.parse_args(argv)
    pd.set_option("display.width", 140)

    trading = TradingSettings(**({"optimizer": args.optimizer} if args.optimizer else {}))
    with connect(Path(args.home) / "warehouse.duckdb", read_only=True) as con:
        spec = trading.spec(champion_optimizer(con, trading))
        model_id, preds = champion_oos(con, trading.horizon)
        prices, regimes, sectors, index_close = backtest_inputs(con, preds["date"].min())
    # Dates before the first regime cannot be sized (the exposure depends on the regime).
    preds = preds.assign(date=pd.to_datetime(preds["date"]))
    preds = preds[preds["date"] >= regimes.index.min()]
    if args.days:
        preds = preds[preds["date"].isin(preds["date"].drop_duplicates().nlargest(args.days))]
    print(f"champion {model_id}: {preds['date'].nunique()} prediction dates "
          f"{preds['date'].min():%Y-%m-%d} .. {preds['date'].max():%Y-%m-%d}, optimizer {spec.portfolio.optimizer}")

    result = run_backtest(preds[["date", "ticker", "yhat", "yhat_std", "prob_up"]], prices, regimes, sectors, spec,
                          index_close=index_close)
    ic = daily_ic(preds.dropna(subset=["fwd_excess_return"]), "yhat", "fwd_excess_return", method="spearman")
    summary, by_regime = summarize(result, ic)
    metrics = summary.set_index("strategy")
    print("\nheadline metrics, net of costs (turnover: mean daily one-way share of the book):")
    print(metrics[HEADLINE].T.round(4).to_string())
    print(f"days blocked by the safety gate: {int(metrics.loc[STRATEGY, 'blocked_days'])}")
    print("\nthe model by regime:")
    print(by_regime.set_index("regime").round(4).to_string())

    model = result.daily[result.daily["strategy"] == STRATEGY].set_index("date")
    last = model.index.max()
    signals = make_signals(preds[preds["date"] == last], regimes, spec)
    weights = result.weights[result.weights["date"] == last].assign(
        sector=lambda w: w["ticker"].map(sectors),
        score=lambda w: w["ticker"].map(signals.set_index("ticker")["score"]))
    checks = result.checks[result.checks["date"] == last]
    data = ReportData(
        date=last,
        equity=result.daily.pivot(index="date", columns="strategy", values="equity"),
        drawdown=drawdown(model["net_return"]),
        regimes=regimes.loc[model.index.min():last],
        regime_today=regimes[last],
        regime_probs={},
        ic=pd.DataFrame({"rank_ic": ic, "rolling_rank_ic": ic.rolling(63, min_periods=20).mean()}),
        weights=weights[["ticker", "weight", "sector", "score"]],
        trades=result.trades[result.trades["date"] == last].drop(columns="date"),
        signals=signals[["ticker", "score", "signal", "method"]],
        checks=[CheckResult(r.check, bool(r.passed), r.detail) for r in checks.itertuples()],
        summary=metrics.loc[STRATEGY].to_dict(),
        benchmarks={name: row.drop("blocked_days").to_dict() for name, row in metrics.drop(index=STRATEGY).iterrows()},
        monitoring={},
        model={"model_id": model_id, "optimizer": spec.portfolio.optimizer},
        notes=[(f"Backtest of {model.index.min():%Y-%m-%d} .. {last:%Y-%m-%d}: decided at each close, filled at "
                "the next open; the portfolio, orders and checks shown are the backtest's last day."),
               *result.notes[:20]],
    )
    out = args.out or Path(tempfile.mkdtemp(prefix="tradepipe-backtest-"))
    paths = write_report(out, data)
    summary.to_csv(out / "summary.csv", index=False)
    by_regime.to_csv(out / "regimes.csv", index=False)
    print(f"\nreport: {paths['report']}")
    print(f"files:  {', '.join(sorted(p.name for p in out.iterdir()))}")


if __name__ == "__main__":
    main()
