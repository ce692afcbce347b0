"""Pre-trade safety checks, the kill switch, the gate and paper position keeping.

Every check returns a list of :class:`CheckResult` (name, passed, detail) so the
caller (an asset check, a report) can show each rule. :func:`apply_gate` turns
the results into a decision for the whole batch: **any** failed rule blocks
**every** trade, with the failed rules joined into ``reason``. A check that
cannot be evaluated because its input is missing fails with the reason; it is
never reported as passed.

Only paper trading exists: :func:`advance_positions` applies approved trades to
the paper book in ``mode="paper"`` and raises ``NotImplementedError`` for any
other mode (live brokerage is not part of this project).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "CheckResult",
    "advance_positions",
    "apply_gate",
    "check_portfolio",
    "check_trades",
    "kill_switch",
]

TRADING_DAYS = 252


@dataclass(frozen=True)
class CheckResult:
    """Outcome of one safety rule: ``name``, ``passed`` and a readable ``detail``."""

    name: str
    passed: bool
    detail: str


def check_portfolio(
    weights: pd.Series,
    sectors: pd.Series,
    max_weight: float = 0.10,
    max_sector: float = 0.30,
    tolerance: float = 0.01,
) -> list[CheckResult]:
    """Concentration limits on target weights (ticker -> weight, long only).

    Rules: ``weights_valid`` (no NaN, no negative weight, total <= 1 + tolerance),
    ``max_weight`` (each weight <= max_weight + tolerance), ``max_sector`` (each
    sector's total <= max_sector + tolerance; a weighted name without a sector
    in ``sectors`` (ticker -> sector) fails the rule).
    """
    w = weights.astype(float)
    bad = w[w.isna() | (w < 0)]
    total = float(w.sum())
    valid = len(bad) == 0 and total <= 1 + tolerance
    results = [CheckResult(
        "weights_valid", valid,
        f"sum {total:.4f}" + (f"; NaN/negative: {bad.to_dict()}" if len(bad) else ""))]
    over = w[w > max_weight + tolerance]
    results.append(CheckResult(
        "max_weight", over.empty,
        f"over {max_weight:.2%}: {over.round(4).to_dict()}" if len(over)
        else f"max {w.max():.4f} <= {max_weight}"))
    held = w[w > 0]
    no_sector = sorted(set(held.index) - set(sectors.dropna().index))
    by_sector = held.groupby(sectors.reindex(held.index)).sum()
    over_s = by_sector[by_sector > max_sector + tolerance]
    if no_sector:
        detail = f"no sector for {no_sector}"
    elif len(over_s):
        detail = f"over {max_sector:.2%}: {over_s.round(4).to_dict()}"
    else:
        detail = f"max sector {by_sector.max() if len(by_sector) else 0.0:.4f} <= {max_sector}"
    results.append(CheckResult("max_sector", not no_sector and over_s.empty, detail))
    return results


def check_trades(
    trades: pd.DataFrame,
    portfolio_value: float,
    max_turnover: float = 0.50,
    max_trade_share: float = 0.10,
    max_cost_share: float = 0.005,
    max_trades: int = 100,
) -> list[CheckResult]:
    """Limits on a batch of orders (columns as from :func:`ml.trades.plan_trades`).

    Rules: ``turnover`` (sum notional / portfolio_value / 2 <= max_turnover),
    ``max_trade_share`` (each notional / portfolio_value), ``max_cost_share``
    ((commission_est + slippage_est) / portfolio_value), ``max_trades`` (count),
    and ``liquidity`` (no order with ``liquidity_flag`` True; when the flag was
    not computed the rule passes and says "not checked").
    """
    if not (math.isfinite(portfolio_value) and portfolio_value > 0):
        raise ValueError(f"portfolio_value must be finite and > 0, got {portfolio_value!r}")
    notional = trades["notional"].astype(float)
    turnover = float(notional.sum()) / portfolio_value / 2
    share = notional / portfolio_value
    big = trades.loc[share > max_trade_share, "ticker"].tolist()
    cost = float((trades["commission_est"] + trades["slippage_est"]).sum()) / portfolio_value
    results = [
        CheckResult("turnover", turnover <= max_turnover,
                    f"turnover {turnover:.4f} vs max {max_turnover}"),
        CheckResult("max_trade_share", not big,
                    f"orders over {max_trade_share:.2%} of portfolio: {big}" if big
                    else f"largest {share.max() if len(share) else 0.0:.4f}"),
        CheckResult("max_cost_share", cost <= max_cost_share,
                    f"estimated cost {cost:.5f} of portfolio vs max {max_cost_share}"),
        CheckResult("max_trades", len(trades) <= max_trades,
                    f"{len(trades)} orders vs max {max_trades}"),
    ]
    flag = trades["liquidity_flag"] if "liquidity_flag" in trades else None
    if flag is None or (len(flag) and flag.isna().all()):
        results.append(CheckResult("liquidity", True, "not checked: no ADV given"))
    else:
        flagged = trades.loc[flag.fillna(True).astype(bool), "ticker"].tolist()
        results.append(CheckResult("liquidity", not flagged,
                                   f"over the ADV limit or no ADV: {flagged}" if flagged
                                   else "all orders within the ADV limit"))
    return results


def kill_switch(
    daily_returns: pd.Series,
    max_daily_loss: float = 0.03,
    sharpe_window_days: int = 30,
    min_sharpe: float = 0.5,
) -> list[CheckResult]:
    """Stop trading after a large daily loss or a weak trailing Sharpe ratio.

    Rules: ``daily_loss`` (the latest return >= -max_daily_loss) and
    ``trailing_sharpe`` (annualised Sharpe ``mean / std * sqrt(252)``, ``ddof=1``,
    over the last ``sharpe_window_days`` returns -- 30 trading days, about six
    weeks -- must be >= min_sharpe). A zero-volatility window has Sharpe +inf,
    -inf or 0 by the sign of its mean (a flat book shows no edge and fails a
    positive ``min_sharpe``).

    Too-short histories: with fewer than ``sharpe_window_days`` returns the
    Sharpe rule is *not applied* and passes with a detail saying so (a new
    paper book must be able to start); with no returns at all the daily-loss
    rule is not applied either. NaN returns raise: a missing day is an error.
    """
    r = daily_returns.astype(float)
    if r.isna().any():
        raise ValueError(f"daily_returns has NaN on {[str(i) for i in r.index[r.isna()]]}")
    if sharpe_window_days < 2:
        raise ValueError(f"sharpe_window_days must be >= 2, got {sharpe_window_days}")
    if r.empty:
        loss = CheckResult("daily_loss", True, "not applied: no returns yet")
    else:
        last = float(r.iloc[-1])
        loss = CheckResult("daily_loss", last >= -max_daily_loss,
                           f"last return {last:.4f} on {r.index[-1]} vs max loss {max_daily_loss}")
    if len(r) < sharpe_window_days:
        sharpe_res = CheckResult(
            "trailing_sharpe", True,
            f"not applied: {len(r)} of {sharpe_window_days} days of history")
    else:
        window = r.iloc[-sharpe_window_days:]
        mean, std = float(window.mean()), float(window.std(ddof=1))
        sharpe = mean / std * np.sqrt(TRADING_DAYS) if std > 0 else math.copysign(
            math.inf, mean) if mean != 0 else 0.0
        sharpe_res = CheckResult(
            "trailing_sharpe", sharpe >= min_sharpe,
            f"{sharpe_window_days}-day annualised Sharpe {sharpe:.3f} vs min {min_sharpe}")
    return [loss, sharpe_res]


def apply_gate(trades: pd.DataFrame, results: list[CheckResult]) -> pd.DataFrame:
    """Mark every trade 'approved' or, on any failed rule, 'blocked' with the reasons.

    ``reason`` is ``"all N checks passed"`` when approved, else the failed rules
    as ``"name: detail"`` joined by ``"; "``. No results at all is an error:
    unchecked trades are never approved.
    """
    if not results:
        raise ValueError("no check results: refusing to approve unchecked trades")
    failed = [r for r in results if not r.passed]
    out = trades.copy()
    out["status"] = "blocked" if failed else "approved"
    out["reason"] = ("; ".join(f"{r.name}: {r.detail}" for r in failed) if failed
                     else f"all {len(results)} checks passed")
    return out


def advance_positions(
    positions: pd.Series, trades: pd.DataFrame, mode: str = "paper"
) -> pd.Series:
    """Paper book after the approved trades (ticker -> shares, zero rows dropped).

    Only rows with ``status == 'approved'`` move positions: BUY adds shares,
    SELL subtracts. A sell below zero shares raises (long-only book).

    Raises
    ------
    NotImplementedError
        For any ``mode`` other than ``"paper"``: live brokerage is not part of
        this project.
    """
    if mode != "paper":
        raise NotImplementedError(
            f"mode {mode!r} is not supported: only 'paper' trading exists; "
            "live brokerage is not part of this project")
    if "status" not in trades:
        raise ValueError("trades have no 'status' column: run apply_gate first")
    bad_side = sorted(set(trades["side"]) - {"BUY", "SELL"})
    if bad_side:
        raise ValueError(f"unknown trade sides {bad_side}; expected 'BUY' or 'SELL'")
    ok = trades[trades["status"] == "approved"]
    change = (ok["shares"] * np.where(ok["side"] == "BUY", 1, -1)).groupby(ok["ticker"]).sum()
    new = positions.add(change, fill_value=0)
    short = new[new < 0]
    if len(short):
        raise ValueError(f"approved sells exceed holdings: {short.to_dict()}")
    return new[new != 0].astype(np.int64).sort_index()
