"""Purged K-fold over dates (:class:`PurgedKFold`): contiguous date blocks as test folds, training
rows purged of overlapping labels and embargoed after each block (for comparing parameter sets).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import numpy.typing as npt
from sklearn.model_selection import BaseCrossValidator

from ml.common import check_int
from ml.training.cv import _NAT, _Panel, _prepare_panel, _timestamp


def _kfold_blocks(n_dates: int, n_splits: int) -> list[tuple[int, int]]:
    """Contiguous ``[lo, hi)`` date blocks; the first ``n_dates % n_splits`` get one extra."""
    sizes = np.full(n_splits, n_dates // n_splits, dtype=int)
    sizes[: n_dates % n_splits] += 1
    ends = np.cumsum(sizes)
    return [(int(end - size), int(end)) for size, end in zip(sizes, ends, strict=True)]


class PurgedKFold(BaseCrossValidator):
    """K-fold over contiguous date blocks with purging and embargo.

    For hyperparameter search (Lopez de Prado, *Advances in Financial Machine
    Learning*, ch. 7). The distinct dates are cut into ``n_splits`` contiguous
    blocks (the first ``n_dates % n_splits`` blocks get one extra date); each
    block is a test fold once. The training set is every other row, minus

    * **purged rows**: rows whose label window ``[date, label_end_date]``
      overlaps the test block ``[test_start, test_end]``, i.e. rows dated on or
      before ``test_end`` whose label ends on or after ``test_start``; and
      rows dated before the block whose label end date is missing;
    * **embargoed rows**: rows dated on the ``embargo_days`` dates right after
      the test block.

    Rows with a missing label end date are never trained on.

    .. warning::

        **Look-ahead.** Unlike walk-forward, folds train on data *after* the
        test block. Purging removes label overlap and the embargo removes the
        most serially correlated rows, but slower-moving information (regimes,
        trends) still flows backwards. Use it to compare hyperparameters, not
        to report out-of-sample performance; use :class:`WalkForwardSplit`
        for that.

    Parameters
    ----------
    n_splits : int, default=5
        Number of date blocks (folds), at least 2.

    embargo_days : int, default=5
        Number of dates after each test block removed from its training set.

        .. warning::

            **Look-ahead.** Features built on rolling windows and labels that
            start right after the block are correlated with the block's own
            outcomes; with ``embargo_days=0`` the rows just after a test block
            can teach the model about it. Use at least the longest feature
            look-back you worry about, and at least the label horizon.

    label_end_dates : array-like of shape (n_samples,) or None, default=None
        ``label_end_date`` of each row of ``X``; required here or as a keyword
        of :meth:`split`.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> dates = np.repeat(pd.bdate_range("2024-01-01", periods=6), 2)
    >>> cv = PurgedKFold(n_splits=3, embargo_days=1, label_end_dates=dates + pd.offsets.BDay(1))
    >>> [(tr.tolist(), te.tolist()) for tr, te in cv.split(np.zeros(12), groups=dates)]
    ... # doctest: +NORMALIZE_WHITESPACE
    [([6, 7, 8, 9, 10, 11], [0, 1, 2, 3]),
     ([0, 1, 10, 11], [4, 5, 6, 7]),
     ([0, 1, 2, 3, 4, 5], [8, 9, 10, 11])]
    """

    __metadata_request__split = {"groups": True}

    def __init__(
        self,
        n_splits: int = 5,
        embargo_days: int = 5,
        label_end_dates: npt.ArrayLike | None = None,
    ) -> None:
        self.n_splits = n_splits
        self.embargo_days = embargo_days
        self.label_end_dates = label_end_dates

    def split(
        self,
        X: npt.ArrayLike,
        y: npt.ArrayLike | None = None,
        groups: npt.ArrayLike | None = None,
        label_end_dates: npt.ArrayLike | None = None,
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Generate train/test row positions, one pair per date block.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The panel; only its length is used.
        y : array-like, default=None
            Ignored, for scikit-learn compatibility.
        groups : array-like of shape (n_samples,)
            Date of each row. Required; rows may be in any order.
        label_end_dates : array-like of shape (n_samples,), default=None
            Label end date of each row; overrides the constructor argument.

        Yields
        ------
        train : ndarray of int
            Ascending positions of the training rows (see class docstring).
        test : ndarray of int
            Ascending positions of every row dated inside the block.

        Raises
        ------
        ValueError
            On invalid parameters, misaligned inputs, fewer dates than
            ``n_splits``, or a fold left without training rows.
        """
        n_splits = check_int("n_splits", self.n_splits, 2)
        check_int("embargo_days", self.embargo_days, 0)
        labels = self.label_end_dates if label_end_dates is None else label_end_dates
        panel = _prepare_panel(X, groups, labels, need_labels=True)
        n_dates = panel.calendar.size
        if n_dates < n_splits:
            raise ValueError(
                f"too few dates: n_splits={n_splits} needs at least {n_splits} distinct dates, "
                f"the panel has {n_dates}"
            )
        return self._iter_folds(panel, _kfold_blocks(n_dates, n_splits))

    def get_n_splits(
        self,
        X: npt.ArrayLike | None = None,
        y: npt.ArrayLike | None = None,
        groups: npt.ArrayLike | None = None,
    ) -> int:
        """Return ``n_splits`` (the data is not needed)."""
        return check_int("n_splits", self.n_splits, 2)

    def _iter_folds(
        self, panel: _Panel, blocks: list[tuple[int, int]]
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        assert panel.label_end is not None
        pos, cal, label_end = panel.date_pos, panel.calendar, panel.label_end
        known = label_end != _NAT
        for k, (lo, hi) in enumerate(blocks):
            test_mask = (pos >= lo) & (pos < hi)
            before = pos < lo
            after_embargo = pos >= hi + int(self.embargo_days)
            # label window [date, label_end] overlaps [cal[lo], cal[hi-1]]: for rows
            # dated before the block that means label_end >= cal[lo]
            train_mask = (before & known & (label_end < cal[lo])) | (after_embargo & known)
            if not train_mask.any():
                raise ValueError(
                    f"fold {k} (dates {_timestamp(cal[lo], panel.tz).date()}.."
                    f"{_timestamp(cal[hi - 1], panel.tz).date()}) has no training rows after "
                    f"purging and embargo_days={self.embargo_days}"
                )
            yield np.flatnonzero(train_mask), np.flatnonzero(test_mask)
