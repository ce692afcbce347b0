"""Hyperparameter search for a model type of :mod:`ml.training.models`, inside one training span.

:func:`tune` scores candidate parameter sets of ``spec.model_type`` with purged
K-fold cross-validation (:class:`ml.training.PurgedKFold`) on the rows of the
training panel whose labels are known by the end of a training span, and
returns the best set with every trial's fold scores (:class:`TuningResult`).

How a trial is scored
---------------------
The rows are prepared exactly as :func:`ml.training.walk_forward` prepares
them (features at float32 model precision, the training target the per-date
transform ``spec.target`` of ``fwd_excess_return``, see
:func:`ml.training.make_target`). The distinct dates are cut into ``n_splits``
contiguous blocks; each block is the test fold once and the model is fitted
on the other rows, purged of labels that overlap the block and embargoed for
``spec.effective_embargo_days`` dates after it. The model is
``ml.training.get_model(spec.model_type, {**spec.resolved_params(), **trial})``
-- the spec's parameters and seed, with the tuned ones overridden. A fold's
score is the mean over its dates of the daily rank IC (Spearman correlation
across names, :func:`ml.metrics.daily_ic`) between the prediction and the raw
``fwd_excess_return``; a trial's score is the mean of its fold scores; the
best trial has the highest score, ties going to the earlier trial.

Point in time
-------------
"A model trained as of ``T`` only sees rows with ``label_end_date <= T``": with
``until=T`` every row whose label ends after ``T`` (or is missing) is dropped
*before* anything else -- before the per-date target transform, before the
folds are cut and before any model sees a row -- so changing or deleting
those rows cannot change the result. The K folds then use rows on both sides
of each test block: inside the span, a fold trains on data dated after the
rows it is scored on (see the warning of :class:`ml.training.PurgedKFold`). That is
fine for *comparing* parameter sets, but the scores are not out-of-sample
performance estimates; use :func:`ml.training.walk_forward` for those.

Search spaces
-------------
A :class:`SearchSpace` maps parameter names to candidates:

* a list of values -- every value is a grid point; random search draws from
  it uniformly;
* ``("log", low, high)`` -- random search only: log-uniform on ``[low, high]``
  (``0 < low < high``), for scale parameters such as a learning rate;
* ``("uniform", low, high)`` -- random search only: uniform on ``[low, high]``;
* ``("int", low, high)`` -- random search only: an integer drawn uniformly
  from ``low, low + 1, ..., high`` (both ends included).

Candidates are enumerated by scikit-learn: :class:`~sklearn.model_selection.ParameterGrid`
for ``method="grid"`` and :class:`~sklearn.model_selection.ParameterSampler`
(seeded) for ``method="random"``; ranges become ``scipy.stats`` distributions.
When every parameter is a list and ``n_iter`` is at least the grid size, the
random search *is* the grid search (same trials, same order).

LightGBM
--------
:func:`tune` fits the :mod:`ml.training.models` pipeline (``LGBMRegressor``) with a
fixed ``n_estimators`` and no early stopping, so ``n_estimators`` can be
tuned. :func:`ml.training.walk_forward` early-stops LightGBM on the last
``early_stopping_days`` of each window, where ``n_estimators`` is only a cap;
set ``TrainingSpec(early_stopping_days=0)`` to train the tuned number of trees.
A search is many small fits, independent of each other: ``parallelism`` runs them side by
side (local processes or a Dask cluster, :mod:`ml.parallel`), each with its share of the
CPUs (one thread each when as many fits run as there are CPUs).

Examples
--------
>>> space = SearchSpace({"alpha": [0.1, 1.0, 10.0]})
>>> space.grid_size, [c["alpha"] for c in space.candidates("grid")]
(3, [0.1, 1.0, 10.0])
>>> SearchSpace({"learning_rate": ("log", 0.01, 0.1)}).grid_size is None
True

Typical use::

    result = tune(panel, TrainingSpec(model_type="lightgbm"), DEFAULT_SPACES["lightgbm"],
                  until="2023-12-29")
    result.summary().head()         # one row per trial, best first
    walk_forward(panel, result.best_spec())
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from numbers import Real
from typing import Any

import numpy as np
import pandas as pd

from ml import metrics as mt
from ml.common import canonical_json, check_int
from ml.comparison.search_space import _SEED_PARAMS, METHODS, SearchSpace, _as_space
from ml.parallel import Parallelism, fit_thread_limits, run_parallel
from ml.training import PurgedKFold, TrainingSpec, get_model
from ml.training.feature_selection import select_features
from ml.training.fitter import stride_rows
from ml.training.panel import _as_datetime_ns, _check_features_present, _day, _prepare

# columns of TuningResult.trials that a tuned parameter must not shadow
_TRIAL_FIXED = ("trial", "params", "fold", "score", "n_dates", "mean_score")


_LABEL_COLUMNS = ("ticker", "date", "label_end_date", "fwd_excess_return")


# a fit's thread count: set by the thread policy where the fit runs (ml.parallel)
_THREAD_PARAMS = frozenset({"n_jobs", "num_threads"})


# --------------------------------------------------------------------------- #
# result
# --------------------------------------------------------------------------- #
@dataclass(frozen=True, eq=False)
class TuningResult:
    """Output of :func:`tune`.

    Attributes
    ----------
    best_params : dict
        The tuned parameters of the best trial only (plain Python values).
    best_score : float
        Its score: the mean over folds of the fold's mean daily rank IC.
    fold_scores : list of float
        Its score on each fold, in fold order.
    trials : DataFrame
        One row per (trial, fold), sorted by trial then fold: ``trial``
        (0-based, in candidate order), ``params`` (the tuned parameters as
        canonical JSON, sorted keys), one column per tuned parameter, ``fold``,
        ``score`` (mean daily rank IC of the fold; NaN if no date of the fold
        could be scored, e.g. a penalty that zeroes every coefficient makes
        the predictions constant), ``n_dates`` (dates scored) and
        ``mean_score`` (the trial's score, repeated on its rows; NaN if any
        fold is NaN -- such a trial is never the best).
    folds : DataFrame
        One row per fold: ``fold``, ``test_start``, ``test_end``, ``n_train``,
        ``n_test``, ``last_label_end_before_test`` (latest label end date of
        the training rows dated before the test block: before ``test_start``
        by purging; NaT if none) and ``first_train_date_after_test`` (earliest
        training date after the block: more than ``embargo_days`` dates after
        ``test_end``; NaT if none) and ``features`` (the columns the fold's
        training rows chose by ``spec.feature_selection``, as a walk-forward
        window does; every column without one).
    method : {"grid", "random"}
    model_type : str
    n_splits : int
    until : pandas.Timestamp
        The end of the span actually used: the latest ``label_end_date`` of
        the rows used (at most the ``until`` asked for).
    n_rows : int
        Rows used (labelled, horizon ``spec.horizon``, label known by ``until``).
    elapsed_s : float
        Wall time of :func:`tune` in seconds.
    spec : TrainingSpec
        The spec tuned (its ``params`` and ``seed`` apply to every trial).
    space : SearchSpace
    seed : int
        Seed of the random search.
    """

    best_params: dict[str, Any]
    best_score: float
    fold_scores: list[float]
    trials: pd.DataFrame
    folds: pd.DataFrame
    method: str
    model_type: str
    n_splits: int
    until: pd.Timestamp
    n_rows: int
    elapsed_s: float
    spec: TrainingSpec
    space: SearchSpace
    seed: int

    def summary(self) -> pd.DataFrame:
        """One row per trial, best first.

        Returns
        -------
        DataFrame
            ``rank`` (1 = best), ``trial``, ``params``, the tuned parameter
            columns, ``mean_score``, ``std_score`` (sample std over folds),
            ``min_score``, ``max_score`` (the last three NaN for a trial with
            a NaN fold); sorted by ``mean_score`` descending with ties in
            trial order and NaN scores last, so the first row is
            :attr:`best_params`.
        """
        names = list(self.space.names)
        scores = self.trials.pivot(index="trial", columns="fold", values="score").to_numpy()
        out = self.trials.drop_duplicates("trial")[["trial", "params", *names, "mean_score"]]
        out = out.reset_index(drop=True)
        out["std_score"] = np.std(scores, axis=1, ddof=1) if scores.shape[1] > 1 else np.nan
        out["min_score"] = np.min(scores, axis=1)
        out["max_score"] = np.max(scores, axis=1)
        out = out.sort_values("mean_score", ascending=False, kind="stable", na_position="last")
        out.insert(0, "rank", np.arange(1, len(out) + 1))
        return out.reset_index(drop=True)

    def best_spec(self) -> TrainingSpec:
        """:attr:`spec` with its ``params`` updated by :attr:`best_params`."""
        return dataclasses.replace(self.spec, params={**self.spec.params, **self.best_params})


def _check_names(space: SearchSpace, spec: TrainingSpec, first: Mapping[str, Any]) -> None:
    """Raise before any fit if a tuned name is not a parameter of the model type."""
    seeds = sorted(_SEED_PARAMS & set(space.names))
    if seeds:
        raise ValueError(
            f"{seeds} cannot be tuned: the seed is set by TrainingSpec(seed=...), "
            "and picking the best seed only fits noise"
        )
    shadowed = sorted(set(_TRIAL_FIXED) & set(space.names))
    if shadowed:
        raise ValueError(f"parameter names {shadowed} clash with columns of TuningResult.trials")
    get_model(spec.model_type, {**spec.resolved_params(), **first})  # ml.training.models name check


def _cutoff(until: Any) -> np.datetime64:
    """``until`` as tz-naive ``datetime64[ns]`` (tz-aware values in UTC, as the panel's dates)."""
    try:
        ts = pd.Timestamp(until)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"until must be a date, got {until!r}") from exc
    if pd.isna(ts):
        raise ValueError(f"until must be a date, got {until!r}")
    if ts.tz is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts.as_unit("ns").to_datetime64()


def _select_span(panel: pd.DataFrame, spec: TrainingSpec, until: Any) -> tuple[pd.DataFrame, np.ndarray]:
    """Rows of ``spec.horizon`` with a label known by ``until`` -- the only rows ever used -- and
    the distinct dates of every row of the horizon (the calendar ``date_stride`` counts in, as a
    walk-forward on the same panel does)."""
    if not isinstance(panel, pd.DataFrame):
        raise TypeError(f"panel must be a pandas DataFrame, got {type(panel).__name__}")
    missing = [c for c in _LABEL_COLUMNS if c not in panel.columns]
    if missing:
        raise ValueError(f"panel is missing required columns {missing}")
    if "horizon" in panel.columns:
        panel = panel[panel["horizon"].to_numpy() == spec.horizon]
    if panel.empty:
        raise ValueError(f"panel has no rows for horizon {spec.horizon}")
    label_end = _as_datetime_ns(panel["label_end_date"], "label_end_date")
    labelled = ~np.isnat(label_end) & panel["fwd_excess_return"].notna().to_numpy()
    if not labelled.any():
        raise ValueError(
            f"empty training span: no row of horizon {spec.horizon} has a label "
            "(label_end_date and fwd_excess_return are missing everywhere)"
        )
    keep = labelled
    if until is not None:
        cutoff = _cutoff(until)
        keep = labelled & (label_end <= cutoff)
        if not keep.any():
            first, last = label_end[labelled].min(), label_end[labelled].max()
            raise ValueError(
                f"empty training span: no labelled row of horizon {spec.horizon} has "
                f"label_end_date <= until={pd.Timestamp(cutoff)}; the labelled rows have "
                f"label_end_date from {pd.Timestamp(first).date()} to {pd.Timestamp(last).date()}"
            )
    span = panel[keep]
    if "fwd_return" not in span.columns:
        # ml.training._prepare requires it; tuning never reads it
        span = span.assign(fwd_return=np.nan)
    return span, np.unique(_as_datetime_ns(panel["date"], "date"))


def _fold_row(
    k: int, train: np.ndarray, test: np.ndarray, date: np.ndarray, label_end: np.ndarray
) -> dict[str, Any]:
    """Bookkeeping of one fold: bounds, sizes and the purge/embargo evidence."""
    test_start, test_end = date[test].min(), date[test].max()
    before = train[date[train] < test_start]
    after = train[date[train] > test_end]
    return {
        "fold": k,
        "test_start": pd.Timestamp(test_start),
        "test_end": pd.Timestamp(test_end),
        "n_train": int(train.size),
        "n_test": int(test.size),
        "last_label_end_before_test": (
            pd.Timestamp(label_end[before].max()) if before.size else pd.NaT
        ),
        "first_train_date_after_test": pd.Timestamp(date[after].min()) if after.size else pd.NaT,
    }


def _rank_ic(date: np.ndarray, yhat: np.ndarray, fwd_excess: np.ndarray) -> tuple[float, int]:
    """Mean daily rank IC of a fold and the number of dates scored (NaN, 0 if none)."""
    frame = pd.DataFrame({"date": date, "yhat": yhat, "fwd_excess_return": fwd_excess})
    ic = mt.daily_ic(frame, "yhat", "fwd_excess_return", method="spearman")
    return (float(ic.mean()) if len(ic) else float("nan")), int(len(ic))


def _score_fold(model_type: str, params: dict[str, Any], t: int, k: int, X: np.ndarray,
                target: np.ndarray, date: np.ndarray, fwd_excess: np.ndarray, train: np.ndarray,
                test: np.ndarray, cols: np.ndarray | None = None) -> tuple[int, int, float, int]:
    """Fit trial ``t`` on fold ``k``'s training rows (its columns ``cols``; None: every column) and
    score it on its test rows: (t, k, mean daily rank IC, dates scored). One task of
    :func:`ml.parallel.run_parallel` (top level)."""
    model = get_model(model_type, params)
    X_train, X_test = (X[train], X[test]) if cols is None else (X[train][:, cols], X[test][:, cols])
    with fit_thread_limits():
        model.fit(X_train, target[train])
        yhat = np.asarray(model.predict(X_test), dtype=np.float64)
    bad = int((~np.isfinite(yhat)).sum())
    if bad:
        raise ValueError(f"trial {t} {canonical_json(params)} predicted {bad} non-finite values on fold {k}")
    score, n_scored = _rank_ic(date[test], yhat, fwd_excess[test])
    return t, k, score, n_scored


def _param_column(values: list[Any]) -> pd.Series:
    """A tuned parameter's column: inferred dtype if every value is a number or bool, else object.

    Object keeps ``None`` and tuples as they are (inference would turn ``[None, 8]`` into floats).
    """
    if all(isinstance(v, Real) for v in values):
        return pd.Series(values)
    return pd.Series(values, dtype=object)


def tune(
    panel: pd.DataFrame,
    spec: TrainingSpec,
    space: SearchSpace | Mapping[str, Any] | None = None,
    *,
    method: str = "random",
    n_iter: int = 8,
    n_splits: int = 3,
    until: Any = None,
    seed: int = 0,
    log: Callable[[str], None] | None = None,
    parallelism: Parallelism | None = None,
) -> TuningResult:
    """Search the hyperparameters of ``spec.model_type`` by purged K-fold CV inside a span.

    Parameters
    ----------
    panel : DataFrame
        Training panel: ``ticker``, ``date``, ``label_end_date``,
        ``fwd_excess_return``, optionally ``horizon`` (rows of other horizons
        than ``spec.horizon`` are dropped) and the feature columns
        (``spec.features`` or :func:`ml.training.default_features`); any row
        order.
    spec : TrainingSpec
        Model type, horizon, target transform, features, fixed parameters
        (``spec.params``) and seed; ``effective_embargo_days`` is the CV
        embargo. Walk-forward fields (``train_days``, ``test_days``, early
        stopping, calibration) are not used.
    space : SearchSpace or mapping, optional
        The parameters to tune (see :class:`SearchSpace`); ``None`` means
        ``DEFAULT_SPACES[spec.model_type]``.
    method : {"grid", "random"}, default="random"
        ``"grid"``: every grid point; ``"random"``: ``n_iter`` candidates
        drawn with ``seed``.
    n_iter : int, default=8
        Trials of a random search (ignored by the grid search).
    n_splits : int, default=3
        Folds: contiguous blocks of distinct dates (:class:`ml.training.PurgedKFold`).
    until : date-like or None, default=None
        End of the training span. Only rows with ``label_end_date <= until``
        and a non-missing ``fwd_excess_return`` are used; the rest of the
        panel is dropped before the target transform and the folds, so it
        cannot influence the result. ``None``: every labelled row.

        .. warning::

            **Look-ahead.** To tune a model that will be trained as of ``T``,
            pass ``until=T``; with ``None`` the parameters are chosen on
            labels realised up to the end of the panel.
    seed : int, default=0
        Seed of the random search (the models' seed is ``spec.seed``).
    log : callable, optional
        Called with a progress line after each trial ("trial 3 of 8 {...}: mean rank IC ...").
    parallelism : ml.parallel.Parallelism, optional
        Where the ``n_trials * n_splits`` fits run (:func:`ml.parallel.run_parallel`; default:
        one after the other in this process). The trials, scores and best set are the same
        wherever they run.

    Returns
    -------
    TuningResult

    Raises
    ------
    ValueError
        Unknown ``method``; a tuned name that is not a parameter of the model
        type (the :mod:`ml.training.models` message) or is the seed; a range with
        ``method="grid"``; no labelled row by ``until`` (the message gives the
        dates); fewer distinct dates than ``n_splits``; a fold left without
        training rows, or with a feature all-NaN in its training rows;
        non-finite predictions; no trial scorable on every fold.
    TypeError
        If ``panel`` is not a DataFrame or ``spec`` not a TrainingSpec.

    Notes
    -----
    Deterministic for deterministic models: the same inputs give the same
    trials and scores (LightGBM runs with ``deterministic=True``; random
    forests with ``n_jobs > 1`` can differ in the last bit of a prediction).
    Cost: ``n_trials * n_splits`` fits on about ``(n_splits - 1) / n_splits``
    of the rows each.
    """
    start = time.perf_counter()
    if not isinstance(spec, TrainingSpec):
        raise TypeError(f"spec must be a TrainingSpec, got {type(spec).__name__}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    n_iter = check_int("n_iter", n_iter, 1)
    n_splits = check_int("n_splits", n_splits, 2)
    seed = check_int("seed", seed, 0)
    space = _as_space(space, spec.model_type)
    candidates = space.candidates(method, n_iter, seed)
    _check_names(space, spec, candidates[0])

    span, calendar = _select_span(panel, spec, until)
    p = _prepare(span, spec)
    n_dates = np.unique(p.date).size
    if n_dates < n_splits:
        raise ValueError(
            f"too few dates for n_splits={n_splits}: the training span "
            f"({_day(p.date[0])}..{_day(p.date[-1])}, labels known by "
            f"{_day(p.label_end.max())}) has {n_dates} distinct dates"
        )
    cv = PurgedKFold(n_splits, embargo_days=spec.effective_embargo_days)
    # fits use every date_stride-th date of the panel, the dates a walk-forward on it fits
    on_stride = stride_rows(p.date, spec.date_stride, calendar)
    splits = [(train[on_stride[train]], test)
              for train, test in cv.split(p.X, groups=p.date, label_end_dates=p.train_label_end)]
    fold_rows = []
    columns: list[np.ndarray | None] = []  # per fold: the columns its training rows chose (None: all)
    for k, (train, test) in enumerate(splits):
        fold_rows.append(_fold_row(k, train, test, p.date, p.label_end))
        where = f"of tuning fold {k} (test {_day(p.date[test[0]])}..{_day(p.date[test[-1]])})"
        _check_features_present(p, train, where)
        # a walk-forward window chooses its own columns (spec.feature_selection): each fold here too
        chosen = select_features(p.X[train], p.target[train], p.features, spec.feature_selection,
                                 spec.max_features, spec.seed).columns
        columns.append(None if chosen.size == len(p.features) else chosen)
        fold_rows[-1]["features"] = [p.features[j] for j in chosen]

    # the spec's own parameters, without the machine's thread count: each fit takes the thread
    # policy of wherever it runs (ml.parallel), unless the spec sets one
    base = {k: v for k, v in spec.resolved_params().items()
            if k in spec.params or k not in _THREAD_PARAMS}
    tasks = [(spec.model_type, {**base, **params}, t, k, p.X, p.target, p.date, p.fwd_excess, train, test,
              columns[k]) for t, params in enumerate(candidates) for k, (train, test) in enumerate(splits)]
    rows: list[dict[str, Any]] = []
    for t, k, score, n_scored in run_parallel(_score_fold, tasks, parallelism):
        rows.append({"trial": t, "fold": k, "score": score, "n_dates": n_scored})
        if log is not None and k == len(splits) - 1:
            scores = [r["score"] for r in rows[-len(splits):]]
            log(f"trial {t + 1} of {len(candidates)} {canonical_json(candidates[t])}: mean rank IC "
                f"{np.mean(scores):+.4f} over {len(splits)} folds, {time.perf_counter() - start:.0f}s so far")

    trials = _trials_frame(rows, candidates, space.names, n_splits)
    means = trials.groupby("trial", sort=True)["mean_score"].first().to_numpy()
    if not np.isfinite(means).any():
        raise ValueError(
            f"no trial could be scored on every fold: each of the {len(candidates)} trials "
            "had a fold with constant predictions or fewer than 3 names per date"
        )
    best = int(np.nanargmax(means))  # first maximum: ties go to the earlier trial
    best_rows = trials[trials["trial"] == best]
    return TuningResult(
        best_params=dict(candidates[best]),
        best_score=float(means[best]),
        fold_scores=[float(s) for s in best_rows["score"]],
        trials=trials,
        folds=pd.DataFrame(fold_rows),
        method=method,
        model_type=spec.model_type,
        n_splits=n_splits,
        until=pd.Timestamp(p.label_end.max()),
        n_rows=p.n,
        elapsed_s=time.perf_counter() - start,
        spec=spec,
        space=space,
        seed=seed,
    )


def _trials_frame(
    rows: list[dict[str, Any]],
    candidates: list[dict[str, Any]],
    names: Sequence[str],
    n_splits: int,
) -> pd.DataFrame:
    """Assemble :attr:`TuningResult.trials` (rows are in trial, fold order)."""
    scores = pd.DataFrame(rows)
    trial = scores["trial"].to_numpy()
    per_trial = scores["score"].to_numpy().reshape(len(candidates), n_splits)
    out = pd.DataFrame({"trial": trial})
    out["params"] = [canonical_json(candidates[t]) for t in trial]
    for name in names:
        out[name] = _param_column([candidates[t][name] for t in trial])
    out["fold"] = scores["fold"].to_numpy()
    out["score"] = scores["score"].to_numpy()
    out["n_dates"] = scores["n_dates"].to_numpy()
    out["mean_score"] = per_trial.mean(axis=1)[trial]  # NaN if any fold is NaN
    return out
