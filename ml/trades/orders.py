"""Plan whole-share orders that move a long-only book to its target weights.

:func:`plan_trades` turns current holdings and target weights into a list of
orders; :func:`summarize_trades` reports their size and cost. The planner is
deliberately simple and conservative (the rules run on arrays in
:func:`ml.trades.arrays.plan_orders`, which the backtest calls directly):

1. **Targets.** ``target_shares = floor(weight * portfolio_value / price)``:
   rounding down never buys more than the target weight. Names held but absent
   from the targets have target 0 (sold to zero).
2. **Minimum size.** Orders with ``notional < min_trade_notional`` are dropped,
   except full exits (target 0), which always trade so no dust is left behind.
3. **Cash.** Sells execute first. Buys may spend ``cash`` plus the sell
   proceeds net of estimated costs; when the buys plus their costs need more,
   every buy is scaled by the same factor and rounded *down* to whole shares
   (then the minimum size is applied again). Cash after the plan is never
   negative.
4. **Costs.** ``commission_est = notional * commission_bps / 1e4`` and
   ``slippage_est = notional * slippage_bps / 1e4``, both positive.
5. **No-trade band.** A name that is held and stays in the targets is left alone
   while its weight is within ``no_trade_band`` of the target: price drift alone
   does not generate a stream of small rebalancing orders. New names and exits
   always trade.
6. **Liquidity.** ``liquidity_flag`` is True when ``shares > max_adv_share *
   adv20_shares`` (or ADV is missing / non-positive for that name: it cannot be
   checked), and ``<NA>`` for every order when no ADV is given at all.

A missing or non-positive price for a name that is held or targeted raises:
a held name is never skipped silently.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ml.trades.arrays import Orders, plan_orders

__all__ = ["ORDER_COLUMNS", "orders_frame", "plan_trades", "summarize_trades"]

ORDER_COLUMNS: list[str] = [
    "ticker",
    "side",
    "shares",
    "price",
    "notional",
    "weight_change",
    "commission_est",
    "slippage_est",
    "liquidity_flag",
]


def plan_trades(
    current_shares: pd.Series,
    target_weights: pd.Series,
    prices: pd.Series,
    portfolio_value: float,
    cash: float,
    adv20_shares: pd.Series | None = None,
    commission_bps: float = 1.0,
    slippage_bps: float = 5.0,
    min_trade_notional: float = 100.0,
    max_adv_share: float = 0.05,
    no_trade_band: float = 0.0,
) -> pd.DataFrame:
    """Whole-share orders from holdings to target weights, sells first.

    Parameters
    ----------
    current_shares : Series
        ticker -> shares held (>= 0, long only).
    target_weights : Series
        ticker -> target weight of ``portfolio_value`` (>= 0, long only).
    prices : Series
        ticker -> execution price estimate (> 0 for every held or targeted name).
    portfolio_value : float
        Value the weights refer to (> 0).
    cash : float
        Cash available before the trades (>= 0).
    adv20_shares : Series, optional
        ticker -> 20-day average daily volume in shares, for ``liquidity_flag``.
    commission_bps, slippage_bps : float
        Cost estimates in basis points of notional.
    min_trade_notional : float
        Smallest order kept (full exits excepted).
    max_adv_share : float
        Largest order as a share of ADV before it is flagged.
    no_trade_band : float
        Held names whose current weight is within this distance of a non-zero
        target weight are not traded (0 = always trade back to the target).

    Returns
    -------
    DataFrame
        Columns :data:`ORDER_COLUMNS`; sells (by ticker) then buys (by ticker).
        ``shares`` and ``notional`` are positive, ``side`` gives the direction,
        ``weight_change`` is signed (``+`` for buys).

    Raises
    ------
    ValueError
        On invalid parameters, NaN/negative holdings or weights, and a missing
        or non-positive price for a name that must trade (naming the tickers).

    Examples
    --------
    >>> import pandas as pd
    >>> orders = plan_trades(pd.Series({"A": 10}), pd.Series({"B": 0.5}),
    ...                      pd.Series({"A": 50.0, "B": 20.0}), 1_000.0, 500.0)
    >>> orders[["ticker", "side", "shares"]].values.tolist()
    [['A', 'SELL', 10], ['B', 'BUY', 25]]
    """
    _check_scalars(portfolio_value, cash, commission_bps, slippage_bps,
                   min_trade_notional, max_adv_share)
    if not (math.isfinite(no_trade_band) and no_trade_band >= 0):
        raise ValueError(f"no_trade_band must be finite and >= 0, got {no_trade_band!r}")
    held = _check_nonnegative(current_shares, "current_shares")
    weights = _check_nonnegative(target_weights, "target_weights")
    names = sorted(set(held[held != 0].index) | set(weights[weights != 0].index))
    px = prices.reindex(names).astype(float)
    bad = px[~(px > 0)]
    if len(bad):
        raise ValueError(
            f"missing or non-positive price for tickers that must trade: "
            f"{ {t: (None if np.isnan(p) else p) for t, p in bad.items()} }"
        )
    orders = plan_orders(np.arange(len(names)), held.reindex(names, fill_value=0).to_numpy(dtype=np.int64),
                         weights.reindex(names, fill_value=0.0).to_numpy(dtype=float), px.to_numpy(),
                         None if adv20_shares is None else adv20_shares.reindex(names).astype(float).to_numpy(),
                         portfolio_value, cash, commission_bps, slippage_bps, min_trade_notional,
                         max_adv_share, no_trade_band)
    return orders_frame(orders, names)


def orders_frame(orders: Orders, tickers: Sequence[str]) -> pd.DataFrame:
    """The rows of :data:`ORDER_COLUMNS` for array orders (``tickers``: the ticker of each position)."""
    ticker = np.asarray(tickers, dtype=object)
    return pd.DataFrame({
        "ticker": pd.Series(ticker[orders.pos] if len(orders) else np.zeros(0, dtype=object), dtype=object),
        "side": np.where(orders.buy, "BUY", "SELL").astype(object),
        "shares": orders.shares.astype(np.int64),
        "price": orders.price,
        "notional": orders.notional,
        "weight_change": orders.weight_change,
        "commission_est": orders.commission,
        "slippage_est": orders.slippage,
        "liquidity_flag": pd.array(orders.flag, dtype="boolean") if orders.flag is not None
        else pd.array([pd.NA] * len(orders), dtype="boolean"),
    })[ORDER_COLUMNS]


def _check_nonnegative(values: pd.Series, name: str) -> pd.Series:
    values = values.astype(float)
    bad = values[values.isna() | (values < 0)]
    if len(bad):
        raise ValueError(f"{name} must be >= 0 and not NaN (long only); bad: {bad.to_dict()}")
    if not values.index.is_unique:
        raise ValueError(f"{name} has duplicate tickers: "
                         f"{sorted(set(values.index[values.index.duplicated()]))}")
    return values


def _check_scalars(portfolio_value: float, cash: float, commission_bps: float,
                   slippage_bps: float, min_trade_notional: float,
                   max_adv_share: float) -> None:
    if not (math.isfinite(portfolio_value) and portfolio_value > 0):
        raise ValueError(f"portfolio_value must be finite and > 0, got {portfolio_value!r}")
    if not (math.isfinite(cash) and cash >= 0):
        raise ValueError(f"cash must be finite and >= 0, got {cash!r}")
    for label, v in (("commission_bps", commission_bps), ("slippage_bps", slippage_bps),
                     ("min_trade_notional", min_trade_notional)):
        if not (math.isfinite(v) and v >= 0):
            raise ValueError(f"{label} must be finite and >= 0, got {v!r}")
    if not max_adv_share > 0:
        raise ValueError(f"max_adv_share must be > 0, got {max_adv_share!r}")


def summarize_trades(orders: pd.DataFrame, portfolio_value: float) -> dict[str, float]:
    """Size and cost of a set of orders.

    ``turnover = (buy notional + sell notional) / portfolio_value / 2`` (one-way:
    selling 10% of the book to buy another 10% is 0.10).

    Returns
    -------
    dict
        n_trades, n_buys, n_sells, buy_notional, sell_notional, turnover,
        commission_est, slippage_est, total_cost, n_liquidity_flags.
    """
    if not (math.isfinite(portfolio_value) and portfolio_value > 0):
        raise ValueError(f"portfolio_value must be finite and > 0, got {portfolio_value!r}")
    buy = orders["side"] == "BUY"
    commission = float(orders["commission_est"].sum())
    slippage = float(orders["slippage_est"].sum())
    return {
        "n_trades": int(len(orders)),
        "n_buys": int(buy.sum()),
        "n_sells": int((~buy).sum()),
        "buy_notional": float(orders.loc[buy, "notional"].sum()),
        "sell_notional": float(orders.loc[~buy, "notional"].sum()),
        "turnover": float(orders["notional"].sum()) / portfolio_value / 2,
        "commission_est": commission,
        "slippage_est": slippage,
        "total_cost": commission + slippage,
        "n_liquidity_flags": int(orders["liquidity_flag"].fillna(False).sum())
        if "liquidity_flag" in orders else 0,
    }
