"""The portfolio step of the trading day: one date's signals, the book and trailing returns -> target weights.

Called by its Dagster asset in the daily run and, for every date of the history, by
:func:`ml.backtest.run_backtest`: the same date and book give the same weights.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from ml.portfolio.spec import PortfolioResult
from ml.portfolio.weights import target_weights

if TYPE_CHECKING:  # annotations only: ml.trades imports ml.portfolio
    from ml.trades.book import Book
    from ml.trades.spec import TradingSpec


def make_weights(signals: pd.DataFrame, book: Book, returns: pd.DataFrame, sectors: pd.Series,
                 regime: str | None, spec: TradingSpec) -> PortfolioResult:
    """Target weights for the date of ``signals`` (one date's rows of ``trading.signals``).

    ``returns`` are daily returns (date x ticker) up to and including the decision date.
    """
    scores = signals.set_index("ticker")["score"]
    eligible = signals.set_index("ticker")["signal"].fillna(0.0) > 0
    return target_weights(scores, book.shares.index, returns, sectors, regime, spec.portfolio,
                          eligible=eligible)
