"""The anchored walk-forward splitter (:class:`WalkForwardSplit`): rolling or expanding training
windows, purged and embargoed, fold boundaries anchored at the start of the data.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.model_selection import BaseCrossValidator

from ml.common import check_int
from ml.training.cv import (
    FoldBounds,
    _known_before,
    _Panel,
    _prepare_panel,
    _timestamp,
    _Window,
)


# --------------------------------------------------------------------------- #
# window arithmetic (pure functions on date positions)
# --------------------------------------------------------------------------- #
def _walk_forward_windows(
    n_dates: int,
    train_days: int,
    test_days: int,
    step_days: int,
    first_test: int,
    expanding: bool,
    allow_partial_test: bool,
) -> list[_Window]:
    """Fold ``k`` tests dates ``[first_test + k*step_days, ... + test_days)``.

    Boundaries depend only on positions counted from the first date, so a
    longer calendar yields the same leading windows plus possibly more.
    """
    windows = []
    test_lo = first_test
    while test_lo < n_dates:
        test_hi = test_lo + test_days
        if test_hi > n_dates:
            if not allow_partial_test:
                break
            test_hi = n_dates
        train_lo = 0 if expanding else max(0, test_lo - train_days)
        windows.append(_Window(train_lo, test_lo, test_lo, test_hi))
        test_lo += step_days
    return windows


# --------------------------------------------------------------------------- #
# splitters
# --------------------------------------------------------------------------- #
class WalkForwardSplit(BaseCrossValidator):
    """Walk-forward splits over the distinct dates of a (date, ticker) panel.

    The panel's sorted unique dates are numbered ``0 .. n_dates-1``. Fold ``k``
    tests the dates ``[s + k*step_days, s + k*step_days + test_days)`` where
    ``s = min_train_days`` (default ``train_days``) and trains on the dates
    before the test window: the last ``train_days`` of them (rolling) or all of
    them (expanding), then purges and embargoes rows as described below. The
    windows are anchored at the first date of the data, so appending dates at
    the end adds folds and never moves or changes an earlier fold
    (point-in-time rule 5).

    Parameters
    ----------
    train_days : int, default=756
        Length of the rolling training window in distinct dates (about three
        years). With ``expanding=True`` it is only the warm-up length (unless
        ``min_train_days`` is given).

    test_days : int, default=63
        Length of each test window in distinct dates (about one quarter).

    step_days : int or None, default=None
        Distance between consecutive test-window starts; ``None`` means
        ``test_days`` (adjacent, non-overlapping test windows). A step larger
        than ``test_days`` leaves dates that are never tested; a smaller step
        tests dates more than once.

    expanding : bool, default=False
        If True every training window starts at the first date; otherwise it
        holds the last ``train_days`` dates before the test window.

    purge : bool, default=True
        Drop training rows whose ``label_end_date`` is on or after the first
        date of the test window (and rows whose label end date is missing).

        .. warning::

            **Look-ahead.** With ``purge=False`` the last ``horizon`` dates of
            every training window carry labels that are realised *inside* the
            test window: the model is fitted on returns it is then scored on,
            and CV metrics come out too good. Only turn it off if the panel
            has already been cut so that every label ends before its test
            window. With ``purge=True`` a fold whose test
            window starts on date ``S`` trains only on labels known by the
            trading date before ``S``, i.e. what a model refitted after the
            close before ``S`` could have seen (point-in-time rule 4).

    embargo_days : int, default=5
        After each test window, its next ``embargo_days`` dates are removed
        from the training windows of all *later* folds. With adjacent test
        windows these are the first dates of the following test window, so
        they drop out of training from the fold after next onwards.

        .. warning::

            **Look-ahead.** In walk-forward every fold trains strictly before
            its own test window, so this embargo never separates a fold from
            its own test dates -- the gap before the test window is the job of
            ``purge``. What it does is keep later training windows away from
            the dates just after an earlier test window, whose rolling-window
            features are serially correlated with that window (the same dates
            :class:`PurgedKFold` embargoes). It costs ``embargo_days`` dates of
            training data per earlier test window inside the training window;
            ``embargo_days=0`` turns it off. It is not a substitute for
            ``purge``: with ``purge=False`` the folds leak whatever the
            embargo.

    min_train_days : int or None, default=None
        Number of dates before the first test window (the first fold's
        training window); ``None`` means ``train_days``. Use it to start
        testing earlier with a shorter, growing window (rolling windows grow
        until they reach ``train_days``), or to align the test windows of
        rolling and expanding runs. Small values make the early folds train on
        very few dates (after purging possibly none, which raises).

    allow_partial_test : bool, default=False
        If True, a final test window shorter than ``test_days`` (the most
        recent dates) is also yielded. Its training rows are those it will
        have when the window fills up, so appending dates only extends its
        test set.

    label_end_dates : array-like of shape (n_samples,) or None, default=None
        ``label_end_date`` of each row of ``X`` (the trading date on which the
        row's label becomes known). Required when ``purge=True``, here or as a
        keyword of :meth:`split`.

    Notes
    -----
    Windows are counted in the dates present in the panel. A trading day with
    no rows at all does not count, and filling it in later renumbers the dates
    after it.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> dates = np.repeat(pd.bdate_range("2024-01-01", periods=12), 3)
    >>> cv = WalkForwardSplit(train_days=4, test_days=2, purge=False, embargo_days=1)
    >>> [(f.train_start.day, f.train_end.day, f.test_start.day) for f in cv.fold_bounds(dates)]
    [(1, 4, 5), (3, 8, 9), (5, 10, 11), (9, 12, 15)]
    """

    __metadata_request__split = {"groups": True}

    def __init__(
        self,
        train_days: int = 756,
        test_days: int = 63,
        step_days: int | None = None,
        expanding: bool = False,
        purge: bool = True,
        embargo_days: int = 5,
        min_train_days: int | None = None,
        allow_partial_test: bool = False,
        label_end_dates: npt.ArrayLike | None = None,
    ) -> None:
        self.train_days = train_days
        self.test_days = test_days
        self.step_days = step_days
        self.expanding = expanding
        self.purge = purge
        self.embargo_days = embargo_days
        self.min_train_days = min_train_days
        self.allow_partial_test = allow_partial_test
        self.label_end_dates = label_end_dates

    # -- public API --------------------------------------------------------- #

    def split(
        self,
        X: npt.ArrayLike,
        y: npt.ArrayLike | None = None,
        groups: npt.ArrayLike | None = None,
        label_end_dates: npt.ArrayLike | None = None,
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Generate train/test row positions, one pair per fold.

        Inputs are validated before the first fold is produced, so errors
        raise on the call itself.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The panel; only its length is used.
        y : array-like, default=None
            Ignored, for scikit-learn compatibility.
        groups : array-like of shape (n_samples,)
            Date of each row (anything :func:`pandas.to_datetime` reads).
            Required; rows may be in any order.
        label_end_dates : array-like of shape (n_samples,), default=None
            Label end date of each row; overrides the constructor argument.
            Required (here or there) when ``purge=True``.

        Yields
        ------
        train : ndarray of int
            Ascending positions of the training rows: dates in the training
            window, minus embargoed dates, minus (if ``purge``) rows whose
            label end date is missing or on/after the test window's first date.
        test : ndarray of int
            Ascending positions of every row dated inside the test window.

        Raises
        ------
        ValueError
            On invalid parameters, misaligned inputs, a panel too short for
            one fold, or a fold left without training rows.
        """
        panel, windows = self._plan(X, groups, label_end_dates, need_labels=bool(self.purge))
        return self._iter_folds(panel, windows)

    def get_n_splits(
        self,
        X: npt.ArrayLike | None = None,
        y: npt.ArrayLike | None = None,
        groups: npt.ArrayLike | None = None,
    ) -> int:
        """Return the number of folds for the dates in ``groups`` (required)."""
        if groups is None:
            raise ValueError("groups (the date of each row) is required to count folds")
        _, windows = self._plan(groups if X is None else X, groups, None, need_labels=False)
        return len(windows)

    def fold_bounds(self, groups: npt.ArrayLike) -> list[FoldBounds]:
        """Nominal date boundaries of every fold, before purging and embargo.

        Parameters
        ----------
        groups : array-like of shape (n_samples,)
            Date of each row, as for :meth:`split`.

        Returns
        -------
        list of FoldBounds
            One entry per fold, in fold order. The rows actually trained on are
            given by :meth:`split`; use ``len(train)`` for ``n_train``. For a
            partial final fold (``allow_partial_test=True``) ``test_end`` is
            the last date of the panel.
        """
        panel, windows = self._plan(groups, groups, None, need_labels=False)
        cal = panel.calendar
        return [
            FoldBounds(
                fold=k,
                train_start=_timestamp(cal[w.train_lo], panel.tz),
                train_end=_timestamp(cal[w.train_hi - 1], panel.tz),
                test_start=_timestamp(cal[w.test_lo], panel.tz),
                test_end=_timestamp(cal[w.test_hi - 1], panel.tz),
            )
            for k, w in enumerate(windows)
        ]

    # -- internals ---------------------------------------------------------- #

    def _checked_params(self) -> tuple[int, int, int, int, int]:
        """Validate parameters; return train, test, step, embargo, first-test sizes."""
        train_days = check_int("train_days", self.train_days, 1)
        test_days = check_int("test_days", self.test_days, 1)
        step_days = (
            test_days if self.step_days is None else check_int("step_days", self.step_days, 1)
        )
        embargo_days = check_int("embargo_days", self.embargo_days, 0)
        first_test = (
            train_days
            if self.min_train_days is None
            else check_int("min_train_days", self.min_train_days, 1)
        )
        return train_days, test_days, step_days, embargo_days, first_test

    def _plan(
        self, X: Any, groups: Any, label_end_dates: Any | None, need_labels: bool
    ) -> tuple[_Panel, list[_Window]]:
        train_days, test_days, step_days, _, first_test = self._checked_params()
        labels = self.label_end_dates if label_end_dates is None else label_end_dates
        panel = _prepare_panel(X, groups, labels, need_labels)
        n_dates = panel.calendar.size
        needed = first_test + (1 if self.allow_partial_test else test_days)
        if n_dates < needed:
            first_name = "train_days" if self.min_train_days is None else "min_train_days"
            raise ValueError(
                f"too few dates for one fold: the panel has {n_dates} distinct dates but "
                f"{first_name}={first_test} + test_days={test_days} needs {needed}"
                + (" (allow_partial_test=True needs one test date)" if self.allow_partial_test else "")
            )
        windows = _walk_forward_windows(
            n_dates,
            train_days,
            test_days,
            step_days,
            first_test,
            bool(self.expanding),
            bool(self.allow_partial_test),
        )
        return panel, windows

    def _iter_folds(
        self, panel: _Panel, windows: list[_Window]
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        _, test_days, _, embargo_days, _ = self._checked_params()
        n_dates = panel.calendar.size
        embargoed = np.zeros(n_dates, dtype=bool)  # dates embargoed by earlier folds
        for k, w in enumerate(windows):
            pos = panel.date_pos
            test_mask = (pos >= w.test_lo) & (pos < w.test_hi)
            train_mask = (pos >= w.train_lo) & (pos < w.train_hi) & ~embargoed[pos]
            if self.purge:
                assert panel.label_end is not None
                train_mask &= _known_before(panel.label_end, int(panel.calendar[w.test_lo]))
            if not train_mask.any():
                raise ValueError(
                    f"fold {k} has no training rows after purging/embargo: training dates "
                    f"{_timestamp(panel.calendar[w.train_lo], panel.tz).date()}.."
                    f"{_timestamp(panel.calendar[w.train_hi - 1], panel.tz).date()}, "
                    f"test starts {_timestamp(panel.calendar[w.test_lo], panel.tz).date()}; "
                    "increase train_days/min_train_days"
                )
            # embargo measured from the nominal end, so a partial last window
            # embargoes the same dates it will once the data fills it up
            nominal_end = w.test_lo + test_days
            embargoed[min(nominal_end, n_dates) : min(nominal_end + embargo_days, n_dates)] = True
            yield np.flatnonzero(train_mask), np.flatnonzero(test_mask)
