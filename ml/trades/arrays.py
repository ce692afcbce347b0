"""The trade step on arrays: orders to the target weights, every safety rule, the gate, the book after.

Tickers are integer positions in one universe sorted by ticker. :func:`plan_orders` is the kernel
of :func:`ml.trades.plan_trades`; :func:`trade_day` is the kernel of :func:`ml.trades.make_trades`
and the backtest's day step. The safety rules of :mod:`ml.trades.safety` are called from one
place, :func:`trade_day`: one step of the kill switch (:func:`ml.trades.switch.step`), one gate
(:func:`ml.trades.switch.gate_status`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ml.trades.rules import portfolio_rules, trade_rules
from ml.trades.safety import CheckResult
from ml.trades.spec import TradingSpec
from ml.trades.switch import KillSwitchState, gate_status, let_through, step

__all__ = ["Orders", "DayTrades", "plan_orders", "trade_day"]


@dataclass(frozen=True)
class Orders:
    """Whole-share orders, sells (by position) then buys (by position)."""

    pos: np.ndarray           # universe positions
    buy: np.ndarray           # bool: BUY, else SELL
    shares: np.ndarray        # int64 > 0
    price: np.ndarray
    notional: np.ndarray
    weight_change: np.ndarray
    commission: np.ndarray
    slippage: np.ndarray
    flag: np.ndarray | None   # liquidity flag, None when no ADV was given

    @classmethod
    def none(cls, with_flag: bool = True) -> Orders:
        f, i = np.zeros(0), np.zeros(0, dtype=np.int64)
        return cls(i, np.zeros(0, dtype=bool), i, f, f, f, f, f, np.zeros(0, dtype=bool) if with_flag else None)

    def __len__(self) -> int:
        return len(self.pos)


def plan_orders(pos: np.ndarray, now: np.ndarray, w: np.ndarray, p: np.ndarray, adv: np.ndarray | None,
                portfolio_value: float, cash: float, commission_bps: float, slippage_bps: float,
                min_trade_notional: float, max_adv_share: float, no_trade_band: float) -> Orders:
    """The rules of :func:`ml.trades.plan_trades` for the names ``pos`` (sorted positions, each held
    or targeted, every price > 0): ``now`` shares held, ``w`` target weights, ``p`` prices,
    ``adv`` 20-day volume in shares (None: flags not computed)."""
    target = np.floor(w * portfolio_value / p + 1e-9).astype(np.int64)
    exit_all = target == 0
    in_band = (now > 0) & ~exit_all & (np.abs(w - now * p / portfolio_value) < no_trade_band)
    delta = np.where(in_band, 0, target - now)
    cost_rate = (commission_bps + slippage_bps) / 1e4

    sell = np.where(delta < 0, -delta, 0)
    sell = np.where((sell * p >= min_trade_notional) | exit_all, sell, 0)
    buy = np.where(delta > 0, delta, 0)
    buy = np.where(buy * p >= min_trade_notional, buy, 0)

    available = cash + float((sell * p).sum()) * (1 - cost_rate)
    needed = float((buy * p).sum()) * (1 + cost_rate)
    if needed > available:
        buy = np.floor(buy * (available / needed)).astype(np.int64)
        buy = np.where(buy * p >= min_trade_notional, buy, 0)

    is_sell, is_buy = sell > 0, buy > 0
    shares = np.concatenate([sell[is_sell], buy[is_buy]]).astype(np.int64)
    price = np.concatenate([p[is_sell], p[is_buy]])
    notional = shares * price
    side_buy = np.concatenate([np.zeros(int(is_sell.sum()), dtype=bool), np.ones(int(is_buy.sum()), dtype=bool)])
    flag = None
    if adv is not None:
        limit = np.concatenate([adv[is_sell], adv[is_buy]]) * max_adv_share
        unknown = ~(limit > 0)
        flag = unknown | (shares > np.where(unknown, 0, limit))
    return Orders(np.concatenate([pos[is_sell], pos[is_buy]]), side_buy, shares, price, notional,
                  np.where(side_buy, 1.0, -1.0) * notional / portfolio_value,
                  notional * commission_bps / 1e4, notional * slippage_bps / 1e4, flag)


@dataclass(frozen=True)
class DayTrades:
    """:func:`trade_day`'s outcome: the orders with their gate status and reason, the checks, the
    book after (shares over the universe, cash), value, costs, turnover, verdict, notes."""

    orders: Orders
    status: np.ndarray        # "approved" / "blocked" per order
    reason: np.ndarray
    checks: list[CheckResult]
    shares_after: np.ndarray
    cash_after: float
    value: float
    costs: float
    turnover: float
    approved: bool
    notes: tuple[str, ...]
    kill_switch: KillSwitchState


def trade_day(shares: np.ndarray, cash: float, weights: np.ndarray, targeted: np.ndarray, px: np.ndarray,
              adv: np.ndarray, sector: np.ndarray, sector_labels: Sequence[object], tickers: Sequence[str],
              portfolio_ok: CheckResult, book_returns: pd.Series | np.ndarray, spec: TradingSpec,
              switch: KillSwitchState, scored: np.ndarray, last_return_date: object = None) -> DayTrades:
    """The rules of :func:`ml.trades.make_trades` on arrays over the universe.

    ``shares`` int64 held (0: not held), ``weights`` target weights, ``targeted`` the names the
    portfolio step weighted (the entries of its weights), ``px`` prices (NaN: none), ``adv``
    20-day volume in shares, ``sector`` codes into ``sector_labels`` (-1: none), ``switch`` the
    kill switch after the previous decision date, ``scored`` the names with a score today (a held
    name without one is a forced exit, which a halted switch lets through), ``book_returns`` the
    returns known today (a Series by date, or an array whose last return is ``last_return_date``'s).
    """
    notes: list[str] = []
    held = shares != 0
    priced = px > 0
    unpriced_held = held & ~priced
    unpriced_target = targeted & (weights != 0) & ~held & ~priced
    if unpriced_target.any():
        notes.append(f"not bought, no valid price: {[tickers[i] for i in np.flatnonzero(unpriced_target)]}")
    ok_held = held & priced
    value = cash + float((shares[ok_held] * px[ok_held]).sum())
    tpos = np.flatnonzero(targeted)
    checks = [portfolio_ok]
    checks += portfolio_rules([tickers[i] for i in tpos], weights[tpos],
                              [sector_labels[c] if c >= 0 else None for c in sector[tpos]],
                              spec.portfolio.max_weight, spec.portfolio.max_sector, spec.weight_tolerance)
    bad_held = np.flatnonzero(unpriced_held)
    checks.append(CheckResult("prices_valid", not len(bad_held),
                              f"no valid price for held tickers {[tickers[i] for i in bad_held]}" if len(bad_held)
                              else "every held and targeted name has a price"))
    if len(bad_held):
        orders = Orders.none()
    else:
        target_w = np.where(targeted & ~unpriced_target, weights, 0.0)
        pos = np.flatnonzero(held | (target_w != 0))
        _check_plan(pos, target_w, px, value, cash, tickers)
        orders = plan_orders(pos, shares[pos], target_w[pos], px[pos], adv[pos], value, cash,
                             spec.commission_bps, spec.slippage_bps, spec.min_trade_notional,
                             spec.max_adv_share, spec.no_trade_band)
    switch, switch_checks = step(switch, book_returns, spec, last_return_date)
    # the order limits judge the orders that can execute: while halted, those the switch lets through
    kept = targeted & (weights > 0)
    derisking = kept[orders.pos] | ~scored[orders.pos]  # a trim of a kept name, or a forced exit
    through = let_through(orders.buy, derisking, switch, spec.kill_switch_mode)
    flag = None if orders.flag is None else orders.flag[through]
    checks += trade_rules([tickers[i] for i in orders.pos[through]], orders.notional[through],
                          (orders.commission + orders.slippage)[through], flag, value,
                          spec.max_turnover, spec.max_trade_share, spec.max_cost_share, spec.max_trades)
    checks += switch_checks
    status, reason = gate_status(through, checks, switch, spec.kill_switch_mode)
    ok = status == "approved"
    after = shares.copy()
    np.add.at(after, orders.pos[ok], np.where(orders.buy[ok], orders.shares[ok], -orders.shares[ok]))
    if (after < 0).any():
        raise ValueError(f"approved sells exceed holdings: "
                         f"{ {tickers[i]: int(after[i]) for i in np.flatnonzero(after < 0)} }")
    signed = np.where(orders.buy[ok], -1.0, 1.0) * orders.notional[ok]
    paid = float((orders.commission[ok] + orders.slippage[ok]).sum()) if ok.any() else 0.0
    cash_after = cash + float(signed.sum()) - paid
    # as summarize_trades: commission and slippage summed apart
    costs = float(orders.commission[ok].sum()) + float(orders.slippage[ok].sum()) if ok.any() else 0.0
    turnover = float(orders.notional[ok].sum()) / value / 2 if ok.any() else 0.0
    return DayTrades(orders, status, reason, checks, after, cash_after, value,
                     costs, turnover, bool(all(c.passed for c in checks)), tuple(notes), switch)


def _check_plan(pos: np.ndarray, w: np.ndarray, px: np.ndarray, value: float, cash: float,
                tickers: Sequence[str]) -> None:
    """The errors of :func:`ml.trades.plan_trades` that the day can meet."""
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"portfolio_value must be finite and > 0, got {value!r}")
    if not (np.isfinite(cash) and cash >= 0):
        raise ValueError(f"cash must be finite and >= 0, got {cash!r}")
    bad_w = np.isnan(w[pos]) | (w[pos] < 0)
    if bad_w.any():
        raise ValueError(f"target_weights must be >= 0 and not NaN (long only); bad: "
                         f"{ {tickers[i]: float(w[i]) for i in pos[bad_w]} }")
