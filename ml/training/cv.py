"""Cross-validation splitters for a (date, ticker) panel.

Both splitters follow the scikit-learn cross-validator protocol
(:class:`sklearn.model_selection.BaseCrossValidator`): ``split(X, y, groups)``
returns an iterator of ``(train_idx, test_idx)`` integer position arrays into
``X`` and ``get_n_splits`` counts the folds. They differ from
``TimeSeriesSplit`` in two ways that matter for a panel of many tickers:

* **Windows are counted in distinct dates, not rows.** ``groups`` carries the
  date of every row; the sorted unique dates of the panel are the trading
  calendar the windows are laid on. Rows need not be sorted: the splitters sort
  internally and return positions into ``X`` in ascending order.
* **Labels look forward.** A row dated ``t`` carries a label that is only known
  on ``label_end_date`` (after ``t``). A training row whose label becomes known
  on or after the first test date would leak test-period returns into the
  model, so such rows are *purged* (point-in-time rule 4 in ``DESIGN.md``).

Label end dates are aligned with the rows of ``X``. They are given either to
the constructor (``label_end_dates=...``) or to ``split`` / ``fold_bounds`` as a
keyword; the keyword wins when both are present. Rows whose label end date is
missing (``NaT``: the label is not known yet) are never used for training, but
they are tested on.

Examples
--------
Three tickers, twelve dates, labels known two dates later:

>>> import numpy as np, pandas as pd
>>> dates = np.repeat(pd.bdate_range("2024-01-01", periods=12), 3)
>>> label_end = dates + pd.offsets.BDay(2)
>>> cv = WalkForwardSplit(train_days=4, test_days=2, embargo_days=0,
...                       label_end_dates=label_end)
>>> cv.get_n_splits(groups=dates)
4
>>> train, test = next(cv.split(np.zeros((36, 1)), groups=dates))
>>> train.tolist()    # dates 0-1 only: dates 2-3 have labels ending on/after date 4
[0, 1, 2, 3, 4, 5]
>>> test.tolist()
[12, 13, 14, 15, 16, 17]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

_NAT = np.iinfo(np.int64).min  # the int64 value pandas uses for NaT


@dataclass(frozen=True)
class FoldBounds:
    """Nominal date boundaries of one fold (all bounds inclusive).

    The training window is ``[train_start, train_end]`` before purging and
    embargo: the rows actually trained on can start later (never earlier) and
    end earlier, see :meth:`WalkForwardSplit.split`.

    Attributes
    ----------
    fold : int
        Zero-based fold number; fold ``k`` of a longer panel is fold ``k`` of
        any shorter panel that already contained it.
    train_start, train_end : pandas.Timestamp
        First and last date of the training window.
    test_start, test_end : pandas.Timestamp
        First and last date of the test window.
    """

    fold: int
    train_start: pd.Timestamp
    train_end: pd.Timestamp
    test_start: pd.Timestamp
    test_end: pd.Timestamp

    def as_dict(self) -> dict[str, Any]:
        """Return the bounds as a plain dict (e.g. one row of ``ml.cv_folds``)."""
        return {
            "fold": self.fold,
            "train_start": self.train_start,
            "train_end": self.train_end,
            "test_start": self.test_start,
            "test_end": self.test_end,
        }


@dataclass(frozen=True)
class _Window:
    """One fold as half-open ranges of date positions ``[lo, hi)``."""

    train_lo: int
    train_hi: int
    test_lo: int
    test_hi: int


@dataclass(frozen=True)
class _Panel:
    """Validated row layout: date position per row, calendar, label end dates."""

    n_samples: int
    calendar: np.ndarray  # sorted unique dates, int64 nanoseconds
    date_pos: np.ndarray  # position of each row's date in ``calendar``
    label_end: np.ndarray | None  # int64 nanoseconds per row, _NAT where unknown
    tz: Any


# --------------------------------------------------------------------------- #
# validation helpers
# --------------------------------------------------------------------------- #
def _num_samples(X: Any) -> int:
    """Number of rows of an array-like (``shape[0]`` or ``len``)."""
    shape = getattr(X, "shape", None)
    if shape is not None and len(shape) > 0:
        return int(shape[0])
    return len(X)


def _to_ns(values: Any, name: str, n_samples: int, allow_nat: bool) -> tuple[np.ndarray, Any]:
    """Convert date-likes to int64 nanoseconds (``_NAT`` for missing) and their tz."""
    if values is None:
        raise ValueError(f"{name} is required: pass an array-like of dates, one per row of X")
    n = _num_samples(values)
    if n != n_samples:
        raise ValueError(
            f"{name} has {n} entries but X has {n_samples} rows; they must be aligned row by row"
        )
    try:
        index = pd.DatetimeIndex(pd.to_datetime(pd.Index(values)))
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValueError(f"{name} could not be read as dates: {exc}") from exc
    tz = index.tz
    if tz is not None:
        index = index.tz_convert("UTC").tz_localize(None)
    missing = index.isna()
    if missing.any() and not allow_nat:
        where = np.flatnonzero(missing)
        raise ValueError(
            f"{name} has {where.size} missing dates (NaT/None), first at rows {where[:5].tolist()}"
        )
    return index.as_unit("ns").asi8.copy(), tz


def _prepare_panel(
    X: Any, groups: Any, label_end_dates: Any | None, need_labels: bool
) -> _Panel:
    """Validate ``groups`` (and label end dates when needed) against ``X``."""
    n_samples = _num_samples(X)
    if n_samples == 0:
        raise ValueError("X has no rows")
    dates, tz = _to_ns(groups, "groups", n_samples, allow_nat=False)
    calendar, date_pos = np.unique(dates, return_inverse=True)
    label_end = None
    if need_labels:
        if label_end_dates is None:
            raise ValueError(
                "label_end_dates is required to purge overlapping labels: pass it to the "
                "constructor or as split(..., label_end_dates=...), one date per row of X"
            )
        label_end, label_tz = _to_ns(label_end_dates, "label_end_dates", n_samples, allow_nat=True)
        if (tz is None) != (label_tz is None):
            raise ValueError(
                f"groups (tz={tz}) and label_end_dates (tz={label_tz}) must both be "
                "timezone-naive or both timezone-aware"
            )
        known = label_end != _NAT
        bad = np.flatnonzero(known & (label_end <= dates))
        if bad.size:
            examples = ", ".join(
                f"row {i}: date={pd.Timestamp(dates[i]).date()} "
                f"label_end_date={pd.Timestamp(label_end[i]).date()}"
                for i in bad[:3]
            )
            raise ValueError(
                f"label_end_date must be after date; {bad.size} rows violate this ({examples})"
            )
    return _Panel(
        n_samples=n_samples,
        calendar=calendar,
        date_pos=date_pos.astype(np.intp, copy=False),
        label_end=label_end,
        tz=tz,
    )


def _timestamp(ns: int, tz: Any) -> pd.Timestamp:
    """Int64 nanoseconds back to a Timestamp in the panel's timezone."""
    ts = pd.Timestamp(int(ns))
    return ts.tz_localize("UTC").tz_convert(tz) if tz is not None else ts


def _known_before(label_end: np.ndarray, cutoff_ns: int) -> np.ndarray:
    """Rows whose label is known strictly before ``cutoff_ns`` (NaT is never known)."""
    return (label_end != _NAT) & (label_end < cutoff_ns)
