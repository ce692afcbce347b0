"""Candidates of a comparison: identical folds for every candidate, the ensemble from the best
validation rank IC, tuning strictly before the compared span, and a shortened walk-forward
equal to the full one on the folds it keeps."""

import numpy as np
import pandas as pd
import pytest

from ml.comparison import ENSEMBLE, Candidate, train_candidates
from ml.training import TrainingSpec, walk_forward
from tests.ml.training.test_training import make_panel

SPEC = TrainingSpec(train_days=120, test_days=40, early_stopping_days=20, early_stopping_rounds=10)
SMALL_LGB = {"n_estimators": 30, "num_leaves": 7, "min_child_samples": 20, "n_jobs": 1}
CANDIDATES = [
    Candidate("ridge", "ridge"),
    Candidate("lasso", "lasso", {"alpha": 1.0}),  # every coefficient zero: no skill
    Candidate("lightgbm", "lightgbm", SMALL_LGB),
    Candidate("lightgbm_tuned", "lightgbm", SMALL_LGB, tune=True),
    Candidate(ENSEMBLE, ENSEMBLE),
]


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    return make_panel(n_tickers=30, n_days=400)


PROGRESS: list[str] = []  # what the run below logs


@pytest.fixture(scope="module")
def run(panel):
    dates = np.sort(panel["date"].unique())
    return train_candidates(panel, CANDIDATES, SPEC, test_from=dates[200], final_start=dates[320],
                            ensemble_size=2, tuning_iter=2, tuning_splits=2, log=PROGRESS.append)


def test_progress_names_each_candidate_its_folds_and_tuning(run):
    n = run.folds["fold"].nunique()
    ridge = [line for line in PROGRESS if line.startswith("ridge:")]
    assert [line.split(" (")[0] for line in ridge[:-1]] == [f"ridge: fold {k} of {n}" for k in range(1, n + 1)]
    assert ridge[-1].startswith("ridge: done in ")
    assert [line for line in PROGRESS if line.startswith("candidate ")] == [
        f"candidate {k}/5: {c.name}" for k, c in enumerate(CANDIDATES, start=1)]
    tuning = run.tuning["lightgbm_tuned"].until.date()
    assert f"lightgbm_tuned: tuning, 2 trials x 2 purged folds up to {tuning}" in PROGRESS
    trials = [line.split(" {")[0] for line in PROGRESS if line.startswith("lightgbm_tuned: trial")]
    assert trials == ["lightgbm_tuned: trial 1 of 2", "lightgbm_tuned: trial 2 of 2"]


def test_every_candidate_is_evaluated_on_identical_folds(run, panel):
    dates = np.sort(panel["date"].unique())
    assert run.folds["test_end"].min() >= pd.Timestamp(dates[200])
    keys = {name: p[["date", "ticker", "fold"]].sort_values(["date", "ticker"]).reset_index(drop=True)
            for name, p in run.predictions.items()}
    first = keys["ridge"]
    for name, frame in keys.items():
        pd.testing.assert_frame_equal(frame, first, obj=name)
    assert set(run.predictions) == {c.name for c in CANDIDATES}


def test_ensemble_takes_the_best_validation_rank_ic(run):
    validation = run.metrics[run.metrics["window"] == "validation"].set_index("model")
    singles = validation.drop(index=ENSEMBLE)["rank_ic"].sort_values(ascending=False)
    assert run.members == list(singles.index[:2])
    assert "lasso" not in run.members
    assert run.params[ENSEMBLE] == {"members": run.members}
    assert set(run.metrics["window"]) == {"validation", "final"}


def test_tuning_sees_only_labels_known_before_the_first_compared_fold(run):
    result = run.tuning["lightgbm_tuned"]
    assert result.until < run.folds["test_start"].min()
    assert set(result.best_params) <= set(run.params["lightgbm_tuned"])
    assert result.trials["trial"].nunique() == 2


def test_a_shortened_walk_forward_keeps_the_full_one_on_its_folds(panel):
    ridge = TrainingSpec(model_type="ridge", train_days=120, test_days=40)
    full = walk_forward(panel, ridge)
    dates = np.sort(panel["date"].unique())
    short = walk_forward(panel, ridge, test_from=dates[250])
    kept = full.predictions[full.predictions["fold"].isin(short.predictions["fold"].unique())]
    same = ["ticker", "date", "model_id", "yhat", "fold", "fwd_excess_return"]  # yhat_std, prob_up use earlier folds
    pd.testing.assert_frame_equal(short.predictions[same].reset_index(drop=True), kept[same].reset_index(drop=True))
    with pytest.raises(ValueError, match="no fold's test window ends on or after"):
        walk_forward(panel, ridge, test_from=dates[-1] + np.timedelta64(30, "D"))


def test_names_must_be_unique_and_an_ensemble_needs_models(panel):
    with pytest.raises(ValueError, match="unique"):
        train_candidates(panel, [Candidate("a", "ridge"), Candidate("a", "ridge")], SPEC, test_from=panel["date"].max())
    with pytest.raises(ValueError, match="at least two model candidates"):
        train_candidates(panel, [Candidate(ENSEMBLE, ENSEMBLE)], SPEC, test_from=panel["date"].max())
