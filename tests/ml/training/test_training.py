"""Tests for ml.training: bookkeeping, determinism, point-in-time (rule 7), signal, errors."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from ml.predictions import score_latest
from ml.training import (
    FOLD_COLUMNS,
    PREDS_COLUMNS,
    TrainingSpec,
    WalkForwardSplit,
    default_features,
    fit_prob_up_calibrator,
    make_target,
    model_id,
    train_final,
    walk_forward,
)

HORIZON = 5
FEATURES = ("f0", "f1", "f2", "f3", "f4")


def make_panel(
    n_tickers: int = 30, n_days: int = 400, seed: int = 0, horizon: int = HORIZON
) -> pd.DataFrame:
    """Synthetic training panel with a planted linear signal in f0 (+) and f1 (-).

    Labels span ``horizon`` days from the next day: ``label_end_date`` is
    ``horizon + 1`` business days after ``date``. ``f4`` is NaN for the
    first 30 days (feature warm-up); ``fwd_return`` adds a market move and a
    small drift to the excess return.
    """
    rng = np.random.default_rng(seed)
    days = pd.bdate_range("2020-01-01", periods=n_days + horizon + 1)
    pos = np.repeat(np.arange(n_days), n_tickers)
    n = pos.size
    f = rng.normal(size=(n, len(FEATURES)))
    excess = 0.01 * f[:, 0] - 0.005 * f[:, 1] + rng.normal(scale=0.04, size=n)
    market = np.repeat(rng.normal(scale=0.01, size=n_days), n_tickers)
    panel = pd.DataFrame(
        {
            "ticker": np.tile([f"T{i:02d}" for i in range(n_tickers)], n_days),
            "date": days[pos],
            "horizon": horizon,
            "close": 10.0,
            "close_raw": 10.0,
            "history_days": pos + 300,
            "dollar_volume_20d": 1e7,
            "sector": "Energy",
            "in_universe": True,
            "entry_date": days[pos + 1],
            "label_end_date": days[pos + horizon + 1],
            "fwd_return": excess + market + 0.002,
            "fwd_excess_return": excess,
        }
    )
    for j, name in enumerate(FEATURES):
        panel[name] = f[:, j]
    panel.loc[pos < 30, "f4"] = np.nan
    return panel


LGB = TrainingSpec(
    model_type="lightgbm",
    train_days=120,
    test_days=40,
    early_stopping_days=20,
    early_stopping_rounds=10,
    params={"n_estimators": 30, "num_leaves": 7, "min_child_samples": 20, "n_jobs": 1},
)
RIDGE = TrainingSpec(model_type="ridge", train_days=120, test_days=40)
# the recipe options: per-date normalization, and each window choosing its own columns
LGB_RECIPE = TrainingSpec(**{**LGB.__dict__, "normalize": "rank", "feature_selection": "mutual_info",
                             "max_features": 3})
RIDGE_RECIPE = TrainingSpec(**{**RIDGE.__dict__, "normalize": "robust_zscore", "feature_selection": "lightgbm",
                               "max_features": 3})
SPECS = {"lightgbm": LGB, "ridge": RIDGE, "lightgbm_recipe": LGB_RECIPE, "ridge_recipe": RIDGE_RECIPE}


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    return make_panel()


@pytest.fixture(scope="module")
def results(panel: pd.DataFrame) -> dict:
    return {name: walk_forward(panel, spec) for name, spec in SPECS.items()}


# --------------------------------------------------------------------------- #
# spec, target, features
# --------------------------------------------------------------------------- #


def test_spec_defaults_and_resolution() -> None:
    spec = TrainingSpec()
    assert (spec.horizon, spec.target, spec.model_type) == (5, "rank", "lightgbm")
    assert (spec.train_days, spec.test_days, spec.uncertainty_models) == (756, 63, 4)
    assert spec.effective_embargo_days == 5
    assert TrainingSpec(embargo_days=0).effective_embargo_days == 0
    ridge = TrainingSpec(model_type="ridge", params={"alpha": 3.0}, seed=7)
    assert ridge.resolved_params() == {"alpha": 3.0, "random_state": 7}
    assert ridge.id_settings() == {"horizon": 5, "target": "rank"}
    assert TrainingSpec(features=["b", "a"]).features == ("b", "a")


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"target": "ranked"}, ValueError, "target must be one of"),
        ({"model_type": "svm"}, ValueError, "unknown model_type 'svm'"),
        ({"model_type": "ridge", "params": {"alpah": 1}}, ValueError, "unknown parameter.*'alpah'"),
        ({"params": {"random_state": 3}}, ValueError, "conflicts with seed=0"),
        ({"features": []}, ValueError, "features is empty"),
        ({"features": ["a", "a"]}, ValueError, r"\['a'\] more than once"),
        ({"features": ["a", "fwd_return"]}, ValueError, r"\['fwd_return'\] are labels"),
        ({"features": "f0"}, TypeError, "sequence of column names"),
        ({"train_days": 0}, ValueError, "train_days must be >= 1"),
        ({"horizon": 2.5}, TypeError, "horizon must be an integer"),
        ({"uncertainty_models": 0}, ValueError, "uncertainty_models must be >= 1"),
        ({"early_stopping_metric": "auc"}, ValueError, "early_stopping_metric must be one of"),
        ({"train_days": 60, "early_stopping_days": 55}, ValueError, "early_stopping_days=55"),
    ],
)
def test_spec_validation(kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        TrainingSpec(**kwargs)


def test_make_target_exact() -> None:
    dates = ["a", "a", "a", "a", "b", "b", "c"]
    x = [0.3, -0.1, np.nan, 0.2, 5.0, 1.0, 7.0]
    rank = make_target(x, dates, "rank")
    np.testing.assert_array_equal(rank, [0.5, -0.5, np.nan, 0.0, 0.5, -0.5, 0.0])
    z = make_target(x, dates, "zscore")
    a = np.array([0.3, -0.1, 0.2])
    expected_a = (a - a.mean()) / a.std()
    np.testing.assert_allclose(z[[0, 1, 3]], expected_a)
    np.testing.assert_allclose(z[4:], [1.0, -1.0, 0.0])  # single name: 0
    assert np.isnan(z[2])
    np.testing.assert_array_equal(make_target(x, dates, "raw"), x)
    tied = make_target([1.0, 1.0, 2.0], ["d"] * 3, "rank")
    np.testing.assert_array_equal(tied, [-0.25, -0.25, 0.5])
    with pytest.raises(ValueError, match="target must be one of"):
        make_target(x, dates, "ranked")


def test_default_features(panel: pd.DataFrame) -> None:
    assert default_features(panel) == FEATURES


# --------------------------------------------------------------------------- #
# exact bookkeeping on a tiny panel
# --------------------------------------------------------------------------- #


def tiny_panel() -> pd.DataFrame:
    """3 tickers x 12 dates, horizon 1: label of date position p ends at p + 2."""
    days = pd.bdate_range("2024-01-01", periods=14)
    pos = np.repeat(np.arange(12), 3)
    x = np.tile([-1.0, 0.0, 1.0], 12) + 0.1 * np.sin(np.arange(36))
    ret = 0.01 * x + 0.005 * np.cos(3.0 * np.arange(36))
    return pd.DataFrame(
        {
            "ticker": np.tile(["A", "B", "C"], 12),
            "date": days[pos],
            "label_end_date": days[pos + 2],
            "fwd_return": ret,
            "fwd_excess_return": ret,
            "x": x,
        }
    )


TINY = TrainingSpec(
    model_type="ridge", horizon=1, train_days=4, test_days=2, calibration_min_rows=2
)


def test_tiny_walk_forward_bookkeeping() -> None:
    panel = tiny_panel()
    result = walk_forward(panel, TINY)
    days = pd.bdate_range("2024-01-01", periods=14)
    folds = result.folds
    assert list(folds.columns) == list(FOLD_COLUMNS)
    assert folds["fold"].tolist() == [0, 1, 2, 3]
    # nominal windows anchored at the first date; purge leaves two dates per window
    assert folds["train_start"].tolist() == [days[0], days[2], days[4], days[6]]
    assert folds["train_end"].tolist() == [days[3], days[5], days[7], days[9]]
    assert folds["test_start"].tolist() == [days[4], days[6], days[8], days[10]]
    assert folds["test_end"].tolist() == [days[5], days[7], days[9], days[11]]
    # purge keeps dates <= test_start - 3; fold 3 also loses date 6 (embargo after fold 0)
    assert folds["n_train"].tolist() == [6, 6, 6, 3]
    assert folds["n_test"].tolist() == [6, 6, 6, 6]
    # calibration history: earlier OOS rows whose label ended before test_start
    assert folds["calibration_rows"].tolist() == [0, 0, 6, 12]
    assert folds["model_id"].tolist() == [m.model_id for m in result.models]
    assert folds["model_id"].nunique() == 4

    preds = result.predictions
    assert list(preds.columns[: len(PREDS_COLUMNS)]) == list(PREDS_COLUMNS)
    assert list(result.preds_table().columns) == list(PREDS_COLUMNS)
    assert len(preds) == 24
    assert preds["date"].tolist() == list(np.repeat(days[4:12], 3))
    assert preds["ticker"].tolist() == ["A", "B", "C"] * 8
    assert preds["fold"].tolist() == list(np.repeat([0, 1, 2, 3], 6))
    assert (preds["horizon"] == 1).all()

    sorted_panel = panel.sort_values(["date", "ticker"]).reset_index(drop=True)
    for k, model in enumerate(result.models):
        rows = preds["fold"] == k
        test = sorted_panel[sorted_panel["date"].isin(preds.loc[rows, "date"])]
        # yhat is the fold's own model, model_id says which
        np.testing.assert_array_equal(preds.loc[rows, "yhat"], model.predict(test))
        assert (preds.loc[rows, "model_id"] == model.model_id).all()
        # yhat_std: the fold model and up to 3 previous ones, ddof=1
        # in the code's order: the fold's own model first, then the earlier ones
        ensemble = [model.predict(test)] + [m.predict(test) for m in result.models[max(0, k - 3) : k]]
        if k == 0:
            assert preds.loc[rows, "yhat_std"].isna().all()
        else:
            np.testing.assert_array_equal(
                preds.loc[rows, "yhat_std"], np.std(np.vstack(ensemble), axis=0, ddof=1)
            )
        # model as of the last date before the test window
        assert model.as_of == days[4 + 2 * k - 1]
        assert model.train_end == days[4 + 2 * k - 3]
        assert model.train_start == days[2 * k + (1 if k == 3 else 0)]

    # prob_up: NaN without history, else the calibrator fitted on the earlier rows
    assert result.calibrators[0] is None and result.calibrators[1] is None
    assert preds.loc[preds["fold"] < 2, "prob_up"].isna().all()
    for k in (2, 3):
        rows = preds["fold"] == k
        start = folds.loc[k, "test_start"]
        expected = fit_prob_up_calibrator(preds[preds["fold"] < k], start, min_rows=2)
        assert expected == result.calibrators[k]
        np.testing.assert_array_equal(preds.loc[rows, "prob_up"], expected.predict(preds.loc[rows, "yhat"]))
    assert preds["prob_up"].dropna().between(0.01, 0.99).all()


def test_walk_forward_logs_fold_k_of_n() -> None:
    lines: list[str] = []
    result = walk_forward(tiny_panel(), TINY, log=lines.append)
    assert [line.split(": ")[0] for line in lines] == [
        f"fold {k} of 4 (test {row.test_start.date()}..{row.test_end.date()})"
        for k, row in enumerate(result.folds.itertuples(), start=1)]
    assert lines[0].split(": ")[1].startswith("6 training rows, rank IC ")
    lines.clear()
    walk_forward(tiny_panel(), TINY, test_from=result.folds["test_end"].iloc[2], log=lines.append)
    assert [line.split(" (")[0] for line in lines] == ["fold 1 of 2", "fold 2 of 2"]


def test_fold_model_ids_are_content_hashes_of_training_rows() -> None:
    panel = tiny_panel()
    result = walk_forward(panel, TINY)
    ordered = panel.sort_values(["date", "ticker"]).reset_index(drop=True)
    ordered["target"] = make_target(ordered["fwd_excess_return"], ordered["date"], "rank")
    cv = WalkForwardSplit(
        train_days=4, test_days=2, embargo_days=1, allow_partial_test=True,
        label_end_dates=ordered["label_end_date"],
    )
    for model, (train, _) in zip(result.models, cv.split(ordered, groups=ordered["date"]), strict=True):
        expected = model_id(
            "ridge", TINY.resolved_params(), ["x"], ordered.iloc[train], TINY.id_settings()
        )
        assert model.model_id == expected


def test_expanding_windows_start_at_first_date(panel: pd.DataFrame) -> None:
    spec = TrainingSpec(model_type="ridge", train_days=120, test_days=80, expanding=True)
    result = walk_forward(panel, spec)
    assert (result.folds["train_start"] == panel["date"].min()).all()
    assert result.folds["n_train"].is_monotonic_increasing


# --------------------------------------------------------------------------- #
# behaviour on the synthetic panel
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("name", list(SPECS))
def test_planted_signal_is_recovered(results: dict, name: str) -> None:
    result = results[name]
    summary = result.summary
    assert summary["rank_ic"] > 0.15
    assert summary["ic"] > 0.15
    assert (result.folds["rank_ic"] > 0.05).all()
    assert summary["spread_top_bottom"] > 0
    assert summary["n_predictions"] == len(result.predictions) == 280 * 30
    assert summary["n_dates"] == 280


@pytest.mark.parametrize("name", list(SPECS))
def test_uncertainty_and_probability_columns(results: dict, name: str) -> None:
    preds = results[name].predictions
    first = preds["fold"] == 0
    assert preds.loc[first, "yhat_std"].isna().all() and preds.loc[first, "prob_up"].isna().all()
    later = preds[~first]
    assert later["yhat_std"].notna().all() and (later["yhat_std"] >= 0).all()
    assert later["prob_up"].notna().all() and later["prob_up"].between(0.01, 0.99).all()
    # prob_up rises with yhat (positive slope), and is roughly calibrated
    assert all(c.slope > 0 for c in results[name].calibrators[1:])
    assert results[name].summary["prob_up_ece"] < 0.06


def test_lightgbm_uses_early_stopping_slice(results: dict) -> None:
    folds = results["lightgbm"].folds
    ridge_folds = results["ridge"].folds
    assert folds["best_iteration"].between(1, 30).all()
    assert ridge_folds["best_iteration"].isna().all()
    # the early-stopping slice is purged: horizon+1 label dates fewer than ridge trains on
    assert (ridge_folds["n_train"] - folds["n_train"] == (HORIZON + 1) * 30).all()


@pytest.mark.parametrize("name", list(SPECS))
def test_deterministic_and_row_order_free(panel: pd.DataFrame, results: dict, name: str) -> None:
    shuffled = panel.sample(frac=1.0, random_state=1)
    again = walk_forward(shuffled, SPECS[name])
    first = results[name]
    pd.testing.assert_frame_equal(again.predictions, first.predictions, check_exact=True)
    pd.testing.assert_frame_equal(again.folds, first.folds, check_exact=True)
    hashes = pd.util.hash_pandas_object(again.predictions, index=False).to_numpy()
    assert hashes.tobytes() == pd.util.hash_pandas_object(first.predictions, index=False).to_numpy().tobytes()
    assert [m.model_id for m in again.models] == [m.model_id for m in first.models]


def test_model_id_changes_with_params_and_seed(panel: pd.DataFrame, results: dict) -> None:
    base = results["ridge"].folds["model_id"]
    other = walk_forward(panel, TrainingSpec(model_type="ridge", train_days=120, test_days=40,
                                             params={"alpha": 5.0})).folds["model_id"]
    assert not set(base) & set(other)
    seeded = walk_forward(panel, TrainingSpec(**{**LGB.__dict__, "seed": 1})).folds["model_id"]
    assert not set(seeded) & set(results["lightgbm"].folds["model_id"])


# --------------------------------------------------------------------------- #
# point-in-time: DESIGN.md rule 7 for OOS predictions
# --------------------------------------------------------------------------- #


def _after(panel: pd.DataFrame, cutoff: pd.Timestamp, mode: str, seed: int = 5) -> pd.DataFrame:
    """Change (or delete) every row dated after ``cutoff`` and every label ending after it."""
    rng = np.random.default_rng(seed)
    out = panel.copy()
    late_label = out["label_end_date"] > cutoff
    n_late = int(late_label.sum())
    out.loc[late_label, "fwd_excess_return"] = rng.normal(scale=0.1, size=n_late)
    out.loc[late_label, "fwd_return"] = rng.normal(scale=0.1, size=n_late)
    late = out["date"] > cutoff
    if mode == "delete":
        return out[~late]
    for name in FEATURES:
        out.loc[late, name] = rng.normal(size=int(late.sum())) * 3.0
    return out


@pytest.mark.parametrize("mode", ["change", "delete"])
@pytest.mark.parametrize("name", list(SPECS))
def test_rule7_oos_predictions_unchanged(panel: pd.DataFrame, results: dict, name: str, mode: str) -> None:
    cutoff = pd.Timestamp(sorted(panel["date"].unique())[250])  # inside fold 3's test window
    before = results[name].predictions
    after = walk_forward(_after(panel, cutoff, mode), SPECS[name]).predictions
    cols = list(PREDS_COLUMNS)
    old = before.loc[before["date"] <= cutoff, cols].reset_index(drop=True)
    new = after.loc[after["date"] <= cutoff, cols].reset_index(drop=True)
    assert len(old) == (250 - 120 + 1) * 30
    pd.testing.assert_frame_equal(new, old, check_exact=True)
    later = before["date"] > cutoff
    if mode == "change":  # the perturbation reaches later predictions: the test has teeth
        changed = after.loc[later.to_numpy(), "yhat"].to_numpy() != before.loc[later, "yhat"].to_numpy()
        assert changed.mean() > 0.9
    else:
        assert (after["date"] <= cutoff).all()


def test_appending_data_keeps_earlier_folds(panel: pd.DataFrame, results: dict) -> None:
    days = sorted(panel["date"].unique())
    short = walk_forward(panel[panel["date"] <= days[279]], LGB)  # folds 0-3 complete
    full = results["lightgbm"]
    assert short.folds["model_id"].tolist() == full.folds["model_id"].tolist()[:4]
    pd.testing.assert_frame_equal(
        short.predictions, full.predictions.iloc[: len(short.predictions)], check_exact=True
    )


# --------------------------------------------------------------------------- #
# final model and live scoring
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("name", list(SPECS))
def test_train_final_uses_only_known_labels(panel: pd.DataFrame, name: str) -> None:
    spec = SPECS[name]
    final = train_final(panel, spec)
    assert final.as_of == panel["label_end_date"].max()
    days = sorted(panel["date"].unique())
    assert final.train_start == days[-120]
    assert final.train_end == days[-1]
    cutoff = pd.Timestamp(days[300])
    as_of = train_final(panel, spec, as_of=cutoff)
    # same model from a panel that never contained the later labels
    same = train_final(_after(panel, cutoff, "change"), spec, as_of=cutoff)
    assert as_of.model_id == same.model_id
    probe = panel[panel["date"] == days[-1]]
    np.testing.assert_array_equal(as_of.predict(probe), same.predict(probe))
    assert as_of.as_of == cutoff
    assert as_of.train_end < cutoff


def test_score_latest(panel: pd.DataFrame, results: dict) -> None:
    result = results["lightgbm"]
    final = train_final(panel, LGB)
    score_date = final.as_of
    rng = np.random.default_rng(3)
    live = pd.DataFrame({"ticker": [f"N{i:03d}" for i in range(500)], "date": score_date,
                         "in_universe": True})
    for name in FEATURES:
        live[name] = rng.normal(size=500)
    live.loc[0, "in_universe"] = False
    calibrator = fit_prob_up_calibrator(result.predictions, score_date)
    history = result.models[-3:]
    start = time.perf_counter()
    out = score_latest(final, live, history, calibrator)
    elapsed = time.perf_counter() - start
    assert elapsed < 1.0
    assert list(out.columns) == list(PREDS_COLUMNS)
    assert len(out) == 499 and out["ticker"].tolist() == sorted(live["ticker"][1:])
    scored = live.iloc[1:]
    np.testing.assert_array_equal(out["yhat"], final.predict(scored))
    ensemble = np.vstack([m.predict(scored) for m in (final, *history)])
    np.testing.assert_array_equal(out["yhat_std"], np.std(ensemble, axis=0, ddof=1))
    np.testing.assert_array_equal(out["prob_up"], calibrator.predict(out["yhat"]))
    assert (out["model_id"] == final.model_id).all() and (out["horizon"] == HORIZON).all()
    assert score_latest(final, live).loc[:, ["yhat_std", "prob_up"]].isna().all().all()


def test_score_latest_errors(panel: pd.DataFrame, results: dict) -> None:
    final = train_final(panel, LGB)
    live = panel[panel["date"] == panel["date"].max()].assign(date=final.as_of)
    with pytest.raises(ValueError, match="one date at a time"):
        score_latest(final, pd.concat([live, live.assign(date=final.as_of + pd.Timedelta(days=1))]))
    with pytest.raises(ValueError, match=r"needs feature columns \['f2'\]"):
        score_latest(final, live.drop(columns="f2"))
    early = live.assign(date=final.as_of - pd.Timedelta(days=1))
    with pytest.raises(ValueError, match="look-ahead"):
        score_latest(final, early)
    late_cal = fit_prob_up_calibrator(results["lightgbm"].predictions, final.as_of + pd.Timedelta(days=30))
    with pytest.raises(ValueError, match="calibrator as of .*look-ahead"):
        score_latest(final, live, calibrator=late_cal)
    with pytest.raises(ValueError, match="duplicate tickers"):
        score_latest(final, pd.concat([live, live]))
    # a feature table not built for the date (every value missing) is an error, not NaN inputs
    with pytest.raises(ValueError, match=r"feature columns \['f3'\] \(1 of 5\) .* have no value for any name"):
        score_latest(final, live.assign(f3=np.nan))
    score_latest(final, live.assign(f3=np.where(np.arange(len(live)) == 0, np.nan, live["f3"])))  # one missing: fine


def test_fit_prob_up_calibrator_window(results: dict) -> None:
    preds = results["ridge"].predictions
    as_of = preds["date"].max()
    known = preds[preds["label_end_date"] < as_of]
    last_day = known["date"].max()
    one_day = fit_prob_up_calibrator(preds, as_of, min_rows=2, days=1)
    assert one_day.n_obs == int((known["date"] == last_day).sum()) == 30
    everything = fit_prob_up_calibrator(preds, as_of, days=None)
    assert everything.n_obs == len(known)
    assert everything.as_of == as_of and 0 < everything.up_rate < 1


def test_fit_prob_up_calibrator_errors(results: dict) -> None:
    preds = results["ridge"].predictions
    first = preds["date"].min()
    with pytest.raises(ValueError, match="only 0 OOS predictions with labels known before"):
        fit_prob_up_calibrator(preds, first)
    with pytest.raises(ValueError, match="went up"):
        fit_prob_up_calibrator(preds.assign(fwd_return=1.0), preds["date"].max())
    with pytest.raises(ValueError, match=r"missing columns \['fwd_return'\]"):
        fit_prob_up_calibrator(preds.drop(columns="fwd_return"), first)


# --------------------------------------------------------------------------- #
# bad input
# --------------------------------------------------------------------------- #


def test_missing_feature_columns_are_named(panel: pd.DataFrame) -> None:
    spec = TrainingSpec(model_type="ridge", train_days=120, test_days=40, features=FEATURES + ("f9",))
    with pytest.raises(ValueError, match=r"missing feature columns \['f9'\]"):
        walk_forward(panel, spec)
    with pytest.raises(ValueError, match=r"missing required columns \['label_end_date'\]"):
        walk_forward(panel.drop(columns="label_end_date"), RIDGE)


def test_all_nan_feature_is_named_with_its_window(panel: pd.DataFrame) -> None:
    bad = panel.assign(f2=np.nan)
    with pytest.raises(ValueError, match=r"features \['f2'\] are all-NaN in the training window of fold 0 "
                       r"\(window 2020-01-01\.\.2020-06-16\): 3420 rows dated 2020-01-01\.\.2020-06-08"):
        walk_forward(bad, LGB)
    # NaN only in a later window: named with that fold
    late = panel.copy()
    late.loc[late["date"] >= pd.Timestamp("2020-04-22"), "f3"] = np.nan  # fold 2's window start
    with pytest.raises(ValueError, match=r"\['f3'\] are all-NaN in the training window of fold 2"):
        walk_forward(late, RIDGE)
    with pytest.raises(ValueError, match=r"\['f2'\] are all-NaN in the training window as of"):
        train_final(bad, RIDGE)


def test_empty_training_window(panel: pd.DataFrame) -> None:
    unlabelled = panel.copy()
    unlabelled.loc[unlabelled["date"] < pd.Timestamp("2020-07-01"), "fwd_excess_return"] = np.nan
    with pytest.raises(ValueError, match="fold 0 has no training rows"):
        walk_forward(unlabelled, RIDGE)
    with pytest.raises(ValueError, match="empty training window: no row has label_end_date <= 2019-12-31"):
        train_final(panel, RIDGE, as_of="2019-12-31")
    with pytest.raises(ValueError, match="empty training window: no row of the panel has a known label"):
        train_final(panel.assign(fwd_excess_return=np.nan), RIDGE)
    with pytest.raises(ValueError, match="panel has no rows for horizon 20"):
        walk_forward(panel, TrainingSpec(model_type="ridge", horizon=20))
    with pytest.raises(ValueError, match="panel has no rows"):
        walk_forward(panel.iloc[:0], RIDGE)


def test_too_few_dates(panel: pd.DataFrame) -> None:
    short = panel[panel["date"] <= sorted(panel["date"].unique())[99]]
    with pytest.raises(ValueError, match="too few dates for one fold: the panel has 100 distinct dates"):
        walk_forward(short, RIDGE)


def test_other_bad_input(panel: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match=r"duplicate \(ticker, date\) rows, e\.g\. \(T00, 2020-01-01\)"):
        walk_forward(pd.concat([panel, panel.iloc[:1]]), RIDGE)
    with pytest.raises(ValueError, match=r"feature columns \['f1'\] contain infinite values"):
        walk_forward(panel.assign(f1=np.where(panel.index == 5, np.inf, panel["f1"])), RIDGE)
    with pytest.raises(ValueError, match=r"feature columns \['sector'\] are not numeric"):
        walk_forward(panel, TrainingSpec(model_type="ridge", features=("f0", "sector")))
    with pytest.raises(TypeError, match="panel must be a pandas DataFrame"):
        walk_forward(panel.to_numpy(), RIDGE)


# --------------------------------------------------------------------------- #
# the recipe options: normalization, per-window feature selection
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("name", ["lightgbm_recipe", "ridge_recipe"])
def test_each_window_chooses_its_columns_and_records_them(results: dict, name: str) -> None:
    result = results[name]
    chosen = [m.features for m in result.models]
    assert all(len(features) == 3 for features in chosen)
    assert all("f0" in features for features in chosen)  # the planted signal: f0 strong, f1 weak
    assert sum("f1" in features for features in chosen) >= len(chosen) - 1
    for model in result.models:
        assert list(model.settings["feature_scores"]) == list(model.features)
        assert model.settings["normalize"] == SPECS[name].normalize
    assert result.summary["rank_ic"] > 0.05


def test_scoring_normalizes_the_days_rows_as_training_did(panel: pd.DataFrame, results: dict) -> None:
    result = results["lightgbm_recipe"]
    model = result.models[-1]
    day = result.predictions["date"].max()
    rows = panel[panel["date"] == day]
    scored = score_latest(model, rows).set_index("ticker")["yhat"]
    walked = result.predictions[result.predictions["date"] == day].set_index("ticker")["yhat"]
    np.testing.assert_allclose(scored.loc[walked.index], walked, rtol=0, atol=1e-12)
    # raw features would give other predictions: the normalization is applied, not skipped
    raw = model.predict(rows.sort_values("ticker"))
    assert not np.allclose(raw, scored.to_numpy())


# --------------------------------------------------------------------------- #
# date_stride: fits on every n-th date
# --------------------------------------------------------------------------- #


def _strided(spec: TrainingSpec, stride: int) -> TrainingSpec:
    return TrainingSpec(**{**spec.__dict__, "date_stride": stride})


def test_date_stride_fits_exactly_the_rows_of_every_nth_date(panel: pd.DataFrame, results: dict) -> None:
    """Each fold's model is fitted on its window's rows of every third date, counted from the
    panel's first date: its id is the content hash of exactly those rows."""
    spec = _strided(RIDGE, 3)
    result = walk_forward(panel, spec)
    ordered = panel.sort_values(["date", "ticker"]).reset_index(drop=True)
    ordered["target"] = make_target(ordered["fwd_excess_return"], ordered["date"], "rank")
    code = pd.factorize(ordered["date"], sort=True)[0]
    cv = WalkForwardSplit(train_days=120, test_days=40, embargo_days=HORIZON, allow_partial_test=True,
                          label_end_dates=ordered["label_end_date"])
    for model, (train, _) in zip(result.models, cv.split(ordered, groups=ordered["date"]), strict=True):
        kept = train[code[train] % 3 == 0]
        assert model.n_train == kept.size
        assert kept.size * 3 == pytest.approx(train.size, rel=0.05)
        assert model.model_id == model_id("ridge", spec.resolved_params(), list(FEATURES), ordered.iloc[kept],
                                          spec.id_settings())
    # the same folds, every row predicted, the stride part of the id's settings
    full = results["ridge"]
    pd.testing.assert_frame_equal(result.folds[["fold", "test_start", "test_end"]],
                                  full.folds[["fold", "test_start", "test_end"]])
    assert len(result.predictions) == len(full.predictions)
    assert spec.id_settings()["date_stride"] == 3 and "date_stride" not in RIDGE.id_settings()
    assert result.summary["rank_ic"] > 0.15


def test_date_stride_keeps_the_early_stopping_slice_whole(panel: pd.DataFrame, results: dict) -> None:
    full, strided = results["lightgbm"].folds, walk_forward(panel, _strided(LGB, 2)).folds
    # half of the fitting rows (give or take a date at each embargo gap), all 20 dates x 30 names
    # of the early-stopping slice
    fit_full, fit_strided = full["n_train"] - 20 * 30, strided["n_train"] - 20 * 30
    assert ((fit_strided - fit_full / 2).abs() <= 2 * 30).all()
    assert (fit_strided < fit_full).all()


@pytest.mark.parametrize("mode", ["change", "delete"])
def test_rule7_with_date_stride(panel: pd.DataFrame, mode: str) -> None:
    spec = _strided(LGB, 3)
    cutoff = pd.Timestamp(sorted(panel["date"].unique())[250])
    before = walk_forward(panel, spec).predictions
    after = walk_forward(_after(panel, cutoff, mode), spec).predictions
    cols = list(PREDS_COLUMNS)
    pd.testing.assert_frame_equal(after.loc[after["date"] <= cutoff, cols].reset_index(drop=True),
                                  before.loc[before["date"] <= cutoff, cols].reset_index(drop=True),
                                  check_exact=True)


def test_train_final_counts_the_stride_from_the_panels_first_date(panel: pd.DataFrame) -> None:
    days = sorted(panel["date"].unique())
    final = train_final(panel, _strided(RIDGE, 4))
    kept = [d for k, d in enumerate(days) if k % 4 == 0 and d >= days[-120]]
    assert final.train_start == kept[0] and final.train_end == kept[-1]
    assert final.n_train == 30 * len(kept)


def test_date_stride_with_no_date_in_a_window_is_an_error() -> None:
    spec = TrainingSpec(**{**TINY.__dict__, "date_stride": 50})
    with pytest.raises(ValueError, match=r"empty training window of fold 1 .* date_stride=50"):
        walk_forward(tiny_panel(), spec)


def test_a_feature_missing_on_every_strided_date_is_named(panel: pd.DataFrame) -> None:
    code = pd.factorize(panel["date"], sort=True)[0]
    holed = panel.assign(f4=np.where(code % 3 == 0, np.nan, 1.0))
    walk_forward(holed, RIDGE)  # every date: f4 has values
    with pytest.raises(ValueError, match=r"f4.*fold 0"):
        walk_forward(holed, _strided(RIDGE, 3))


def test_early_stopping_leaving_no_strided_date_names_the_stride(panel: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match=r"before the early-stopping slice .* lower early_stopping_days, "
                                         r"lower date_stride \(110\)"):
        walk_forward(panel, _strided(LGB, 110))
