"""The settings of the daily trading step (:class:`TradingSpec`), shared by the daily run and the backtest."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ml.portfolio import PortfolioSpec


@dataclass(frozen=True)
class TradingSpec:
    """Every setting of the daily trading step, with the defaults the daily run and backtest use.

    Signals: ``signal_method`` / ``top_pct`` / ``threshold`` (see
    :func:`ml.signals.predictions_to_signals`); a name is eligible to be bought when its signal
    is > 0. Portfolio: :class:`ml.portfolio.PortfolioSpec`. Trades: costs in basis points of
    notional, the smallest order, the ADV share before an order is flagged and the no-trade band
    (see :func:`ml.trades.plan_trades`). Safety: the limits of :func:`ml.trades.check_trades`
    and the kill switch: its rules (:func:`ml.trades.kill_switch`) and what a breach does and how
    the switch re-arms (``kill_switch_mode`` ... ``rearm_grace_days``, see :mod:`ml.trades.switch`).
    """

    signal_method: str = "rank"
    top_pct: float = 0.2
    threshold: float = 0.0
    portfolio: PortfolioSpec = field(default_factory=PortfolioSpec)
    capital: float = 1_000_000.0
    commission_bps: float = 1.0
    slippage_bps: float = 5.0
    min_trade_notional: float = 100.0
    max_adv_share: float = 0.05
    no_trade_band: float = 0.005
    max_turnover: float = 0.5
    max_trade_share: float = 0.10
    max_cost_share: float = 0.005
    max_trades: int = 100
    max_daily_loss: float = 0.03
    sharpe_window_days: int = 30
    min_sharpe: float = 0.5
    kill_switch_mode: str = "derisk"
    cooldown_days: int = 10
    rearm_sharpe: float = 0.5
    max_halt_days: int = 30
    rearm_grace_days: int = 10
    weight_tolerance: float = 0.01

    def __post_init__(self) -> None:
        if not (math.isfinite(self.capital) and self.capital > 0):
            raise ValueError(f"capital must be finite and > 0, got {self.capital!r}")
        if self.max_trades < 0:
            raise ValueError(f"max_trades must be >= 0, got {self.max_trades!r}")
        if self.kill_switch_mode not in ("derisk", "freeze"):
            raise ValueError(f"kill_switch_mode must be 'derisk' or 'freeze', got {self.kill_switch_mode!r}")
        if not 1 <= self.cooldown_days <= self.max_halt_days:
            raise ValueError(f"the kill switch needs 1 <= cooldown_days <= max_halt_days, got cooldown_days "
                             f"{self.cooldown_days!r} and max_halt_days {self.max_halt_days!r}")
        if self.rearm_grace_days < 0:
            raise ValueError(f"rearm_grace_days must be >= 0, got {self.rearm_grace_days!r}")
