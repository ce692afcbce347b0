"""Settings that fit the data: documented rules for data shorter or narrower than the defaults.

The defaults in tradepipe.toml suit a long, wide history (a decade of ~500 names). On a shorter or
narrower history a setting the data cannot satisfy is lowered by a fixed rule, and the run says
what it chose (log, asset metadata, ``ops.adapted_settings``, the daily report); where no rule
can make the data enough, the stage stops with an error naming the setting and what the data
lacks. The rules (README "Minimum data" repeats them):

* **Training windows** (:func:`training_windows`): the walk-forward needs ``train_days`` plus
  :data:`OOS_FOLDS` test windows of ``test_days`` panel dates. When the panel is shorter,
  ``train_days`` steps down 504 -> 252 -> 126 (two years, one, a half) and then ``test_days``
  63 -> 21, the largest pair that fits; on fewer dates than that, the smallest pair with the test
  dates that remain.
* **Regime model** (:func:`regime_min_train`): the first HMM needs ``min_train_days`` rows of
  regime features and a quarter (63 rows) after them; ``min_train_days`` steps down to 252, then
  to the detector's own minimum (50 rows per state: 150 for 3 states).
* **Narrow universe** (:func:`min_book`, :func:`buy_share`): on a date with ``n`` scored names
  ``min_names`` is at most ``n // 2`` (but not below 5), and the rank signal's buy list is never
  shorter than ``min_names``: 20 names buy and hold the best 10.

Each rule depends only on how much data there is (dates, rows, names on the date), never on
its values, so changing rows after a date T (DESIGN rule 7) changes nothing before T. The window
rules count the whole history: deleting rows after T can step a window, and so re-draw the
out-of-sample history before T, as setting the window by hand would; the steps are coarse, so a
growing history changes a window at most a few times, and never once the defaults fit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

OOS_FOLDS = 4
"""Test windows of out-of-sample history the walk-forward must have room for."""
TRAIN_DAYS_STEPS = (504, 252, 126)
TEST_DAYS_STEPS = (21,)
REGIME_TRAIN_STEPS = (252,)
REGIME_AFTER_ROWS = 63
MIN_BOOK = 5
"""The ``min_names`` a narrow universe never lowers below: a date with fewer names blocks."""


@dataclass(frozen=True)
class Adapted:
    """One setting lowered for the data: ``key`` (as in tradepipe.toml), the configured value,
    the value used, and why."""

    key: str
    configured: float
    chosen: float
    reason: str

    def __str__(self) -> str:
        return f"{self.key} {_num(self.configured)} -> {_num(self.chosen)}: {self.reason}"


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _steps(configured: int, steps: tuple[int, ...]) -> list[int]:
    return [configured, *[s for s in steps if s < configured]]


def training_windows(n_dates: int, train_days: int, test_days: int) -> tuple[int, int, list[Adapted]]:
    """``(train_days, test_days, adapted)`` for a training panel of ``n_dates`` distinct dates.

    The configured pair when ``train_days + OOS_FOLDS * test_days <= n_dates``; otherwise the
    largest ``train_days`` of 504, 252, 126 (below the configured) that fits with ``test_days``,
    then the same with ``test_days`` 21.

    Raises
    ------
    ValueError
        When not even the smallest pair fits, naming ``training.train_days`` and the dates needed.
    """
    if n_dates == 0:
        raise ValueError(
            "the training panel is empty: no (ticker, date) with a label passes the universe rules "
            "(dbt.universe_min_history_days, dbt.universe_min_price, dbt.universe_min_dollar_volume_20d; "
            "see marts.fct_features.in_universe): supply a longer history, or lower them for this data")
    for test in _steps(test_days, TEST_DAYS_STEPS):
        for train in _steps(train_days, TRAIN_DAYS_STEPS):
            if train + OOS_FOLDS * test <= n_dates:
                room = f"the training panel has {n_dates} dates, fewer than train_days + {OOS_FOLDS} test windows"
                adapted = [Adapted(key, was, now, room) for key, was, now in
                           (("training.train_days", train_days, train), ("training.test_days", test_days, test))
                           if now != was]
                return train, test, adapted
    # Fewer than 4 test windows of room: the smallest windows, with the test dates that remain.
    train, test = _steps(train_days, TRAIN_DAYS_STEPS)[-1], _steps(test_days, TEST_DAYS_STEPS)[-1]
    if train < n_dates:
        room = f"the training panel has {n_dates} dates, fewer than train_days + {OOS_FOLDS} test windows"
        adapted = [Adapted(key, was, now, room) for key, was, now in
                   (("training.train_days", train_days, train), ("training.test_days", test_days, test))
                   if now != was]
        return train, test, adapted
    raise ValueError(
        f"training.train_days: the training panel has {n_dates} dates; the walk-forward needs at least "
        f"{train + 1} (train_days={train} and a test date). A panel date needs "
        f"dbt.universe_min_history_days of price history before it: supply a longer history "
        f"(README: Minimum data), or lower dbt.universe_min_history_days.")


def regime_min_train(n_rows: int, min_train_days: int, detector_minimum: int) -> tuple[int, list[Adapted]]:
    """``(min_train_days, adapted)`` for ``n_rows`` usable rows of regime features.

    The configured value when ``min_train_days + 63 <= n_rows`` (a quarter of regimes after the
    first model); otherwise the larger of 252 and ``detector_minimum`` (below the configured)
    that fits.

    Raises
    ------
    ValueError
        When none fits, naming ``regimes.min_train_days`` and the rows needed.
    """
    steps = [s for s in _steps(min_train_days, (*REGIME_TRAIN_STEPS, detector_minimum)) if s >= detector_minimum]
    steps = steps or [min_train_days]
    for days in steps:
        if days + REGIME_AFTER_ROWS <= n_rows:
            adapted = [] if days == min_train_days else [Adapted(
                "regimes.min_train_days", min_train_days, days,
                f"{n_rows} usable rows of regime features, fewer than min_train_days + {REGIME_AFTER_ROWS}")]
            return days, adapted
    need = steps[-1] + REGIME_AFTER_ROWS
    raise ValueError(
        f"regimes.min_train_days: the regime features have {n_rows} usable rows; the first regime model "
        f"needs at least {need} (min_train_days={steps[-1]} + {REGIME_AFTER_ROWS}). Supply a longer "
        f"history of the index and macro series (README: Minimum data).")


def min_book(n_names: int, min_names: int) -> tuple[int, list[Adapted]]:
    """``(min_names, adapted)`` for a date with ``n_names`` scored names: at most ``n_names // 2``
    but not below :data:`MIN_BOOK` (so a date with fewer scored names than that still blocks)."""
    least = min(min_names, max(MIN_BOOK, n_names // 2))
    if least == min_names:
        return min_names, []
    return least, [Adapted("portfolio.min_names", min_names, least, f"{n_names} scored names on the date")]


def buy_share(n_names: int, min_names: int, top_pct: float) -> tuple[float, list[Adapted]]:
    """``(top_pct, adapted)`` for the rank signal on a date with ``n_names`` scored names: raised
    so that the buy list, ``ceil(top_pct * n_names)``, holds at least the date's ``min_names``
    (of :func:`min_book`; at most every name)."""
    least = min_book(n_names, min_names)[0]
    if n_names == 0 or math.ceil(top_pct * n_names - 1e-9) >= least:
        return top_pct, []
    pct = min(1.0, least / n_names)
    return pct, [Adapted("signals.top_pct", top_pct, pct,
                         f"{n_names} scored names on the date: the buy list holds min_names {least}")]
