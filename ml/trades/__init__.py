"""Trades: target weights -> whole-share orders, the safety rules and gate, and the paper book.

Modules by job: ``spec`` (:class:`TradingSpec`), ``orders`` (:func:`plan_trades`), ``safety``
(the rules and the gate), ``book`` (:class:`Book`, :func:`apply_trades`) and ``daily``
(:func:`make_trades`, the trading day's trade step), ``switch`` (the kill switch's state
machine: :class:`KillSwitchState`, :func:`step_kill_switch`, the gate by side) and ``reasons`` (:func:`trade_reasons`: the
features behind each traded name's prediction).
"""

from ml.trades.book import Book, apply_trades
from ml.trades.daily import TradeDecision, make_trades, portfolio_check
from ml.trades.orders import ORDER_COLUMNS, plan_trades, summarize_trades
from ml.trades.reasons import REASON_COLUMNS, no_reasons, trade_reasons, unexplained
from ml.trades.safety import (
    TRADING_DAYS,
    CheckResult,
    advance_positions,
    apply_gate,
    check_portfolio,
    check_trades,
    kill_switch,
)
from ml.trades.spec import TradingSpec
from ml.trades.switch import KILL_SWITCH_MODES, KILL_SWITCH_RULES, KillSwitchState, halt_stats
from ml.trades.switch import step as step_kill_switch

__all__ = [
    "advance_positions",
    "apply_gate",
    "apply_trades",
    "Book",
    "check_portfolio",
    "check_trades",
    "CheckResult",
    "kill_switch",
    "KILL_SWITCH_MODES",
    "KILL_SWITCH_RULES",
    "KillSwitchState",
    "halt_stats",
    "step_kill_switch",
    "make_trades",
    "no_reasons",
    "ORDER_COLUMNS",
    "plan_trades",
    "portfolio_check",
    "REASON_COLUMNS",
    "summarize_trades",
    "trade_reasons",
    "TradeDecision",
    "TRADING_DAYS",
    "TradingSpec",
    "unexplained",
]
