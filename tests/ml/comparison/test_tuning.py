"""Tests for ml.comparison.tuning: a planted known best, enumeration, determinism, point in time, errors."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from ml.comparison import DEFAULT_SPACES, SearchSpace, TuningResult, tune
from ml.training import PurgedKFold, TrainingSpec, available_models, get_model

HORIZON = 2
RIDGE = TrainingSpec(model_type="ridge", horizon=HORIZON)


def make_panel(
    n_tickers: int = 12, n_days: int = 60, n_features: int = 4, seed: int = 0
) -> pd.DataFrame:
    """Panel with a linear signal in f0 and, for odd tickers, labels ending a day later.

    ``label_end_date`` is ``HORIZON`` business days after ``date`` for even
    tickers and ``HORIZON + 1`` for odd ones, so on the dates just before a
    cut-off some rows of a date have known labels and others do not (the
    per-date target must then be computed on the known ones only).
    """
    rng = np.random.default_rng(seed)
    days = pd.bdate_range("2021-01-04", periods=n_days + HORIZON + 1)
    pos = np.repeat(np.arange(n_days), n_tickers)
    lag = HORIZON + np.tile(np.arange(n_tickers) % 2, n_days)
    f = rng.normal(size=(pos.size, n_features))
    excess = 0.02 * f[:, 0] + rng.normal(scale=0.04, size=pos.size)
    panel = pd.DataFrame(
        {
            "ticker": np.tile([f"T{i:02d}" for i in range(n_tickers)], n_days),
            "date": days[pos],
            "horizon": HORIZON,
            "label_end_date": days[pos + lag],
            "fwd_return": excess + 0.001,
            "fwd_excess_return": excess,
        }
    )
    for j in range(n_features):
        panel[f"f{j}"] = f[:, j]
    return panel


def lasso_panel(
    n_tickers: int = 20, n_days: int = 60, n_noise: int = 200, seed: int = 0
) -> pd.DataFrame:
    """A problem whose best lasso penalty is known by construction.

    ``fwd_excess_return = 1.5 s0 + 0.7 s1 + e`` with ``s0, s1, e ~ N(0, 1)``
    and 200 pure-noise features ``n000..n199``, all N(0, 1). Trained on the
    raw target (``TrainingSpec(target="raw")``) on standardised features, a
    lasso coefficient is about ``sign(b) * max(|b| - alpha, 0)`` of the
    univariate slope ``b``; with ~750 training rows per fold the noise slopes
    have a standard deviation of about 0.04. Hence

    * ``alpha=1e-4`` keeps all 200 noise features (an overfitted OLS);
    * ``alpha=0.2`` (5 noise standard deviations) drops every noise feature
      and keeps ``s0`` and ``s1``: the best ranking;
    * ``alpha=1.0`` also drops ``s1`` (slope 0.7): only ``s0`` is left;
    * ``alpha=5.0`` drops everything: constant predictions, no score.

    Over 40 seeds, 0.2 wins on every fold (smallest fold margin 0.014 rank IC;
    ~0.04 typical).
    """
    rng = np.random.default_rng(seed)
    days = pd.bdate_range("2021-01-04", periods=n_days + HORIZON)
    pos = np.repeat(np.arange(n_days), n_tickers)
    signal = rng.normal(size=(pos.size, 2))
    noise = rng.normal(size=(pos.size, n_noise))
    excess = 1.5 * signal[:, 0] + 0.7 * signal[:, 1] + rng.normal(size=pos.size)
    columns = {
        "ticker": np.tile([f"T{i:02d}" for i in range(n_tickers)], n_days),
        "date": days[pos],
        "label_end_date": days[pos + HORIZON],
        "fwd_excess_return": excess,
        "s0": signal[:, 0],
        "s1": signal[:, 1],
    }
    columns.update({f"n{j:03d}": noise[:, j] for j in range(n_noise)})
    return pd.DataFrame(columns)


def comparable(result: TuningResult) -> dict:
    """Everything of a result except the wall time."""
    return {
        "best_params": result.best_params,
        "best_score": result.best_score,
        "fold_scores": result.fold_scores,
        "trials": result.trials,
        "folds": result.folds,
        "until": result.until,
        "n_rows": result.n_rows,
    }


def assert_same_result(a: TuningResult, b: TuningResult) -> None:
    ca, cb = comparable(a), comparable(b)
    pd.testing.assert_frame_equal(ca.pop("trials"), cb.pop("trials"))
    pd.testing.assert_frame_equal(ca.pop("folds"), cb.pop("folds"))
    assert ca == cb


# --------------------------------------------------------------------------- #
# the planted problem
# --------------------------------------------------------------------------- #


@pytest.fixture(scope="module")
def lasso_result() -> TuningResult:
    spec = TrainingSpec(model_type="lasso", horizon=HORIZON, target="raw")
    return tune(lasso_panel(), spec, {"alpha": [1e-4, 0.2, 1.0, 5.0]}, method="grid", n_splits=3)


def test_finds_the_known_best_alpha(lasso_result: TuningResult) -> None:
    r = lasso_result
    assert r.best_params == {"alpha": 0.2}
    scores = r.trials.pivot(index="alpha", columns="fold", values="score")
    # best on every fold, not only on average
    assert (scores.loc[0.2] > scores.loc[[1e-4, 1.0]].max()).all()
    # everything zeroed: constant predictions cannot be ranked -> NaN, never the best
    assert scores.loc[5.0].isna().all()
    assert (r.trials.loc[r.trials["alpha"] == 5.0, "n_dates"] == 0).all()
    assert r.fold_scores == scores.loc[0.2].tolist()
    assert r.best_score == pytest.approx(np.mean(r.fold_scores))


def test_every_grid_point_is_tried_on_every_fold(lasso_result: TuningResult) -> None:
    t = lasso_result.trials
    assert len(t) == 4 * 3
    assert sorted(zip(t["alpha"], t["fold"], strict=True)) == sorted(
        itertools.product([1e-4, 0.2, 1.0, 5.0], range(3))
    )
    assert t["trial"].tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
    assert t["params"].iloc[3] == '{"alpha":0.2}'
    assert list(t.columns) == ["trial", "params", "alpha", "fold", "score", "n_dates", "mean_score"]
    assert (t.loc[t["alpha"] != 5.0, "n_dates"] == 20).all()  # 60 dates / 3 folds, all scored


def test_summary_is_best_first_with_nan_last(lasso_result: TuningResult) -> None:
    s = lasso_result.summary()
    assert s["rank"].tolist() == [1, 2, 3, 4]
    assert s["alpha"].iloc[0] == 0.2 and s["alpha"].iloc[-1] == 5.0
    assert s["mean_score"].iloc[0] == lasso_result.best_score
    assert np.isnan(s["mean_score"].iloc[-1])
    assert s["min_score"].iloc[0] == min(lasso_result.fold_scores)
    assert lasso_result.best_spec().params["alpha"] == 0.2
    assert lasso_result.best_spec().model_type == "lasso"


def test_result_bookkeeping(lasso_result: TuningResult) -> None:
    r = lasso_result
    panel = lasso_panel()
    assert (r.method, r.model_type, r.n_splits, r.seed) == ("grid", "lasso", 3, 0)
    assert r.n_rows == len(panel)
    assert r.until == panel["label_end_date"].max()
    assert r.folds["n_test"].sum() == len(panel)
    assert r.elapsed_s > 0


# --------------------------------------------------------------------------- #
# enumeration and determinism
# --------------------------------------------------------------------------- #


def test_grid_enumerates_the_whole_grid_in_parameter_grid_order() -> None:
    space = SearchSpace({"alpha": [1.0, 10.0, 100.0], "fit_intercept": [True, False]})
    assert space.grid_size == 6
    r = tune(make_panel(), RIDGE, space, method="grid", n_splits=2)
    trials = r.trials.drop_duplicates("trial")
    assert list(zip(trials["alpha"], trials["fit_intercept"], strict=True)) == [
        (1.0, True), (1.0, False), (10.0, True), (10.0, False), (100.0, True), (100.0, False)
    ]
    assert len(r.trials) == 6 * 2


def test_random_search_is_reproducible_and_seeded() -> None:
    space = {"alpha": ("log", 0.1, 1000.0), "fit_intercept": [True, False]}
    panel = make_panel()
    a = tune(panel, RIDGE, space, n_iter=4, seed=3)
    b = tune(panel, RIDGE, space, n_iter=4, seed=3)
    assert_same_result(a, b)
    assert a.trials["trial"].nunique() == 4
    assert a.trials["alpha"].between(0.1, 1000.0).all()
    other = tune(panel, RIDGE, space, n_iter=4, seed=4)
    assert other.trials["alpha"].tolist() != a.trials["alpha"].tolist()


def test_random_search_covering_the_grid_is_the_grid_search() -> None:
    space = {"alpha": [1.0, 100.0], "fit_intercept": [True, False]}
    panel = make_panel()
    grid = tune(panel, RIDGE, space, method="grid", n_splits=2)
    for n_iter in (4, 50):
        random = tune(panel, RIDGE, space, method="random", n_iter=n_iter, n_splits=2, seed=9)
        assert_same_result(random, grid)


def test_random_search_smaller_than_the_grid_draws_distinct_grid_points() -> None:
    space = SearchSpace({"alpha": [1.0, 10.0, 100.0], "fit_intercept": [True, False]})
    drawn = space.sample(n_iter=4, seed=0)
    assert len(drawn) == 4
    assert len({tuple(sorted(d.items())) for d in drawn}) == 4
    assert all(d in space.grid() for d in drawn)


def test_ranges_draw_plain_values_in_range_with_lightgbm() -> None:
    spec = TrainingSpec(
        model_type="lightgbm", horizon=HORIZON, params={"n_estimators": 20, "n_jobs": 1}
    )
    space = {
        "num_leaves": [3, 7],
        "learning_rate": ("log", 0.05, 0.2),
        "min_child_samples": ("int", 5, 50),
    }
    r = tune(make_panel(), spec, space, n_iter=3, n_splits=2)
    assert r.trials["trial"].nunique() == 3
    assert r.trials["min_child_samples"].dtype == np.int64
    assert r.trials["min_child_samples"].between(5, 50).all()
    assert r.trials["learning_rate"].between(0.05, 0.2).all()
    assert set(r.best_params) == {"num_leaves", "learning_rate", "min_child_samples"}
    assert all(type(v) in (int, float) for v in r.best_params.values())
    assert np.isfinite(r.best_score)


def test_default_spaces_cover_every_model_type_with_valid_names() -> None:
    assert sorted(DEFAULT_SPACES) == available_models()
    for model_type, space in DEFAULT_SPACES.items():
        for candidate in space.sample(n_iter=3, seed=0):
            get_model(model_type, candidate)  # raises on an unknown name


def test_no_space_means_the_default_space() -> None:
    r = tune(make_panel(), RIDGE, n_splits=2)  # 6 alphas <= n_iter=8: the whole grid
    assert r.space is DEFAULT_SPACES["ridge"]
    assert r.trials["alpha"].unique().tolist() == DEFAULT_SPACES["ridge"].params["alpha"]


def test_spec_params_and_seed_apply_to_every_trial(monkeypatch: pytest.MonkeyPatch) -> None:
    import ml.comparison.tuning

    seen: list[dict] = []

    def spy(model_type, params=None):
        seen.append(dict(params))
        return get_model(model_type, params)

    monkeypatch.setattr(ml.comparison.tuning, "get_model", spy)
    spec = TrainingSpec(
        model_type="ridge", horizon=HORIZON, params={"fit_intercept": False}, seed=5
    )
    tune(make_panel(), spec, {"alpha": [1.0, 2.0]}, method="grid", n_splits=2)
    fits = seen[1:]  # the first build only checks the names
    assert len(fits) == 2 * 2
    assert [p["alpha"] for p in fits] == [1.0, 1.0, 2.0, 2.0]
    assert all(p["fit_intercept"] is False and p["random_state"] == 5 for p in fits)


# --------------------------------------------------------------------------- #
# point in time
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    "spec",
    [
        RIDGE,
        TrainingSpec(
            model_type="lightgbm", horizon=HORIZON, params={"n_estimators": 15, "n_jobs": 1}
        ),
    ],
    ids=["ridge", "lightgbm"],
)
def test_rows_labelled_after_until_are_never_used(spec: TrainingSpec) -> None:
    panel = make_panel(n_days=80)
    until = pd.Timestamp(panel["date"].unique()[50])
    later = panel["label_end_date"] > until
    # some dates have a known label for even tickers and an unknown one for odd tickers
    straddling = panel.loc[later, "date"].isin(panel.loc[~later, "date"])
    assert straddling.sum() > 0

    corrupted = panel.copy()
    features = [f"f{j}" for j in range(4)]
    corrupted.loc[later, features] = np.inf
    corrupted.loc[later & (corrupted["ticker"] < "T06"), features] = np.nan
    corrupted.loc[later, "fwd_excess_return"] = 1e9
    corrupted.loc[later & (corrupted["ticker"] > "T08"), "fwd_excess_return"] = np.nan

    space = {"alpha": [1.0, 100.0]} if spec.model_type == "ridge" else {"num_leaves": [3, 7]}
    on_corrupted = tune(corrupted, spec, space, method="grid", until=until)
    on_cut = tune(panel[~later], spec, space, method="grid", until=until)
    on_cut_all = tune(panel[~later], spec, space, method="grid")
    assert_same_result(on_corrupted, on_cut)
    assert_same_result(on_corrupted, on_cut_all)
    assert on_corrupted.until == panel.loc[~later, "label_end_date"].max() <= until
    assert on_corrupted.n_rows == int((~later).sum())


def test_rows_of_other_horizons_and_unlabelled_rows_are_ignored() -> None:
    panel = make_panel()
    other = panel.assign(horizon=HORIZON + 3, fwd_excess_return=1e9, f0=np.inf)
    unlabelled = panel.tail(12).assign(
        date=panel["date"].max() + pd.offsets.BDay(1),
        label_end_date=pd.NaT,
        fwd_excess_return=np.nan,
        f1=np.inf,
    )
    noisy = pd.concat([other, panel, unlabelled], ignore_index=True)
    space = {"alpha": [1.0, 100.0]}
    assert_same_result(
        tune(noisy, RIDGE, space, method="grid"), tune(panel, RIDGE, space, method="grid")
    )


def test_folds_are_purged_and_embargoed() -> None:
    panel = make_panel(n_days=90)
    until = pd.Timestamp(panel["date"].unique()[70])
    spec = TrainingSpec(model_type="ridge", horizon=HORIZON, embargo_days=3)
    r = tune(panel, spec, {"alpha": [1.0]}, method="grid", n_splits=4, until=until)

    used = panel[panel["label_end_date"] <= until].sort_values(["date", "ticker"])
    calendar = pd.DatetimeIndex(np.sort(used["date"].unique()))
    cv = PurgedKFold(n_splits=4, embargo_days=3)
    expected = list(cv.split(used, groups=used["date"], label_end_dates=used["label_end_date"]))
    assert r.folds["n_train"].tolist() == [tr.size for tr, _ in expected]
    assert r.folds["n_test"].tolist() == [te.size for _, te in expected]
    for row in r.folds.itertuples():
        if not pd.isna(row.last_label_end_before_test):  # purged: no label reaches the block
            assert row.last_label_end_before_test < row.test_start
        if not pd.isna(row.first_train_date_after_test):  # embargo: 3 dates skipped
            gap = calendar.get_loc(row.first_train_date_after_test) - calendar.get_loc(row.test_end)
            assert gap == 3 + 1
    # purging really removed rows: fold 1 trains on fewer rows than "all but its block"
    assert r.folds["n_train"].iloc[1] < len(used) - r.folds["n_test"].iloc[1]


def test_date_stride_fits_on_every_nth_date_and_scores_every_date() -> None:
    panel = make_panel(n_days=90)
    spec = TrainingSpec(model_type="ridge", horizon=HORIZON, date_stride=3)
    r = tune(panel, spec, {"alpha": [1.0]}, method="grid", n_splits=3)
    used = panel.sort_values(["date", "ticker"]).reset_index(drop=True)
    code = pd.factorize(used["date"], sort=True)[0]
    cv = PurgedKFold(n_splits=3, embargo_days=HORIZON)
    expected = list(cv.split(used, groups=used["date"], label_end_dates=used["label_end_date"]))
    assert r.folds["n_train"].tolist() == [int((code[tr] % 3 == 0).sum()) for tr, _ in expected]
    assert r.folds["n_test"].tolist() == [te.size for _, te in expected]
    # the dates are counted from the panel's first date, labelled or not, as a walk-forward counts them
    first = panel["date"] == panel["date"].min()
    unlabelled = panel.assign(fwd_excess_return=panel["fwd_excess_return"].where(~first))
    shifted = tune(unlabelled, spec, {"alpha": [1.0]}, method="grid", n_splits=3)
    span = used[~(used["date"] == used["date"].min())].reset_index(drop=True)
    cv_rows = list(cv.split(span, groups=span["date"], label_end_dates=span["label_end_date"]))
    assert shifted.folds["n_train"].tolist() == [int((code[len(first[first]):][tr] % 3 == 0).sum())
                                                 for tr, _ in cv_rows]


def test_each_fold_chooses_its_columns_as_a_walk_forward_window_does() -> None:
    panel = make_panel(n_days=90)
    spec = TrainingSpec(model_type="ridge", horizon=HORIZON, feature_selection="mutual_info", max_features=1)
    r = tune(panel, spec, {"alpha": [1.0]}, method="grid", n_splits=3)
    assert r.folds["features"].tolist() == [["f0"]] * 3  # the signal's column, chosen on each fold's rows
    # the fold's score is a fit on that column alone
    whole = tune(panel[["ticker", "date", "horizon", "label_end_date", "fwd_return", "fwd_excess_return", "f0"]],
                 TrainingSpec(model_type="ridge", horizon=HORIZON), {"alpha": [1.0]}, method="grid", n_splits=3)
    assert r.fold_scores == whole.fold_scores
    assert whole.folds["features"].tolist() == [["f0"]] * 3


# --------------------------------------------------------------------------- #
# errors
# --------------------------------------------------------------------------- #


def test_empty_span_names_the_dates() -> None:
    panel = make_panel()
    with pytest.raises(
        ValueError,
        match=r"empty training span: no labelled row of horizon 2 has label_end_date <= "
        r"until=2020-06-01 00:00:00; the labelled rows have label_end_date from 2021-01-06 to "
        r"2021-03-3\d",
    ):
        tune(panel, RIDGE, {"alpha": [1.0]}, until="2020-06-01")


def test_no_labelled_row_at_all() -> None:
    panel = make_panel().assign(fwd_excess_return=np.nan)
    with pytest.raises(ValueError, match="empty training span: no row of horizon 2 has a label"):
        tune(panel, RIDGE, {"alpha": [1.0]})


def test_unknown_parameter_is_the_models_error() -> None:
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) 'alpah' for model_type 'ridge'"):
        tune(make_panel(), RIDGE, {"alpah": [1.0]})


def test_too_few_dates_for_n_splits() -> None:
    panel = make_panel(n_days=4)
    with pytest.raises(
        ValueError,
        match=r"too few dates for n_splits=5: the training span \(2021-01-04\.\.2021-01-07, "
        r"labels known by 2021-01-12\) has 4 distinct dates",
    ):
        tune(panel, RIDGE, {"alpha": [1.0]}, n_splits=5)


def test_fold_without_training_rows_is_the_splitters_error() -> None:
    panel = make_panel(n_days=6)
    with pytest.raises(ValueError, match=r"fold 0 .* has no training rows"):
        tune(panel, TrainingSpec(model_type="ridge", horizon=HORIZON, embargo_days=10),
             {"alpha": [1.0]}, n_splits=2)


def test_no_trial_scorable() -> None:
    spec = TrainingSpec(model_type="lasso", horizon=HORIZON, target="raw")
    with pytest.raises(ValueError, match="no trial could be scored on every fold"):
        tune(make_panel(), spec, {"alpha": [50.0]}, method="grid")


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"method": "bayes"}, ValueError,
         r"method must be one of \('grid', 'random'\), got 'bayes'"),
        ({"n_iter": 0}, ValueError, "n_iter must be >= 1, got n_iter=0"),
        ({"n_splits": 1}, ValueError, "n_splits must be >= 2, got n_splits=1"),
        ({"seed": -1}, ValueError, "seed must be >= 0, got seed=-1"),
        ({"until": "not a date"}, ValueError, "until must be a date, got 'not a date'"),
        ({"space": {"random_state": [0, 1]}}, ValueError,
         r"\['random_state'\] cannot be tuned"),
        ({"space": {"alpha": ("log", 1.0, 10.0)}, "method": "grid"}, ValueError,
         r"grid search needs a list of values for every parameter; "
         r"\{'alpha': \('log', 1.0, 10.0\)\}"),
        ({"spec": TrainingSpec(model_type="ridge", horizon=7)}, ValueError,
         "no rows for horizon 7"),
        ({"spec": "ridge"}, TypeError, "spec must be a TrainingSpec, got str"),
        ({"panel": "panel"}, TypeError, "panel must be a pandas DataFrame, got str"),
    ],
)
def test_invalid_arguments(kwargs: dict, error: type, match: str) -> None:
    args = {"panel": make_panel(n_days=10), "spec": RIDGE, "space": {"alpha": [1.0]}}
    args.update(kwargs)
    with pytest.raises(error, match=match):
        tune(args.pop("panel"), args.pop("spec"), args.pop("space"), **args)


def test_missing_columns() -> None:
    panel = make_panel(n_days=10).drop(columns=["label_end_date"])
    with pytest.raises(ValueError, match=r"panel is missing required columns \['label_end_date'\]"):
        tune(panel, RIDGE, {"alpha": [1.0]})


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        ({}, ValueError, "the search space is empty"),
        ([("alpha", [1.0])], TypeError, "a search space is a mapping"),
        ({"alpha": []}, ValueError, "'alpha' has no candidate values"),
        ({"alpha": [1.0, 2.0, 1.0]}, ValueError, r"'alpha' lists the value 1.0 more than once"),
        ({"alpha": 1.0}, TypeError, "candidates of 'alpha' must be a list of values"),
        ({"alpha": "1.0"}, TypeError, "candidates of 'alpha' must be a list of values"),
        ({1: [1.0]}, TypeError, "parameter names must be non-empty strings, got 1"),
        ({"alpha": ("cubic", 1.0, 2.0)}, ValueError,
         r"range of 'alpha' must be \(kind, low, high\)"),
        ({"alpha": ("log", 1.0)}, ValueError, r"range of 'alpha' must be \(kind, low, high\)"),
        ({"alpha": ("log", 0.0, 1.0)}, ValueError, "log range of 'alpha' needs 0 < low"),
        ({"alpha": ("uniform", 2.0, 1.0)}, ValueError, "range of 'alpha' needs low < high"),
        ({"alpha": ("uniform", 0.0, np.inf)}, ValueError, "needs finite numbers as bounds"),
        ({"n": ("int", 1.5, 3)}, ValueError, "integer range of 'n' needs integers low <= high"),
        ({"n": ("int", 5, 3)}, ValueError, "integer range of 'n' needs integers low <= high"),
    ],
)
def test_search_space_validation(params: object, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        SearchSpace(params)  # type: ignore[arg-type]


def test_search_space_forms() -> None:
    space = SearchSpace(
        {"hidden_layer_sizes": [(16,), (32, 16)], "alpha": ("log", 1e-4, 1e-1), "n": ("int", 2, 4)}
    )
    assert space.names == ("hidden_layer_sizes", "alpha", "n")
    assert space.grid_size is None
    assert dict(space.params) == {
        "hidden_layer_sizes": [(16,), (32, 16)],
        "alpha": ("log", 1e-4, 1e-1),
        "n": ("int", 2, 4),
    }
    drawn = space.sample(n_iter=30, seed=1)
    assert {d["hidden_layer_sizes"] for d in drawn} == {(16,), (32, 16)}
    assert {d["n"] for d in drawn} == {2, 3, 4}  # both ends included
    assert all(type(d["n"]) is int and 1e-4 <= d["alpha"] <= 1e-1 for d in drawn)
    assert space.sample(n_iter=30, seed=1) == drawn
