"""The backtest: the trading day replayed over history, and its performance measures.

Modules: ``engine`` (:func:`run_backtest`, the same daily step as the live run) and ``performance``
(equity, drawdown, summary, regime breakdown).
"""

from ml.backtest.engine import (
    BENCH_EQUAL,
    BENCH_INDEX,
    STRATEGY,
    BacktestResult,
    price_panels,
    run_backtest,
)
from ml.backtest.performance import (
    REGIME_ORDER,
    TRADING_DAYS,
    drawdown,
    equity_curve,
    performance_summary,
    regime_breakdown,
)

__all__ = [
    "BENCH_EQUAL",
    "BENCH_INDEX",
    "STRATEGY",
    "BacktestResult",
    "drawdown",
    "equity_curve",
    "performance_summary",
    "price_panels",
    "regime_breakdown",
    "REGIME_ORDER",
    "run_backtest",
    "TRADING_DAYS",
]
