"""The model candidates of a comparison, and their walk-forward predictions on identical folds.

A candidate is a named model configuration: a model type of :mod:`ml.training.models` with parameters,
optionally tuned first (:mod:`ml.comparison.tuning`), or the rank ensemble of the best other candidates
(:func:`ml.comparison.rank_ensemble`). Every candidate is walked forward with the same
:class:`~ml.training.TrainingSpec` windows on the same panel, so their folds -- training spans,
test windows, purging and embargo -- are identical; :func:`train_candidates` checks it.

Tuning happens strictly before the compared span: the tuner sees only rows whose label is known
by the start of the first compared test window (purged K-fold inside that span), so the tuned
parameters carry no information from the dates they are then judged on.

Examples
--------
>>> [c.name for c in default_candidates()]
['ridge', 'random_forest', 'lightgbm', 'lightgbm_tuned', 'mlp', 'ensemble']
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from ml.comparison.evaluation import prediction_metrics, rank_ensemble
from ml.comparison.search_space import DEFAULT_SPACES
from ml.comparison.tuning import TuningResult, tune
from ml.parallel import Parallelism, run_parallel
from ml.training import TrainingSpec, WalkForwardResult, WalkForwardSplit, walk_forward

__all__ = ["Candidate", "CandidateRun", "default_candidates", "train_candidates", "ENSEMBLE"]

ENSEMBLE = "ensemble"


@dataclass(frozen=True)
class Candidate:
    """One model configuration to compare.

    Attributes
    ----------
    name : str
        Unique name in the comparison (``ml.model_comparison.model``).
    model_type : str
        A type of :func:`ml.training.available_models`, or ``"ensemble"``.
    params : mapping
        Overrides of the model type's defaults.
    tune : bool
        Search the model type's stated space (:data:`ml.comparison.DEFAULT_SPACES`) first; the best
        parameters are applied over ``params``.
    """

    name: str
    model_type: str
    params: Mapping[str, Any] = field(default_factory=dict)
    tune: bool = False


def default_candidates() -> list[Candidate]:
    """ridge, random_forest, lightgbm (defaults), lightgbm_tuned, mlp and the rank ensemble.

    The random forest and the MLP are sized for a comparison over many folds:

    * ``random_forest`` is LightGBM's random-forest mode (``boosting_type="rf"``): 60 trees of
      depth 6, each on a 20% bagging sample, 30% of the features at a split, leaves of at least
      100 rows, averaged. Histogram splits make it ~15x faster than scikit-learn's forest of the
      same shape (13 folds of the 100-ticker sample: 17 s instead of 251 s, rank IC alike), and
      it takes missing values as they are. ``[training] model_type = "random_forest"`` is still
      scikit-learn's forest.
    * ``mlp`` trains at most 10 epochs of 2048-row batches and stops when 10% of its training
      rows held out have not improved for 3 epochs (30 epochs of 512 rows took 3.4x longer and
      ranked no better on the sample).

    On noisy return targets shallow, heavily regularised models rank names about as well as big ones.
    """
    return [
        Candidate("ridge", "ridge"),
        Candidate("random_forest", "lightgbm", {"boosting_type": "rf", "n_estimators": 60, "max_depth": 6,
                                                "num_leaves": 64, "subsample": 0.2, "subsample_freq": 1,
                                                "colsample_bytree": 1.0, "feature_fraction_bynode": 0.3,
                                                "min_child_samples": 100}),
        Candidate("lightgbm", "lightgbm"),
        Candidate("lightgbm_tuned", "lightgbm", tune=True),
        Candidate("mlp", "mlp", {"early_stopping": True, "n_iter_no_change": 3, "max_iter": 10,
                                  "batch_size": 2048}),
        Candidate(ENSEMBLE, ENSEMBLE),
    ]


@dataclass(frozen=True)
class CandidateRun:
    """What :func:`train_candidates` produced.

    Attributes
    ----------
    predictions : dict of str to DataFrame
        Candidate name -> its out-of-sample predictions (:attr:`WalkForwardResult.predictions`
        columns; the ensemble's have NaN ``yhat_std`` / ``prob_up``).
    folds : DataFrame
        The folds every candidate was tested on (fold, train_start, train_end, test_start,
        test_end), the same for all.
    params : dict of str to dict
        Candidate name -> the parameters it ran with (tuned ones included).
    tuning : dict of str to TuningResult
        The tuner's result per tuned candidate (best params, per-fold scores, every trial).
    members : list of str
        The ensemble's members (empty without an ensemble).
    metrics : DataFrame
        One row per candidate and window: prediction quality (:func:`prediction_metrics`).
    seconds : dict of str to float
        Wall time per candidate (tuning included).
    """

    predictions: dict[str, pd.DataFrame]
    folds: pd.DataFrame
    params: dict[str, dict[str, Any]]
    tuning: dict[str, TuningResult]
    members: list[str]
    metrics: pd.DataFrame
    seconds: dict[str, float]


# Relative cost of a walk-forward by model type: the order the walks are handed to the workers
# (longest first). Measured on the sample's 13 compared folds, one thread each (bench/README.md):
# scikit-learn's forest 251 s, the MLP 34 s, LightGBM 17-21 s, ridge 7 s.
_WALK_COST = {"random_forest": 4, "mlp": 3, "lightgbm": 2}

_FOLD_KEYS = ["fold", "train_start", "train_end", "test_start", "test_end"]


def _window_metrics(predictions: pd.DataFrame, final_start: pd.Timestamp | None) -> list[dict[str, Any]]:
    dates = pd.to_datetime(predictions["date"])
    windows = [("validation", dates < final_start if final_start is not None else dates == dates)]
    if final_start is not None:
        windows.append(("final", dates >= final_start))
    out = []
    for window, mask in windows:
        part = predictions[mask.to_numpy()]
        try:
            out.append({"window": window, **prediction_metrics(part)})
        except ValueError:  # no labelled row in the window (e.g. the final days of a short span)
            out.append({"window": window})
    return out


def train_candidates(
    panel: pd.DataFrame,
    candidates: Sequence[Candidate],
    spec: TrainingSpec,
    test_from: Any,
    final_start: Any = None,
    ensemble_size: int = 3,
    tuning_iter: int = 8,
    tuning_splits: int = 3,
    log: Callable[[str], None] | None = None,
    parallelism: Parallelism | None = None,
) -> CandidateRun:
    """Walk every candidate forward over the folds whose test window ends on or after ``test_from``.

    Parameters
    ----------
    panel : DataFrame
        The training panel of ``spec.horizon`` (assets/warehouse/marts.py ``training_panel``).
    candidates : sequence of Candidate
        Unique names; at most one ensemble, listed after the models it may pick from.
    spec : TrainingSpec
        Windows, target and seed shared by every candidate (its model type and params are
        replaced per candidate).
    test_from : date-like
        Start of the compared span (see :func:`ml.training.walk_forward`).
    final_start : date-like, optional
        First date of the untouched final window: the ensemble's members are the
        ``ensemble_size`` candidates with the best mean rank IC on the dates before it, and the
        metrics are reported per window.
    tuning_iter, tuning_splits : int
        Random-search trials and purged folds of a tuned candidate.
    log : callable, optional
        Called with progress lines: each candidate's folds, tuning, and end (the folds only when
        the walk-forwards run in this process).
    parallelism : ml.parallel.Parallelism, optional
        Where the tuners' trials and then the candidates' walk-forwards run, side by side
        (:func:`ml.parallel.run_parallel`; default: one after the other in this process). The
        predictions are the same wherever they run (a random forest's to ~1e-16 when its fits
        get another thread count, see :mod:`ml.training.models`).
    """
    names = [c.name for c in candidates]
    if len(set(names)) != len(names):
        raise ValueError(f"candidate names must be unique, got {names}")
    if not candidates:
        raise ValueError("no candidates to compare")
    say = log or (lambda _msg: None)
    seam = Parallelism() if parallelism is None else parallelism
    final_ts = None if final_start is None else pd.Timestamp(final_start)
    predictions: dict[str, pd.DataFrame] = {}
    params: dict[str, dict[str, Any]] = {}
    tuned: dict[str, TuningResult] = {}
    seconds: dict[str, float] = {}
    folds: pd.DataFrame | None = None
    members: list[str] = []
    models = [c for c in candidates if c.model_type != ENSEMBLE]
    # the tuners first (their trials side by side), then every model's walk-forward side by side
    specs: dict[str, TrainingSpec] = {}
    for candidate in models:
        cand_spec = replace(spec, model_type=candidate.model_type, params=dict(candidate.params))
        if candidate.tune:
            started = time.perf_counter()
            until = _tuning_until(panel, cand_spec, test_from)
            say(f"{candidate.name}: tuning, {tuning_iter} trials x {tuning_splits} purged folds "
                f"up to {until.date()}")
            result = tune(panel, cand_spec, DEFAULT_SPACES[candidate.model_type],
                          method="random", n_iter=tuning_iter, n_splits=tuning_splits,
                          until=until, seed=spec.seed,
                          log=None if log is None else _prefixed(say, candidate.name), parallelism=seam)
            tuned[candidate.name] = result
            seconds[candidate.name] = time.perf_counter() - started
            cand_spec = replace(cand_spec, params={**candidate.params, **result.best_params})
        specs[candidate.name] = cand_spec
    walks = [(panel, specs[c.name], test_from,
              None if log is None or not seam.in_process else _prefixed(say, c.name)) for c in models]
    if seam.in_process:
        runs = iter(run_parallel(_walk, walks, seam))
    else:
        say(f"{len(walks)} walk-forwards side by side ({seam.backend}, n_jobs={seam.n_jobs})")
        # slowest first, so that the last walk to start is a short one; the results keep their order
        order = sorted(range(len(walks)), key=lambda i: -_WALK_COST.get(models[i].model_type, 1))
        finished = dict(zip(order, run_parallel(_walk, [walks[i] for i in order], seam), strict=True))
        runs = iter(finished[i] for i in range(len(walks)))
    for number, candidate in enumerate(candidates, start=1):
        if candidate.model_type == ENSEMBLE:
            started = time.perf_counter()
            say(f"candidate {number}/{len(candidates)}: {candidate.name}")
            if ensemble_size < 2 or len(predictions) < 2:
                raise ValueError(f"the rank ensemble needs ensemble_size >= 2 (got {ensemble_size}) and at least "
                                 f"two model candidates before it (got {list(predictions)})")
            members = _best_members(predictions, final_ts, ensemble_size)
            predictions[candidate.name] = rank_ensemble(predictions, members)
            params[candidate.name] = {"members": members}
            seconds[candidate.name] = time.perf_counter() - started
        else:
            if seam.in_process:
                say(f"candidate {number}/{len(candidates)}: {candidate.name}")
            run, walk_seconds = next(runs)
            bounds = run.folds[_FOLD_KEYS].reset_index(drop=True)
            if folds is None:
                folds = bounds
            elif not bounds.equals(folds):
                raise AssertionError(f"candidate {candidate.name} was walked forward on other folds")
            predictions[candidate.name] = run.predictions
            params[candidate.name] = dict(specs[candidate.name].params)
            seconds[candidate.name] = seconds.get(candidate.name, 0.0) + walk_seconds
        say(f"{candidate.name}: done in {seconds[candidate.name]:.1f}s")
    if folds is None:
        raise ValueError("an ensemble needs at least one model candidate before it")
    metrics = pd.DataFrame([{"model": name, **row} for name, preds in predictions.items()
                            for row in _window_metrics(preds, final_ts)])
    return CandidateRun(predictions, folds, params, tuned, members, metrics, seconds)


def _walk(panel: pd.DataFrame, spec: TrainingSpec, test_from: Any,
          log: Callable[[str], None] | None) -> tuple[WalkForwardResult, float]:
    """One candidate's walk-forward and its wall time (a task of :func:`ml.parallel.run_parallel`)."""
    started = time.perf_counter()
    return walk_forward(panel, spec, test_from=test_from, log=log), time.perf_counter() - started


def _prefixed(log: Callable[[str], None], prefix: str) -> Callable[[str], None]:
    return lambda message: log(f"{prefix}: {message}")


def _best_members(predictions: Mapping[str, pd.DataFrame], final_start: pd.Timestamp | None,
                  size: int) -> list[str]:
    """The ``size`` candidates with the best mean rank IC before the final window."""
    if not predictions:
        raise ValueError("an ensemble needs at least one model candidate before it")
    scores = {}
    for name, preds in predictions.items():
        validation = preds if final_start is None else preds[pd.to_datetime(preds["date"]) < final_start]
        try:
            scores[name] = prediction_metrics(validation)["rank_ic"]
        except ValueError:
            scores[name] = float("-inf")
    ranked = sorted(scores, key=lambda n: (-scores[n] if pd.notna(scores[n]) else float("inf"), n))
    return ranked[:max(1, size)]


def _tuning_until(panel: pd.DataFrame, spec: TrainingSpec, test_from: Any) -> pd.Timestamp:
    """The last date before the first compared test window: the tuner's span ends there."""
    dates = np.sort(pd.to_datetime(panel["date"]).unique())
    cv = WalkForwardSplit(train_days=spec.train_days, test_days=spec.test_days, expanding=spec.expanding,
                          embargo_days=spec.effective_embargo_days, allow_partial_test=True)
    target = pd.Timestamp(test_from)
    first = next((b for b in cv.fold_bounds(dates) if b.test_end >= target), None)
    if first is None:
        raise ValueError(f"no test window ends on or after {target.date()}")
    before = dates[dates < np.datetime64(first.test_start)]
    if before.size == 0:
        raise ValueError(f"no date before the first compared test window ({first.test_start.date()}) to tune on")
    return pd.Timestamp(before[-1])
