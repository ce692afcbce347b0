"""The paper book (:class:`Book`) and how approved trades move it (:func:`apply_trades`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ml.trades.safety import (
    advance_positions,
)


@dataclass(frozen=True)
class Book:
    """A long-only paper book: whole shares per ticker and cash."""

    shares: pd.Series
    cash: float

    @classmethod
    def empty(cls, cash: float) -> Book:
        return cls(pd.Series(dtype=np.int64), float(cash))

    def holdings_value(self, prices: pd.Series) -> float:
        """Market value of the shares; a held name without a price raises, naming it."""
        px = prices.reindex(self.shares.index).astype(float)
        missing = sorted(px.index[~(px > 0)])
        if missing:
            raise ValueError(f"no valid price for held tickers {missing}")
        return float((self.shares * px).sum())


def apply_trades(book: Book, trades: pd.DataFrame, mode: str = "paper") -> Book:
    """The book after the approved rows of ``trades`` (gated): shares move, cash pays notional and
    the estimated costs. Blocked rows change nothing."""
    approved = trades[trades["status"] == "approved"]
    signed = np.where(approved["side"] == "BUY", -1.0, 1.0) * approved["notional"].astype(float)
    costs = float((approved["commission_est"] + approved["slippage_est"]).sum()) if len(approved) else 0.0
    return Book(advance_positions(book.shares, trades, mode=mode), book.cash + float(signed.sum()) - costs)
