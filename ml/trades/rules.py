"""The limit rules of :mod:`ml.trades.safety` on arrays: the concentration limits of target weights
and the limits of a batch of orders. :func:`ml.trades.check_portfolio` / :func:`ml.trades.check_trades`
convert their frames and call these; the day kernel (:mod:`ml.trades.arrays`) calls them directly.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ml.trades.safety import CheckResult

__all__ = ["portfolio_rules", "trade_rules"]


def portfolio_rules(names: Sequence[str], w: np.ndarray, sector: Sequence[object | None],
                    max_weight: float, max_sector: float, tolerance: float) -> list[CheckResult]:
    """``weights_valid``, ``max_weight``, ``max_sector`` (see :func:`ml.trades.check_portfolio`);
    ``sector`` holds each name's label, None when it has none."""
    w = np.asarray(w, dtype=float)
    bad_mask = np.isnan(w) | (w < 0)
    total = float(np.nansum(w)) if len(w) else 0.0
    bad = {names[i]: float(w[i]) for i in np.flatnonzero(bad_mask)}
    results = [CheckResult("weights_valid", not bad and total <= 1 + tolerance,
                           f"sum {total:.4f}" + (f"; NaN/negative: {bad}" if bad else ""))]
    over = np.flatnonzero(w > max_weight + tolerance)
    top = float(np.nanmax(w)) if len(w) and not np.isnan(w).all() else float("nan")
    results.append(CheckResult(
        "max_weight", not len(over),
        f"over {max_weight:.2%}: { {names[i]: v for i, v in zip(over, np.round(w[over], 4).tolist())} }"
        if len(over) else f"max {top:.4f} <= {max_weight}"))
    by_sector: dict = {}
    no_sector = []
    for i in np.flatnonzero(w > 0):
        label = sector[i]
        if label is None:
            no_sector.append(names[i])
        else:
            by_sector[label] = by_sector.get(label, 0.0) + float(w[i])
    labels = sorted(by_sector)
    over_s = {k: float(np.round(by_sector[k], 4)) for k in labels if by_sector[k] > max_sector + tolerance}
    if no_sector:
        detail = f"no sector for {sorted(no_sector)}"
    elif over_s:
        detail = f"over {max_sector:.2%}: {over_s}"
    else:
        detail = f"max sector {max(by_sector.values()) if by_sector else 0.0:.4f} <= {max_sector}"
    results.append(CheckResult("max_sector", not no_sector and not over_s, detail))
    return results


def trade_rules(tickers: Sequence[str], notional: np.ndarray, cost: np.ndarray, flag: np.ndarray | None,
                portfolio_value: float, max_turnover: float, max_trade_share: float, max_cost_share: float,
                max_trades: int) -> list[CheckResult]:
    """``turnover``, ``max_trade_share``, ``max_cost_share``, ``max_trades``, ``liquidity`` (see
    :func:`ml.trades.check_trades`); ``cost`` = commission + slippage per order, ``flag`` the
    liquidity flags (NA read as flagged) or None when not computed."""
    turnover = float(notional.sum()) / portfolio_value / 2
    share = notional / portfolio_value
    big = [tickers[i] for i in np.flatnonzero(share > max_trade_share)]
    total_cost = float(cost.sum()) / portfolio_value
    results = [
        CheckResult("turnover", turnover <= max_turnover, f"turnover {turnover:.4f} vs max {max_turnover}"),
        CheckResult("max_trade_share", not big,
                    f"orders over {max_trade_share:.2%} of portfolio: {big}" if big
                    else f"largest {share.max() if len(share) else 0.0:.4f}"),
        CheckResult("max_cost_share", total_cost <= max_cost_share,
                    f"estimated cost {total_cost:.5f} of portfolio vs max {max_cost_share}"),
        CheckResult("max_trades", len(notional) <= max_trades, f"{len(notional)} orders vs max {max_trades}"),
    ]
    if flag is None:
        results.append(CheckResult("liquidity", True, "not checked: no ADV given"))
    else:
        flagged = [tickers[i] for i in np.flatnonzero(flag)]
        results.append(CheckResult("liquidity", not flagged,
                                   f"over the ADV limit or no ADV: {flagged}" if flagged
                                   else "all orders within the ADV limit"))
    return results
