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
    from ml.trades.rules import portfolio_rules  # here: rules imports CheckResult from this module

    w = weights.astype(float)
    labels = sectors.dropna()
    sector = [labels.get(t) if t in labels.index else None for t in w.index]
    return portfolio_rules(list(w.index), w.to_numpy(), sector, max_weight, max_sector, tolerance)


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
    from ml.trades.rules import trade_rules  # here: rules imports CheckResult from this module

    flag = trades["liquidity_flag"] if "liquidity_flag" in trades else None
    flags = None if flag is None or (len(flag) and flag.isna().all()) else flag.fillna(True).to_numpy(dtype=bool)
    return trade_rules(trades["ticker"].tolist(), trades["notional"].to_numpy(dtype=float),
                       (trades["commission_est"] + trades["slippage_est"]).to_numpy(dtype=float), flags,
                       portfolio_value, max_turnover, max_trade_share, max_cost_share, max_trades)


def kill_switch(
    daily_returns: pd.Series,
    max_daily_loss: float = 0.03,
    sharpe_window_days: int = 30,
    min_sharpe: float = 0.5,
    *,
    last_date: object = None,
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

    ``daily_returns`` is a Series indexed by date, or (the backtest, every day) an array with
    ``last_date`` the date of its last return.
    """
    r = np.asarray(daily_returns, dtype=float)
    index = getattr(daily_returns, "index", None)
    if np.isnan(r).any():
        where = np.flatnonzero(np.isnan(r))
        raise ValueError(f"daily_returns has NaN on {[str(index[i]) if index is not None else f'position {i}' for i in where]}")
    if last_date is None and index is not None and len(r):
        last_date = index[-1]
    if sharpe_window_days < 2:
        raise ValueError(f"sharpe_window_days must be >= 2, got {sharpe_window_days}")
    if not len(r):
        loss = CheckResult("daily_loss", True, "not applied: no returns yet")
    else:
        last = float(r[-1])
        loss = CheckResult("daily_loss", last >= -max_daily_loss,
                           f"last return {last:.4f} on {last_date} vs max loss {max_daily_loss}")
    sharpe = trailing_sharpe(r, sharpe_window_days)
    if sharpe is None:
        sharpe_res = CheckResult(
            "trailing_sharpe", True,
            f"not applied: {len(r)} of {sharpe_window_days} days of history")
    else:
        sharpe_res = CheckResult(
            "trailing_sharpe", sharpe >= min_sharpe,
            f"{sharpe_window_days}-day annualised Sharpe {sharpe:.3f} vs min {min_sharpe}")
    return [loss, sharpe_res]


def trailing_sharpe(returns: np.ndarray, window: int) -> float | None:
    """The annualised Sharpe of the last ``window`` returns (``ddof=1``) as :func:`kill_switch`
    judges it; +inf, -inf or 0 by the sign of the mean when they do not vary; None when shorter."""
    if len(returns) < window:
        return None
    w = np.asarray(returns[-window:], dtype=float)
    mean, std = float(w.mean()), float(w.std(ddof=1))
    if std > 0:
        return mean / std * math.sqrt(TRADING_DAYS)
    return math.copysign(math.inf, mean) if mean != 0 else 0.0


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
