"""Model summaries of a fitted :class:`~ml.regimes.RegimeDetector`, and choosing the state count.

Transition matrix, stationary distribution, expected durations, state characteristics, feature
importance and fit diagnostics (read-only views of the fitted model), and
:meth:`~ml.regimes.RegimeDetector.select_n_states` (information criteria over state counts).
Mixed into :class:`~ml.regimes.RegimeDetector`; not used on its own.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd


class _RegimeSummaries:
    """Summaries and model selection of :class:`~ml.regimes.RegimeDetector` (a mixin)."""

    # ----------------------------------------------------------------- model summaries

    @property
    def transition_matrix(self) -> pd.DataFrame:
        """Transition probabilities, rows = state at ``t-1``, columns = state at ``t``."""
        self._check_fitted()
        return pd.DataFrame(
            self.hmm_.transmat_.copy(),
            index=pd.Index(self.labels_, name="from"),
            columns=pd.Index(self.labels_, name="to"),
        )

    @property
    def stationary_distribution(self) -> pd.Series:
        """Long-run share of time in each state (left eigenvector of the transition matrix)."""
        self._check_fitted()
        return pd.Series(
            np.real(self.hmm_.get_stationary_distribution()),
            index=self.labels_,
            name="stationary_probability",
        )

    @property
    def expected_durations(self) -> pd.Series:
        """Expected stay in each state in trading days, ``1 / (1 - p_ii)`` (inf if absorbing)."""
        self._check_fitted()
        with np.errstate(divide="ignore"):
            durations = 1.0 / (1.0 - np.diag(self.hmm_.transmat_))
        return pd.Series(durations, index=self.labels_, name="expected_duration_days")

    def state_characteristics(self) -> pd.DataFrame:
        """State means of every feature in original units (index labels, columns features)."""
        self._check_fitted()
        means = self.hmm_.means_ * self.scale_ + self.mean_
        return pd.DataFrame(
            means, index=pd.Index(self.labels_, name="regime"), columns=list(self.features_)
        )

    def feature_importance(self) -> pd.Series:
        """How strongly each feature separates the states.

        Returns
        -------
        Series
            Per feature (in ``features_`` order), the variance across states of its
            standardized state means, normalized to sum to 1.
        """
        self._check_fitted()
        spread = self.hmm_.means_.var(axis=0)
        total = spread.sum()
        if not total > 0:
            raise ValueError(
                "all state means are identical in every feature; feature importance is undefined"
            )
        return pd.Series(spread / total, index=list(self.features_), name="importance")

    def diagnostics(self) -> dict[str, Any]:
        """Fit diagnostics of the kept restart.

        Returns
        -------
        dict
            ``converged`` (last EM gain below ``tol``; stricter than hmmlearn's flag,
            which is also True on hitting ``n_iter``), ``n_iter`` (EM iterations run),
            ``log_likelihood`` (training, standardized units), ``persistence`` (mean of
            the transition-matrix diagonal), ``aic``, ``bic``, ``n_params``,
            ``n_train``, ``restart_log_likelihoods`` (None for a failed restart) and
            ``failed_restarts`` (messages).
        """
        self._check_fitted()
        return json.loads(json.dumps(self.diagnostics_))

    @classmethod
    def select_n_states(
        cls,
        X: pd.DataFrame,
        candidates: Sequence[int] = (2, 3, 4, 5),
        **params: Any,
    ) -> pd.DataFrame:
        """Fit one detector per candidate state count and compare information criteria.

        Parameters
        ----------
        X : DataFrame
            Training rows, as for :meth:`fit`.
        candidates : sequence of int, default=(2, 3, 4, 5)
            State counts to try.
        **params
            Other :class:`RegimeDetector` parameters (not ``n_states``).

        Returns
        -------
        DataFrame
            Indexed by ``n_states``; columns ``log_likelihood``, ``n_params``, ``aic``,
            ``bic``, ``converged``. Lower AIC/BIC is better; BIC penalizes states harder.
        """
        if "n_states" in params:
            raise ValueError("pass the state counts as candidates, not n_states")
        rows = []
        for n_states in candidates:
            diag = cls(n_states=n_states, **params).fit(X).diagnostics()
            rows.append(
                {
                    "n_states": int(n_states),
                    "log_likelihood": diag["log_likelihood"],
                    "n_params": diag["n_params"],
                    "aic": diag["aic"],
                    "bic": diag["bic"],
                    "converged": diag["converged"],
                }
            )
        return pd.DataFrame(rows).set_index("n_states")
