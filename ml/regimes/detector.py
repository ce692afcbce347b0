"""Market-regime detection with a Gaussian hidden Markov model.

The detector fits :class:`hmmlearn.hmm.GaussianHMM` to a date-indexed frame of
regime features (``marts.fct_regime_features``), names the hidden states by how
risky they are, and reports **filtered** state probabilities: the probability for
date ``t`` is computed by a forward pass over observations up to and including
``t`` only (DESIGN.md point-in-time rules 6 and 7).

Look-ahead risks and where they are handled
-------------------------------------------
* hmmlearn's ``predict`` / ``predict_proba`` / ``decode`` use the whole sequence
  (Viterbi or forward-backward): the value at ``t`` depends on later rows. They
  are never used for outputs here; :func:`_forward_filter` is.
* Standardization uses the mean and standard deviation of the training span only
  and is stored with the model.
* :func:`walk_forward_regimes` refits on an expanding window at calendar
  boundaries anchored at the first usable date, and a date is labelled by the
  model fitted on data strictly before the boundary in force at that date.

Typical use
-----------
>>> feats = prepare_regime_features(mart_frame)            # doctest: +SKIP
>>> history = walk_forward_regimes(feats)                  # doctest: +SKIP
>>> det = RegimeDetector(random_state=0).fit(feats)        # doctest: +SKIP
>>> det.predict_regime_probabilities(feats).tail(1)        # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from hmmlearn.hmm import GaussianHMM
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError

from ml.common import check_int
from ml.regimes.features import DEFAULT_FEATURES
from ml.regimes.filtering import (
    _COVARIANCE_TYPES,
    MIN_ROWS_PER_STATE,
    _as_float_matrix,
    _check_columns,
    _check_date_index,
    _check_finite,
    _em_converged,
    _forward_filter,
    _n_free_parameters,
    _permute_covars,
    _risk_sorted_start,
    _single_threaded,
    regime_labels,
)
from ml.regimes.persistence import _RegimePersistence
from ml.regimes.summaries import _RegimeSummaries

_FALLBACK_RISK_FEATURE = "vix"


_DEFAULT_RISK_FEATURE = "gspc_vol_20d"


# Part of the model_id: bump when the fitting algorithm changes so ids never collide.
_ALGORITHM_ID = "regime-gaussian-hmm-v1"


# --------------------------------------------------------------------------- detector
class RegimeDetector(_RegimeSummaries, _RegimePersistence, BaseEstimator):
    """Gaussian-HMM market-regime detector with filtered (causal) probabilities.

    Parameters
    ----------
    n_states : int, default=3
        Number of hidden states, at least 2. States are labelled by
        :func:`regime_labels`: ``risk_on``, ``neutral``, ``risk_off`` for 3 states.
    features : sequence of str, optional
        Feature columns to use, in this order. ``None`` means :data:`DEFAULT_FEATURES`.
    risk_feature : str, default="gspc_vol_20d"
        Feature whose state means order the states: the state with the lowest mean
        is ``risk_on``, the highest ``risk_off``, the ones between ``neutral``
        (``neutral_1``, ``neutral_2``, ... in increasing order when ``n_states > 3``).
        Ordering by a feature rather than by hmmlearn's arbitrary state numbers keeps
        labels stable across refits. If it is left at the default and
        ``gspc_vol_20d`` is not among ``features`` but ``vix`` is, ``vix`` is used;
        otherwise a missing risk feature raises. The feature actually used is
        ``risk_feature_``.
    n_restarts : int, default=5
        EM runs; the one with the highest training log-likelihood is kept (ties: the
        earlier run). Run 0 starts from the risk-sorted point of
        :func:`_risk_sorted_start` (deterministic); run ``i >= 1`` from hmmlearn's
        initialisation seeded with ``random_state + i``.
    n_iter : int, default=200
        Maximum EM iterations per restart.
    tol : float, default=1e-4
        EM stops when the log-likelihood gain of one iteration is below ``tol``.
    covariance_type : {"full", "diag", "spherical", "tied"}, default="full"
        Passed to :class:`hmmlearn.hmm.GaussianHMM`.
    random_state : int, default=0
        Base seed; run ``i >= 1`` uses ``random_state + i`` (run 0 is deterministic).
        No global RNG is touched.

    Attributes
    ----------
    features_ : list of str
        Feature columns used, in order.
    risk_feature_ : str
        The feature that ordered the states.
    labels_ : list of str
        State labels, least risky first; every state-indexed output uses this order.
    mean_, scale_ : ndarray of shape (n_features,)
        Training-span mean and (population) standard deviation used to standardize.
    hmm_ : hmmlearn.hmm.GaussianHMM
        The best fitted model, with its states permuted into label order (so
        ``hmm_.means_[j]`` belongs to ``labels_[j]``). Its ``predict_proba`` smooths
        over the whole sequence and must not be used for point-in-time outputs.
    state_order_ : ndarray of shape (n_states,)
        ``state_order_[j]`` is the state number hmmlearn gave to ``labels_[j]``.
    train_start_, train_end_ : pandas.Timestamp
        First and last training date.
    n_train_ : int
        Number of training rows.
    model_id_ : str
        See :attr:`model_id`.

    Notes
    -----
    ``fit`` needs at least ``50 * n_states`` rows (:data:`MIN_ROWS_PER_STATE`): fewer
    leave a full-covariance state with too few points to estimate.

    Examples
    --------
    >>> det = RegimeDetector(features=["vix", "gspc_vol_20d"], random_state=7)  # doctest: +SKIP
    >>> det.fit(train).predict_regime(recent)                                  # doctest: +SKIP
    """

    def __init__(
        self,
        n_states: int = 3,
        features: Sequence[str] | None = None,
        risk_feature: str = _DEFAULT_RISK_FEATURE,
        n_restarts: int = 5,
        n_iter: int = 200,
        tol: float = 1e-4,
        covariance_type: str = "full",
        random_state: int = 0,
    ) -> None:
        self.n_states = n_states
        self.features = features
        self.risk_feature = risk_feature
        self.n_restarts = n_restarts
        self.n_iter = n_iter
        self.tol = tol
        self.covariance_type = covariance_type
        self.random_state = random_state

    # ----------------------------------------------------------------- validation

    def _validate_params(self) -> None:
        regime_labels(self.n_states)  # raises for a bad n_states
        features = self._feature_list()
        if not features:
            raise ValueError("features must name at least one column, got an empty list")
        duplicates = sorted({f for f in features if features.count(f) > 1})
        if duplicates:
            raise ValueError(f"features lists column(s) more than once: {duplicates}")
        if self.covariance_type not in _COVARIANCE_TYPES:
            raise ValueError(
                f"covariance_type must be one of {_COVARIANCE_TYPES}, got {self.covariance_type!r}"
            )
        for name in ("n_restarts", "n_iter"):
            value = getattr(self, name)
            check_int(name, value, 1)
        if not (isinstance(self.tol, (int, float)) and np.isfinite(self.tol) and self.tol > 0):
            raise ValueError(f"tol must be a positive finite number, got {self.tol!r}")
        if isinstance(self.random_state, bool) or not isinstance(
            self.random_state, (int, np.integer)
        ):
            raise ValueError(
                f"random_state must be an integer seed (restart i uses random_state + i), "
                f"got {self.random_state!r}"
            )

    def _feature_list(self) -> list[str]:
        if self.features is None:
            return list(DEFAULT_FEATURES)
        if isinstance(self.features, str):
            raise ValueError(
                f"features must be a sequence of column names, got the string {self.features!r}"
            )
        return [str(f) for f in self.features]

    def _resolve_risk_feature(self, features: list[str]) -> str:
        if self.risk_feature in features:
            return self.risk_feature
        if self.risk_feature == _DEFAULT_RISK_FEATURE and _FALLBACK_RISK_FEATURE in features:
            return _FALLBACK_RISK_FEATURE
        raise ValueError(
            f"risk_feature={self.risk_feature!r} is not among the features {features}; "
            "it orders the states, so it must be one of them"
        )

    @property
    def min_train_rows(self) -> int:
        """Fewest training rows :meth:`fit` accepts: ``50 * n_states``."""
        return MIN_ROWS_PER_STATE * int(self.n_states)

    def _check_fitted(self) -> None:
        if not hasattr(self, "hmm_"):
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet; call fit() or load() first"
            )

    # ----------------------------------------------------------------- fitting

    def fit(self, X: pd.DataFrame, y: None = None) -> RegimeDetector:
        """Fit the HMM on every row of ``X`` (the training span).

        Parameters
        ----------
        X : DataFrame
            One row per trading date, a sorted unique DatetimeIndex, and at least the
            feature columns. Every used value must be finite: drop warm-up rows and
            forward-fill short gaps beforehand (:func:`prepare_regime_features`).
        y : None
            Ignored; present for scikit-learn compatibility.

        Returns
        -------
        RegimeDetector
            ``self``.

        Raises
        ------
        ValueError
            Unknown or non-numeric feature, NaN/inf in a used feature, a feature that is
            constant over ``X``, fewer than ``50 * n_states`` rows, or every EM restart
            failing.
        """
        self._validate_params()
        features = self._feature_list()
        risk_feature = self._resolve_risk_feature(features)
        _check_date_index(X, "X")
        _check_columns(X, features, "X")
        n_rows = len(X)
        if n_rows < self.min_train_rows:
            raise ValueError(
                f"too few rows to fit {self.n_states} states: got {n_rows}, need at least "
                f"{self.min_train_rows} ({MIN_ROWS_PER_STATE} per state)"
            )
        values = _as_float_matrix(X, features)
        _check_finite(values, X.index, features, "X")
        mean = values.mean(axis=0)
        scale = values.std(axis=0)
        # Exactly constant, or constant but for rounding in the mean (std ~1e-17).
        constant = np.flatnonzero(
            (values.max(axis=0) == values.min(axis=0))
            | (scale <= 1e-12 * np.maximum(np.abs(mean), 1.0))
        )
        if constant.size:
            details = [f"{features[j]!r} = {values[0, j]}" for j in constant]
            raise ValueError(
                f"feature column(s) constant over the training span "
                f"{X.index[0].date()}..{X.index[-1].date()}: {', '.join(details)} on every "
                f"date (e.g. {X.index[0].date()}); a constant feature cannot be standardized"
            )
        standardized = (values - mean) / scale

        best: GaussianHMM | None = None
        best_ll = -np.inf
        restart_ll: list[float | None] = []
        failures: list[str] = []
        risk_col = features.index(risk_feature)
        informed = _risk_sorted_start(standardized, risk_col, int(self.n_states))
        with _single_threaded():
            for i in range(int(self.n_restarts)):
                seed = int(self.random_state) + i
                model, log_lik, failure = self._fit_one_restart(
                    standardized, seed, informed if i == 0 else None
                )
                restart_ll.append(log_lik)
                if failure is not None:
                    failures.append(failure)
                elif log_lik > best_ll:  # ties keep the earlier seed
                    best, best_ll = model, log_lik
        if best is None:
            raise ValueError(
                f"every EM restart failed on {n_rows} rows "
                f"({X.index[0].date()}..{X.index[-1].date()}): {'; '.join(failures)}"
            )

        order = np.argsort(best.means_[:, risk_col], kind="stable")
        ordered = GaussianHMM(
            n_components=int(self.n_states),
            covariance_type=self.covariance_type,
            n_iter=int(self.n_iter),
            tol=float(self.tol),
            random_state=int(self.random_state),
        )
        ordered.n_features = len(features)
        ordered.startprob_ = best.startprob_[order].copy()
        ordered.transmat_ = best.transmat_[np.ix_(order, order)].copy()
        ordered.means_ = best.means_[order].copy()
        ordered.covars_ = _permute_covars(best._covars_, order, self.covariance_type)
        ordered.monitor_ = best.monitor_

        n_params = _n_free_parameters(int(self.n_states), len(features), self.covariance_type)
        self.features_ = features
        self.risk_feature_ = risk_feature
        self.labels_ = regime_labels(int(self.n_states))
        self.mean_ = mean
        self.scale_ = scale
        self.hmm_ = ordered
        self.state_order_ = order
        self.train_start_ = X.index[0]
        self.train_end_ = X.index[-1]
        self.n_train_ = n_rows
        self.diagnostics_ = {
            "converged": _em_converged(best),
            "n_iter": int(best.monitor_.iter),
            "log_likelihood": best_ll,
            "persistence": float(np.mean(np.diag(ordered.transmat_))),
            "aic": -2.0 * best_ll + 2.0 * n_params,
            "bic": -2.0 * best_ll + n_params * float(np.log(n_rows)),
            "n_params": n_params,
            "n_train": n_rows,
            "restart_log_likelihoods": restart_ll,
            "failed_restarts": failures,
        }
        self.model_id_ = self._content_hash(X.index, values)
        return self

    def _fit_one_restart(
        self, standardized: np.ndarray, seed: int, start: tuple[np.ndarray, ...] | None
    ) -> tuple[GaussianHMM | None, float | None, str | None]:
        """One EM run: (model, training log-likelihood, None) or (None, None, reason).

        ``start`` is (startprob, transmat, means) to begin from; ``None`` uses
        hmmlearn's seeded initialisation (k-means means, random transitions).
        """
        model = GaussianHMM(
            n_components=int(self.n_states),
            covariance_type=self.covariance_type,
            n_iter=int(self.n_iter),
            tol=float(self.tol),
            random_state=seed,
            init_params="stmc" if start is None else "c",
        )
        if start is not None:
            model.startprob_, model.transmat_, model.means_ = (a.copy() for a in start)
        try:
            model.fit(standardized)
            log_lik = float(model.score(standardized))
        except (ValueError, np.linalg.LinAlgError) as exc:
            return None, None, f"seed {seed}: {exc}"
        arrays = (model.startprob_, model.transmat_, model.means_, model._covars_)
        if not (np.isfinite(log_lik) and all(np.isfinite(a).all() for a in arrays)):
            return None, None, f"seed {seed}: non-finite parameters or log-likelihood {log_lik}"
        return model, log_lik, None

    def _content_hash(self, index: pd.DatetimeIndex, values: np.ndarray) -> str:
        config = json.dumps(
            {"algorithm": _ALGORITHM_ID, **self._config_dict()}, sort_keys=True
        ).encode()
        digest = hashlib.sha256()
        digest.update(config)
        digest.update(np.ascontiguousarray(index.as_unit("ns").asi8, dtype="<i8").tobytes())
        digest.update(np.ascontiguousarray(values, dtype="<f8").tobytes())
        return digest.hexdigest()[:16]

    def _config_dict(self) -> dict[str, Any]:
        return {
            "n_states": int(self.n_states),
            "features": self._feature_list(),
            "risk_feature": str(self.risk_feature),
            "n_restarts": int(self.n_restarts),
            "n_iter": int(self.n_iter),
            "tol": float(self.tol),
            "covariance_type": str(self.covariance_type),
            "random_state": int(self.random_state),
        }

    def training_id(self, X: pd.DataFrame) -> str:
        """The ``model_id`` that :meth:`fit` on ``X`` would give, without fitting: the same
        content hash of the config and the training rows. Lets a caller reuse a saved model
        fitted on exactly these rows with these parameters."""
        self._validate_params()
        features = self._feature_list()
        self._resolve_risk_feature(features)
        _check_date_index(X, "X")
        _check_columns(X, features, "X")
        return self._content_hash(X.index, _as_float_matrix(X, features))

    @property
    def model_id(self) -> str:
        """Content hash (16 hex chars of sha256) of the config and the training rows.

        The same parameters and the same training dates and feature values give the
        same id, whichever process fits them.
        """
        self._check_fitted()
        return self.model_id_

    # ----------------------------------------------------------------- filtering

    def _standardize(self, X: pd.DataFrame) -> np.ndarray:
        _check_date_index(X, "X")
        _check_columns(X, self.features_, "X")
        values = _as_float_matrix(X, self.features_)
        _check_finite(values, X.index, self.features_, "X")
        return (values - self.mean_) / self.scale_

    def _log_prior(self, initial_distribution: Any | None) -> np.ndarray:
        if initial_distribution is None:
            with np.errstate(divide="ignore"):
                return np.log(self.hmm_.startprob_)
        if isinstance(initial_distribution, pd.Series):
            unknown = sorted(set(initial_distribution.index) - set(self.labels_))
            if unknown:
                raise ValueError(
                    f"initial_distribution has unknown label(s) {unknown}; labels: {self.labels_}"
                )
            initial = initial_distribution.reindex(self.labels_).to_numpy(dtype=np.float64)
        else:
            initial = np.asarray(initial_distribution, dtype=np.float64)
        if (
            initial.shape != (len(self.labels_),)
            or not np.isfinite(initial).all()
            or (initial < 0).any()
            or abs(initial.sum() - 1.0) > 1e-8
        ):
            raise ValueError(
                f"initial_distribution must be {len(self.labels_)} non-negative probabilities "
                f"summing to 1 in label order {self.labels_}, got {initial.tolist()}"
            )
        with np.errstate(divide="ignore"):
            return np.log(initial @ self.hmm_.transmat_)

    def _log_filtered(
        self, X: pd.DataFrame, initial_distribution: Any | None = None
    ) -> np.ndarray:
        self._check_fitted()
        standardized = self._standardize(X)
        with _single_threaded():
            log_emission = self.hmm_._compute_log_likelihood(standardized)
        log_filtered, _ = _forward_filter(
            log_emission, self._log_prior(initial_distribution), self.hmm_.transmat_, X.index
        )
        return log_filtered

    def predict_regime_probabilities(
        self, X: pd.DataFrame, initial_distribution: Any | None = None
    ) -> pd.DataFrame:
        """Filtered state probabilities ``p(state_t | rows up to t)`` for every row.

        Parameters
        ----------
        X : DataFrame
            Sorted, date-indexed rows with the feature columns, all finite. The forward
            pass starts at its first row.
        initial_distribution : array-like or Series, optional
            Filtered distribution on the date *before* ``X``'s first row, in label order
            (e.g. the last row of an earlier call), to continue filtering from there.
            ``None`` starts from the fitted initial distribution ``hmm_.startprob_``,
            which is right when ``X`` starts where the training data started; for an
            ``X`` that starts elsewhere with no earlier filtered state,
            :attr:`stationary_distribution` is a neutral choice.

        Returns
        -------
        DataFrame
            Index ``X.index``, columns ``prob_<label>`` in label order
            (``prob_risk_on``, ``prob_neutral``, ``prob_risk_off`` for 3 states); each
            row sums to 1. Row ``t`` does not depend on any row after ``t``.
        """
        probabilities = np.exp(self._log_filtered(X, initial_distribution))
        return pd.DataFrame(
            probabilities, index=X.index, columns=[f"prob_{label}" for label in self.labels_]
        )

    def predict_regime(
        self, X: pd.DataFrame, initial_distribution: Any | None = None
    ) -> pd.Series:
        """Most probable regime label per row, from the filtered probabilities.

        Parameters
        ----------
        X : DataFrame
            As in :meth:`predict_regime_probabilities`.
        initial_distribution : array-like or Series, optional
            As in :meth:`predict_regime_probabilities`.

        Returns
        -------
        Series
            Index ``X.index``, name ``"regime"``, values from ``labels_``.
        """
        log_filtered = self._log_filtered(X, initial_distribution)
        labels = np.asarray(self.labels_, dtype=object)[np.argmax(log_filtered, axis=1)]
        return pd.Series(labels, index=X.index, name="regime", dtype="str")

    def prediction_metadata(
        self, X: pd.DataFrame, timestamp: datetime | None = None
    ) -> dict[str, Any]:
        """Describe the filtered regime call for the last row of ``X``.

        Parameters
        ----------
        X : DataFrame
            Rows up to the date of interest (the forward pass runs over all of them).
        timestamp : datetime, optional
            When the prediction is made; defaults to the current UTC time.

        Returns
        -------
        dict
            ``date`` (ISO), ``regime``, ``confidence`` (largest probability),
            ``probabilities`` (label -> probability), ``features`` (feature -> input
            value on that date), ``model_version`` (:attr:`model_id`), ``timestamp``
            (ISO). Values are plain Python types, ready for JSON.
        """
        if len(X) == 0:
            raise ValueError("X has no rows; prediction_metadata describes its last row")
        probabilities = np.exp(self._log_filtered(X)[-1])
        best = int(np.argmax(probabilities))
        when = timestamp if timestamp is not None else datetime.now(UTC)
        last = X.iloc[-1]
        return {
            "date": X.index[-1].isoformat(),
            "regime": self.labels_[best],
            "confidence": float(probabilities[best]),
            "probabilities": {
                label: float(p) for label, p in zip(self.labels_, probabilities, strict=True)
            },
            "features": {name: float(last[name]) for name in self.features_},
            "model_version": self.model_id_,
            "timestamp": when.isoformat(),
        }
