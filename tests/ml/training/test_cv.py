"""Tests for ml.training.cv: exact splits on tiny panels, error paths, leakage properties."""

from __future__ import annotations

from itertools import islice

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, cross_val_score

from ml.training import FoldBounds, PurgedKFold, WalkForwardSplit

N_TICKERS = 3
N_DATES = 12
CALENDAR = pd.bdate_range("2024-01-01", periods=40)  # longer than any panel: label ends


def tiny_panel(n_dates: int = N_DATES, horizon: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows ordered (date, ticker): row = 3 * date_position + ticker.

    Returns X, dates and label end dates (the date ``horizon`` positions later).
    """
    pos = np.repeat(np.arange(n_dates), N_TICKERS)
    dates = CALENDAR[pos].to_numpy()
    label_end = CALENDAR[pos + horizon].to_numpy()
    return np.zeros((pos.size, 1)), dates, label_end


def rows(*date_positions: int) -> list[int]:
    """Row positions of the given date positions in ``tiny_panel``."""
    return sorted(N_TICKERS * d + t for d in date_positions for t in range(N_TICKERS))


def as_lists(folds) -> list[tuple[list[int], list[int]]]:
    return [(train.tolist(), test.tolist()) for train, test in folds]


# --------------------------------------------------------------------------- #
# WalkForwardSplit: exact indices
# --------------------------------------------------------------------------- #


def test_rolling_without_purge_or_embargo() -> None:
    X, dates, _ = tiny_panel()
    cv = WalkForwardSplit(train_days=4, test_days=2, purge=False, embargo_days=0)
    assert as_lists(cv.split(X, groups=dates)) == [
        (rows(0, 1, 2, 3), rows(4, 5)),
        (rows(2, 3, 4, 5), rows(6, 7)),
        (rows(4, 5, 6, 7), rows(8, 9)),
        (rows(6, 7, 8, 9), rows(10, 11)),
    ]
    assert cv.get_n_splits(X, groups=dates) == 4


def test_expanding_without_purge_or_embargo() -> None:
    X, dates, _ = tiny_panel()
    cv = WalkForwardSplit(train_days=4, test_days=2, expanding=True, purge=False, embargo_days=0)
    assert as_lists(cv.split(X, groups=dates)) == [
        (rows(0, 1, 2, 3), rows(4, 5)),
        (rows(*range(6)), rows(6, 7)),
        (rows(*range(8)), rows(8, 9)),
        (rows(*range(10)), rows(10, 11)),
    ]


def test_purge_drops_rows_whose_label_ends_on_or_after_test_start() -> None:
    # horizon 2: the row dated d is known on date d + 2, so a test window
    # starting at s keeps training dates d <= s - 3
    X, dates, label_end = tiny_panel(horizon=2)
    cv = WalkForwardSplit(train_days=4, test_days=2, embargo_days=0, label_end_dates=label_end)
    assert as_lists(cv.split(X, groups=dates)) == [
        (rows(0, 1), rows(4, 5)),
        (rows(2, 3), rows(6, 7)),
        (rows(4, 5), rows(8, 9)),
        (rows(6, 7), rows(10, 11)),
    ]


def test_purge_boundary_label_ending_exactly_on_test_start_is_dropped() -> None:
    X, dates, label_end = tiny_panel(horizon=1)
    cv = WalkForwardSplit(train_days=4, test_days=2, embargo_days=0)
    train, test = next(cv.split(X, groups=dates, label_end_dates=label_end))
    # date 3's label ends on date 4 = test start: purged; date 2's ends on 3: kept
    assert train.tolist() == rows(0, 1, 2)
    assert test.tolist() == rows(4, 5)


def test_split_keyword_overrides_constructor_label_end_dates() -> None:
    X, dates, label_end_h1 = tiny_panel(horizon=1)
    _, _, label_end_h3 = tiny_panel(horizon=3)
    cv = WalkForwardSplit(train_days=4, test_days=2, embargo_days=0, label_end_dates=label_end_h1)
    train, _ = next(cv.split(X, groups=dates, label_end_dates=label_end_h3))
    assert train.tolist() == rows(0)


def test_embargo_removes_dates_after_earlier_test_windows_expanding() -> None:
    X, dates, _ = tiny_panel()
    cv = WalkForwardSplit(train_days=4, test_days=2, expanding=True, purge=False, embargo_days=1)
    # test windows [4,5], [6,7], [8,9], [10,11]; embargoed: 6 (after fold 0), 8 (after fold 1)
    assert as_lists(cv.split(X, groups=dates)) == [
        (rows(0, 1, 2, 3), rows(4, 5)),
        (rows(0, 1, 2, 3, 4, 5), rows(6, 7)),  # date 6 is in the test window, not training
        (rows(0, 1, 2, 3, 4, 5, 7), rows(8, 9)),
        (rows(0, 1, 2, 3, 4, 5, 7, 9), rows(10, 11)),
    ]


def test_embargo_two_days_rolling_with_purge() -> None:
    X, dates, label_end = tiny_panel(horizon=1)
    cv = WalkForwardSplit(train_days=6, test_days=2, embargo_days=2, label_end_dates=label_end)
    # test windows [6,7], [8,9], [10,11]; embargo after fold 0 hits 8, 9
    # fold 2: window 4..9, minus embargo {8, 9}, minus purge (label of 9 ends on 10)
    assert as_lists(cv.split(X, groups=dates)) == [
        (rows(0, 1, 2, 3, 4), rows(6, 7)),
        (rows(2, 3, 4, 5, 6), rows(8, 9)),
        (rows(4, 5, 6, 7), rows(10, 11)),
    ]


def test_step_and_min_train_days() -> None:
    X, dates, _ = tiny_panel()
    cv = WalkForwardSplit(
        train_days=4, test_days=2, step_days=3, min_train_days=3, purge=False, embargo_days=0
    )
    # test windows start at 3, 6, 9; the first training window is shorter (3 dates)
    assert as_lists(cv.split(X, groups=dates)) == [
        (rows(0, 1, 2), rows(3, 4)),
        (rows(2, 3, 4, 5), rows(6, 7)),
        (rows(5, 6, 7, 8), rows(9, 10)),
    ]


def test_min_train_days_longer_than_rolling_window() -> None:
    X, dates, _ = tiny_panel()
    cv = WalkForwardSplit(train_days=2, test_days=3, min_train_days=6, purge=False, embargo_days=0)
    assert as_lists(cv.split(X, groups=dates)) == [
        (rows(4, 5), rows(6, 7, 8)),
        (rows(7, 8), rows(9, 10, 11)),
    ]


def test_partial_last_test_window() -> None:
    X, dates, _ = tiny_panel()
    kwargs = dict(train_days=4, test_days=3, purge=False, embargo_days=0)
    complete = as_lists(WalkForwardSplit(**kwargs).split(X, groups=dates))
    partial = as_lists(WalkForwardSplit(**kwargs, allow_partial_test=True).split(X, groups=dates))
    assert complete == [(rows(0, 1, 2, 3), rows(4, 5, 6)), (rows(3, 4, 5, 6), rows(7, 8, 9))]
    assert partial == complete + [(rows(6, 7, 8, 9), rows(10, 11))]


def test_fold_bounds_dates() -> None:
    _, dates, _ = tiny_panel()
    cv = WalkForwardSplit(train_days=4, test_days=2, expanding=True)
    bounds = cv.fold_bounds(dates)
    d = CALENDAR
    assert bounds == [
        FoldBounds(0, d[0], d[3], d[4], d[5]),
        FoldBounds(1, d[0], d[5], d[6], d[7]),
        FoldBounds(2, d[0], d[7], d[8], d[9]),
        FoldBounds(3, d[0], d[9], d[10], d[11]),
    ]
    assert bounds[1].as_dict() == {
        "fold": 1,
        "train_start": d[0],
        "train_end": d[5],
        "test_start": d[6],
        "test_end": d[7],
    }


def test_unsorted_rows_return_positions_into_x() -> None:
    X, dates, label_end = tiny_panel(horizon=1)
    perm = np.random.default_rng(0).permutation(dates.size)
    cv = WalkForwardSplit(train_days=4, test_days=2, embargo_days=1)
    sorted_folds = list(cv.split(X, groups=dates, label_end_dates=label_end))
    shuffled_folds = list(cv.split(X[perm], groups=dates[perm], label_end_dates=label_end[perm]))
    assert len(sorted_folds) == len(shuffled_folds)
    for (train, test), (train_s, test_s) in zip(sorted_folds, shuffled_folds, strict=True):
        assert np.all(np.diff(train_s) > 0) and np.all(np.diff(test_s) > 0)
        assert sorted(perm[train_s]) == train.tolist()
        assert sorted(perm[test_s]) == test.tolist()


def test_missing_label_end_date_never_trains_but_is_tested() -> None:
    X, dates, label_end = tiny_panel(horizon=1)
    label_end = pd.Series(label_end).astype("datetime64[ns]")
    label_end[rows(0)[0]] = pd.NaT  # first ticker on date 0
    label_end[rows(4)[1]] = pd.NaT  # second ticker on date 4 (a test date of fold 0)
    cv = WalkForwardSplit(train_days=4, test_days=2, embargo_days=0, label_end_dates=label_end)
    train, test = next(cv.split(X, groups=dates))
    assert train.tolist() == rows(0, 1, 2)[1:]
    assert test.tolist() == rows(4, 5)


def test_accepts_python_dates_and_strings() -> None:
    X, dates, label_end = tiny_panel()
    cv = WalkForwardSplit(train_days=4, test_days=2, embargo_days=0)
    expected = as_lists(cv.split(X, groups=dates, label_end_dates=label_end))
    as_date = [pd.Timestamp(d).date() for d in dates]
    as_str = [str(pd.Timestamp(d).date()) for d in label_end]
    assert as_lists(cv.split(X, groups=as_date, label_end_dates=as_str)) == expected


def test_sklearn_compatibility() -> None:
    rng = np.random.default_rng(0)
    X, dates, label_end = tiny_panel()
    X = rng.normal(size=(dates.size, 2))
    y = X @ np.array([1.0, -1.0]) + rng.normal(scale=0.1, size=dates.size)
    cv = WalkForwardSplit(train_days=4, test_days=2, embargo_days=1, label_end_dates=label_end)
    scores = cross_val_score(Ridge(), X, y, groups=dates, cv=cv)
    assert scores.shape == (4,)
    search = GridSearchCV(Ridge(), {"alpha": [0.1, 1.0]}, cv=cv).fit(X, y, groups=dates)
    assert search.n_splits_ == 4
    assert "WalkForwardSplit(" in repr(cv)


# --------------------------------------------------------------------------- #
# WalkForwardSplit: errors
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"train_days": 0}, r"train_days must be >= 1, got train_days=0"),
        ({"test_days": -1}, r"test_days must be >= 1, got test_days=-1"),
        ({"step_days": 0}, r"step_days must be >= 1, got step_days=0"),
        ({"embargo_days": -2}, r"embargo_days must be >= 0, got embargo_days=-2"),
        ({"min_train_days": 0}, r"min_train_days must be >= 1, got min_train_days=0"),
    ],
)
def test_non_positive_sizes(kwargs: dict, match: str) -> None:
    X, dates, label_end = tiny_panel()
    cv = WalkForwardSplit(**{"train_days": 4, "test_days": 2, **kwargs})
    with pytest.raises(ValueError, match=match):
        cv.split(X, groups=dates, label_end_dates=label_end)


def test_non_integer_size() -> None:
    X, dates, label_end = tiny_panel()
    with pytest.raises(TypeError, match=r"train_days must be an integer, got 4\.5"):
        WalkForwardSplit(train_days=4.5, test_days=2).split(X, groups=dates, label_end_dates=label_end)


def test_window_larger_than_data() -> None:
    X, dates, label_end = tiny_panel()
    cv = WalkForwardSplit(train_days=10, test_days=3, label_end_dates=label_end)
    with pytest.raises(
        ValueError, match=r"12 distinct dates but train_days=10 \+ test_days=3 needs 13"
    ):
        cv.split(X, groups=dates)
    with pytest.raises(ValueError, match=r"12 distinct dates"):
        cv.get_n_splits(groups=dates)
    with pytest.raises(ValueError, match=r"12 distinct dates"):
        cv.fold_bounds(dates)


def test_too_few_dates_with_min_train_days() -> None:
    X, dates, _ = tiny_panel(n_dates=2)
    cv = WalkForwardSplit(train_days=5, test_days=1, min_train_days=2, purge=False)
    with pytest.raises(ValueError, match=r"2 distinct dates but min_train_days=2 \+ test_days=1"):
        cv.split(X, groups=dates)


def test_groups_length_mismatch() -> None:
    X, dates, label_end = tiny_panel()
    cv = WalkForwardSplit(train_days=4, test_days=2)
    with pytest.raises(ValueError, match=r"groups has 35 entries but X has 36 rows"):
        cv.split(X, groups=dates[:-1], label_end_dates=label_end)
    with pytest.raises(ValueError, match=r"label_end_dates has 30 entries but X has 36 rows"):
        cv.split(X, groups=dates, label_end_dates=label_end[:30])


def test_groups_required() -> None:
    X, _, label_end = tiny_panel()
    cv = WalkForwardSplit(train_days=4, test_days=2)
    with pytest.raises(ValueError, match=r"groups is required"):
        cv.split(X, label_end_dates=label_end)
    with pytest.raises(ValueError, match=r"groups .* is required to count folds"):
        cv.get_n_splits(X)


def test_missing_dates_in_groups() -> None:
    X, dates, label_end = tiny_panel()
    groups = pd.Series(dates)
    groups[[5, 7]] = pd.NaT
    with pytest.raises(ValueError, match=r"groups has 2 missing dates .*rows \[5, 7\]"):
        WalkForwardSplit(train_days=4, test_days=2).split(X, groups=groups, label_end_dates=label_end)


def test_label_end_dates_required_when_purging() -> None:
    X, dates, _ = tiny_panel()
    with pytest.raises(ValueError, match=r"label_end_dates is required"):
        WalkForwardSplit(train_days=4, test_days=2).split(X, groups=dates)


def test_label_end_date_not_after_date() -> None:
    X, dates, label_end = tiny_panel()
    label_end = label_end.copy()
    label_end[4] = dates[4]
    with pytest.raises(
        ValueError,
        match=r"1 rows violate this \(row 4: date=2024-01-02 label_end_date=2024-01-02\)",
    ):
        WalkForwardSplit(train_days=4, test_days=2).split(X, groups=dates, label_end_dates=label_end)


def test_timezone_mismatch() -> None:
    X, dates, label_end = tiny_panel()
    aware = pd.DatetimeIndex(label_end).tz_localize("UTC")
    with pytest.raises(ValueError, match=r"both be timezone-naive or both timezone-aware"):
        WalkForwardSplit(train_days=4, test_days=2).split(X, groups=dates, label_end_dates=aware)


def test_fold_without_training_rows_raises() -> None:
    X, dates, label_end = tiny_panel(horizon=2)
    cv = WalkForwardSplit(train_days=4, test_days=2, min_train_days=2, label_end_dates=label_end)
    folds = cv.split(X, groups=dates)
    with pytest.raises(ValueError, match=r"fold 0 has no training rows .*2024-01-01\.\.2024-01-02"):
        next(folds)


# --------------------------------------------------------------------------- #
# PurgedKFold: exact indices and errors
# --------------------------------------------------------------------------- #


def test_purged_kfold_exact() -> None:
    X, dates, label_end = tiny_panel(horizon=1)
    cv = PurgedKFold(n_splits=3, embargo_days=1, label_end_dates=label_end)
    # blocks of 4 dates: [0..3], [4..7], [8..11]
    assert as_lists(cv.split(X, groups=dates)) == [
        (rows(5, 6, 7, 8, 9, 10, 11), rows(0, 1, 2, 3)),  # date 4 embargoed
        (rows(0, 1, 2, 9, 10, 11), rows(4, 5, 6, 7)),  # 3 purged (label ends on 4), 8 embargoed
        (rows(0, 1, 2, 3, 4, 5, 6), rows(8, 9, 10, 11)),  # 7 purged
    ]
    assert cv.get_n_splits() == 3


def test_purged_kfold_uneven_blocks_and_longer_horizon() -> None:
    X, dates, label_end = tiny_panel(n_dates=7, horizon=2)
    cv = PurgedKFold(n_splits=3, embargo_days=0)
    # 7 dates -> blocks [0..2], [3..4], [5..6]
    assert as_lists(cv.split(X, groups=dates, label_end_dates=label_end)) == [
        (rows(3, 4, 5, 6), rows(0, 1, 2)),
        (rows(0, 5, 6), rows(3, 4)),
        (rows(0, 1, 2), rows(5, 6)),
    ]


def test_purged_kfold_errors() -> None:
    X, dates, label_end = tiny_panel()
    with pytest.raises(ValueError, match=r"n_splits must be >= 2, got n_splits=1"):
        PurgedKFold(n_splits=1).split(X, groups=dates, label_end_dates=label_end)
    with pytest.raises(ValueError, match=r"n_splits=13 needs at least 13 distinct dates, the panel has 12"):
        PurgedKFold(n_splits=13).split(X, groups=dates, label_end_dates=label_end)
    with pytest.raises(ValueError, match=r"embargo_days must be >= 0, got embargo_days=-1"):
        PurgedKFold(embargo_days=-1).split(X, groups=dates, label_end_dates=label_end)
    with pytest.raises(ValueError, match=r"label_end_dates is required"):
        PurgedKFold().split(X, groups=dates)
    with pytest.raises(ValueError, match=r"groups has 3 entries but X has 36 rows"):
        PurgedKFold().split(X, groups=dates[:3], label_end_dates=label_end)
    folds = PurgedKFold(n_splits=2, embargo_days=20).split(X, groups=dates, label_end_dates=label_end)
    with pytest.raises(ValueError, match=r"fold 0 \(dates 2024-01-01\.\.2024-01-08\) has no training rows"):
        next(folds)


# --------------------------------------------------------------------------- #
# properties over random panels
# --------------------------------------------------------------------------- #


def random_panel(rng: np.random.Generator, n_dates: int) -> pd.DataFrame:
    """Unbalanced, shuffled panel with random horizons and some unknown labels."""
    n_tickers = int(rng.integers(1, 6))
    calendar = pd.bdate_range("2020-01-01", periods=n_dates + 30)
    pos = np.repeat(np.arange(n_dates), n_tickers)
    keep = rng.random(pos.size) < 0.8
    keep[::n_tickers] = True  # every date keeps at least one row
    pos = pos[keep]
    horizon = rng.integers(1, 6, size=pos.size)
    panel = pd.DataFrame(
        {"date": calendar[pos], "label_end_date": calendar[pos + horizon], "row_id": np.arange(pos.size)}
    )
    panel.loc[rng.random(pos.size) < 0.03, "label_end_date"] = pd.NaT
    return panel.sample(frac=1.0, random_state=int(rng.integers(1 << 31))).reset_index(drop=True)


def random_walk_forward(rng: np.random.Generator) -> WalkForwardSplit:
    return WalkForwardSplit(
        train_days=int(rng.integers(3, 20)),
        test_days=int(rng.integers(1, 8)),
        step_days=None if rng.random() < 0.5 else int(rng.integers(1, 10)),
        expanding=bool(rng.random() < 0.5),
        embargo_days=int(rng.integers(0, 4)),
        min_train_days=None if rng.random() < 0.5 else int(rng.integers(5, 15)),
        allow_partial_test=bool(rng.random() < 0.3),
    )


def reference_walk_forward(cv: WalkForwardSplit, panel: pd.DataFrame) -> list[tuple[set, set]]:
    """Straightforward restatement of the documented rules, one row at a time."""
    calendar = sorted(set(panel["date"]))
    n = len(calendar)
    step = cv.step_days or cv.test_days
    start = cv.min_train_days or cv.train_days
    folds, embargoed = [], set()
    while start < n and (cv.allow_partial_test or start + cv.test_days <= n):
        test_dates = set(calendar[start : start + cv.test_days])
        train_dates = set(calendar[0 if cv.expanding else max(0, start - cv.train_days) : start])
        train_dates -= embargoed
        train, test = set(), set()
        for i, (date, end) in enumerate(zip(panel["date"], panel["label_end_date"], strict=True)):
            if date in test_dates:
                test.add(i)
            elif date in train_dates and not pd.isna(end) and end < calendar[start]:
                train.add(i)
        folds.append((train, test))
        embargoed |= set(calendar[start + cv.test_days : start + cv.test_days + cv.embargo_days])
        start += step
    return folds


def test_property_walk_forward_matches_reference_and_never_leaks() -> None:
    rng = np.random.default_rng(20241)
    checked = 0
    for _ in range(150):
        panel = random_panel(rng, n_dates=int(rng.integers(15, 60)))
        cv = random_walk_forward(rng)
        try:
            folds = list(cv.split(panel, groups=panel["date"], label_end_dates=panel["label_end_date"]))
        except ValueError as exc:
            assert "too few dates" in str(exc) or "no training rows" in str(exc)
            continue
        checked += 1
        expected = reference_walk_forward(cv, panel)
        assert [(set(tr), set(te)) for tr, te in folds] == expected
        bounds = cv.fold_bounds(panel["date"])
        assert len(bounds) == len(folds)
        for (train, test), b in zip(folds, bounds, strict=True):
            train_rows, test_rows = panel.iloc[train], panel.iloc[test]
            assert not set(train) & set(test)
            # no label window [date, label_end_date] reaches the test window start
            assert (train_rows["label_end_date"] < b.test_start).all()
            assert train_rows["label_end_date"].notna().all()
            # train dates end before test dates, inside the nominal windows
            assert train_rows["date"].max() < test_rows["date"].min()
            assert train_rows["date"].min() >= b.train_start
            assert train_rows["date"].max() <= b.train_end
            assert test_rows["date"].min() == b.test_start
            assert test_rows["date"].max() == b.test_end
    assert checked > 60


def truncate(panel: pd.DataFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
    """The panel as it looked on ``cutoff``: later rows gone, later labels unknown."""
    past = panel[panel["date"] <= cutoff].copy()
    past.loc[past["label_end_date"] > cutoff, "label_end_date"] = pd.NaT
    return past.reset_index(drop=True)


def test_property_appending_dates_leaves_earlier_folds_identical() -> None:
    rng = np.random.default_rng(7)
    checked = 0
    for _ in range(100):
        full = random_panel(rng, n_dates=int(rng.integers(30, 70)))
        calendar = sorted(set(full["date"]))
        cut = int(rng.integers(15, len(calendar)))
        past = truncate(full, calendar[cut - 1])
        cv = random_walk_forward(rng)
        try:
            folds_past = list(cv.split(past, groups=past["date"], label_end_dates=past["label_end_date"]))
        except ValueError:
            continue
        # later folds of the longer panel may raise (e.g. fully purged); earlier ones must not
        folds_full = list(
            islice(
                cv.split(full, groups=full["date"], label_end_dates=full["label_end_date"]),
                len(folds_past),
            )
        )
        bounds_past, bounds_full = cv.fold_bounds(past["date"]), cv.fold_bounds(full["date"])
        assert len(folds_full) == len(folds_past)
        assert len(bounds_full) >= len(bounds_past)
        ids_past, ids_full = past["row_id"].to_numpy(), full["row_id"].to_numpy()
        for k, ((tr_p, te_p), (tr_f, te_f)) in enumerate(zip(folds_past, folds_full, strict=False)):
            assert set(ids_past[tr_p]) == set(ids_full[tr_f])
            complete = bounds_past[k].test_end == bounds_full[k].test_end
            if complete:
                assert set(ids_past[te_p]) == set(ids_full[te_f])
                assert bounds_past[k] == bounds_full[k]
            else:  # a partial last window only grows
                assert cv.allow_partial_test and k == len(folds_past) - 1
                assert set(ids_past[te_p]) < set(ids_full[te_f])
        checked += 1
    assert checked > 40


def test_property_purged_kfold_no_overlap() -> None:
    rng = np.random.default_rng(3)
    for _ in range(100):
        panel = random_panel(rng, n_dates=int(rng.integers(10, 50)))
        n_splits, embargo = int(rng.integers(2, 7)), int(rng.integers(0, 4))
        cv = PurgedKFold(n_splits=n_splits, embargo_days=embargo)
        try:
            folds = list(cv.split(panel, groups=panel["date"], label_end_dates=panel["label_end_date"]))
        except ValueError as exc:
            assert "no training rows" in str(exc)
            continue
        calendar = sorted(set(panel["date"]))
        tested = np.concatenate([test for _, test in folds])
        assert sorted(tested.tolist()) == list(range(len(panel)))  # test folds partition the rows
        for train, test in folds:
            assert not set(train) & set(test)
            test_dates = panel["date"].iloc[test]
            start, end = test_dates.min(), test_dates.max()
            assert set(test_dates) == {d for d in calendar if start <= d <= end}  # contiguous block
            embargo_dates = set(calendar[calendar.index(end) + 1 : calendar.index(end) + 1 + embargo])
            expected_train = {
                i
                for i, (date, label_end) in enumerate(zip(panel["date"], panel["label_end_date"], strict=True))
                if not pd.isna(label_end)
                and date not in embargo_dates
                and (date > end or label_end < start)  # label window does not touch the block
            }
            assert set(train) == expected_train
