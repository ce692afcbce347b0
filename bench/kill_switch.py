"""The kill switch side by side: the backtest with the old rule ('freeze') and the new one ('derisk').

    python -m bench.kill_switch CASE WAREHOUSE PREDS REGIMES [--model NAME] [--optimizer NAME] [--variants A,B] [--jobs N]

CASE names the data (``sample``, ``shared``); WAREHOUSE is a built warehouse (opened read-only:
prices, sectors, ^GSPC); PREDS a pickle of walk-forward out-of-sample predictions (date, ticker,
yhat, yhat_std, prob_up, as ``bench.models`` writes ``oos_<model>.pkl``); REGIMES a pickle of the
walk-forward regime history (``regimes.pkl``). Every setting is the project config's
(tradepipe.toml, the optimizer ``equal_weight`` as the pipeline uses without a comparison);
only the kill switch differs between the rows:

* ``freeze``: the rule before the state machine -- a day on which a rule fails blocks every order,
  re-evaluated each day with no memory;
* ``derisk``: the default -- a breach halts the switch until it re-arms (cool-down and recovered
  Sharpe, or the maximum halt; grace after a re-arm); while halted buys and swaps are blocked, trims
  and forced exits approved;
* ``derisk_no_memory``: sells allowed while a rule fails, but no hysteresis (re-evaluated each day
  like ``freeze``): separates what allowing the sells does from what the memory does.

Each run updates ``bench/results/kill_switch.json`` (one entry per case) and rewrites
``bench/results/kill_switch.md`` from it. This is a risk-design change, not a tuning target: the
figures are reported as measured, and nothing is chosen from them.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

RESULTS = Path(__file__).resolve().parent / "results"
VARIANTS: dict[str, dict[str, Any]] = {
    "freeze": {"kill_switch_mode": "freeze"},
    "derisk": {"kill_switch_mode": "derisk"},
    "derisk_no_memory": {"kill_switch_mode": "derisk", "cooldown_days": 1, "max_halt_days": 1,
                          "rearm_grace_days": 0},
}
COUNTS = ("halted_days", "halts", "longest_halt", "blocked_days")
COLUMNS = ("sharpe", "cagr", "max_drawdown", "halted_days", "halts", "longest_halt", "blocked_days", "turnover")


def run_case(warehouse: str, preds_path: str, regimes_path: str, optimizer: str,
             variants: list[str], jobs: int = 1) -> dict[str, Any]:
    from assets.resources import TradingSettings
    from bench.models import backtest_inputs

    preds = pd.read_pickle(preds_path)
    regimes = pd.read_pickle(regimes_path).set_index("date")["regime"]
    with duckdb.connect(warehouse, read_only=True) as con:
        preds, prices, sectors, index, ic = backtest_inputs(con, preds, regimes)
    base = TradingSettings().spec(optimizer)
    out: dict[str, Any] = {"settings": {k: getattr(base, k) for k in (
        "max_daily_loss", "sharpe_window_days", "min_sharpe", "cooldown_days", "rearm_sharpe", "max_halt_days",
        "rearm_grace_days")}, "optimizer": optimizer, "variants": {}}
    inputs = (preds[["date", "ticker", "yhat", "yhat_std", "prob_up"]], prices, regimes, sectors, index, ic)
    specs = {name: dataclasses.replace(base, **VARIANTS[name]) for name in variants}
    if jobs > 1:
        with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("fork")) as pool:
            done = dict(zip(specs, pool.map(_variant, specs.values(), [inputs] * len(specs))))
    else:
        done = {name: _variant(spec, inputs) for name, spec in specs.items()}
    for name in variants:
        out["variants"][name], out["benchmarks"] = done[name]
        print(f"{name}: {out['variants'][name]}", flush=True)
    return out


def _variant(spec: Any, inputs: tuple) -> tuple[dict[str, Any], dict[str, Any]]:
    """One backtest: the model's row of the side-by-side table, and the benchmarks' metrics."""
    from assets.backtest import summarize
    from ml.backtest import STRATEGY, run_backtest

    preds, prices, regimes, sectors, index, ic = inputs
    started = time.perf_counter()
    result = run_backtest(preds, prices, regimes, sectors, spec, index_close=index)
    seconds = time.perf_counter() - started
    summary = summarize(result, ic)[0].set_index("strategy")
    model = result.daily[result.daily["strategy"] == STRATEGY]
    halted = result.trades.merge(model.loc[model["kill_switch_halted"].astype(bool), ["date"]], on="date")
    row = {
        **{c: _plain(summary.loc[STRATEGY, c]) for c in COLUMNS if c not in COUNTS},
        **{c: int(summary.loc[STRATEGY, c]) for c in COUNTS},
        "days": int(len(model)), "seconds": round(seconds, 1),
        "first_date": str(model["date"].min().date()), "last_date": str(model["date"].max().date()),
        "halted_sells_approved": int(((halted["side"] == "SELL") & (halted["status"] == "approved")).sum()),
        "halted_buys_blocked": int(((halted["side"] == "BUY") & (halted["status"] == "blocked")).sum()),
        "mean_exposure_halted": _plain(_exposure(model, True)),
        "mean_exposure_armed": _plain(_exposure(model, False)),
    }
    benchmarks = {s: {c: _plain(summary.loc[s, c]) for c in ("sharpe", "cagr", "max_drawdown")}
                  for s in summary.index if s != STRATEGY}
    return row, benchmarks


def _exposure(model: pd.DataFrame, halted: bool) -> float:
    """Mean invested share of the book (1 - cash / value) after the trades, on halted or armed days."""
    rows = model[model["kill_switch_halted"].astype(bool) == halted]
    if rows.empty:
        return float("nan")
    value = rows["value_end"] / (1 + rows["net_return"])  # the book's value at the trades
    return float((1 - rows["cash"] / value).mean())


def _plain(value: Any) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def render(results: dict[str, Any]) -> str:
    lines = ["# Kill switch: the old rule ('freeze') and the new one ('derisk'), side by side", "",
             "Generated by `python -m bench.kill_switch` (see bench/README.md). The backtest of the walk-forward",
             "out-of-sample predictions through the daily run's functions, every setting the project config's;",
             "only the kill switch differs. A risk-design change, not a tuning target: reported as measured.", ""]
    for case, r in results.items():
        s = r["settings"]
        first = next(iter(r["variants"].values()))
        lines += [f"## {case}", "",
                  f"{r['model']} predictions, optimizer {r['optimizer']}, {first['days']} days "
                  f"({first['first_date']} .. {first['last_date']}); measured {r['measured_at']}. Rules: daily loss "
                  f"> {s['max_daily_loss']:.0%} or {s['sharpe_window_days']}-day Sharpe < {s['min_sharpe']}; derisk "
                  f"re-arms after >= {s['cooldown_days']} days with Sharpe >= {s['rearm_sharpe']} or after "
                  f"{s['max_halt_days']} days, grace {s['rearm_grace_days']} days.", "",
                  "| kill switch | Sharpe | CAGR | max drawdown | days halted | halts | longest halt | days blocked "
                  "| sells approved while halted | buys blocked while halted | invested halted / armed |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for name, v in r["variants"].items():
            lines.append(
                f"| {name} | {v['sharpe']:.2f} | {v['cagr']:.2%} | {v['max_drawdown']:.2%} | {v['halted_days']} "
                f"| {v['halts']} | {v['longest_halt']} | {v['blocked_days']} | {v['halted_sells_approved']} "
                f"| {v['halted_buys_blocked']} | {_pct(v['mean_exposure_halted'])} / {_pct(v['mean_exposure_armed'])} |")
        bench = "; ".join(f"{b}: Sharpe {m['sharpe']:.2f}, CAGR {m['cagr']:.2%}, max drawdown {m['max_drawdown']:.2%}"
                          for b, m in r["benchmarks"].items())
        lines += ["", f"Benchmarks over the same days (no costs): {bench}.", ""]
    return "\n".join(lines)


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.0%}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("case")
    parser.add_argument("warehouse")
    parser.add_argument("preds")
    parser.add_argument("regimes")
    parser.add_argument("--model", default="lightgbm", help="the model that made PREDS (shown in the table)")
    parser.add_argument("--optimizer", default="equal_weight")
    parser.add_argument("--jobs", type=int, default=1, help="backtests run in parallel processes")
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help=f"comma-separated, of: {', '.join(VARIANTS)} (default: all)")
    args = parser.parse_args()
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        parser.error(f"unknown variants {unknown}; known: {', '.join(VARIANTS)}")
    result = run_case(args.warehouse, args.preds, args.regimes, args.optimizer, variants, args.jobs)
    result |= {"model": args.model, "measured_at": dt.date.today().isoformat()}
    path = RESULTS / "kill_switch.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    results[args.case] = result
    path.write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / "kill_switch.md").write_text(render(results) + "\n")
    print(render({args.case: result}))


if __name__ == "__main__":
    main()
