"""Signals: predictions (and the regime) -> per-ticker scores and buy signals.

Modules: ``methods`` (the signal methods, score combination, the ``trading.signals`` table) and
``daily`` (:func:`make_signals`, the trading day's signal step).
"""

from ml.signals.daily import make_signals
from ml.signals.methods import (
    DEFAULT_REGIME_MULTIPLIERS,
    METHODS,
    combine_scores,
    predictions_to_signals,
    signals_table,
)

__all__ = [
    "combine_scores",
    "DEFAULT_REGIME_MULTIPLIERS",
    "make_signals",
    "METHODS",
    "predictions_to_signals",
    "signals_table",
]
