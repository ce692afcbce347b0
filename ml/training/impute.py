"""Median imputation of missing features, fitted on the training rows (the ``impute`` step of
the :mod:`ml.training.models` pipelines).

It does what ``sklearn.impute.SimpleImputer(strategy="median", keep_empty_features=True)``
does, with ``np.nanmedian`` (a partition per column) instead of scikit-learn's masked-array
median (a full sort through ``numpy.ma``): on 13 folds of ~150k rows x 43 features that sort
took 9.5 s of a 15 s ridge walk-forward.

Examples
--------
>>> X = np.array([[1.0, np.nan], [np.nan, np.nan], [3.0, np.nan]])
>>> imputer = MedianImputer().fit(X)
>>> imputer.statistics_.tolist()
[2.0, 0.0]
>>> imputer.transform(np.array([[np.nan, 5.0]])).tolist()
[[2.0, 5.0]]
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

__all__ = ["MedianImputer"]


class MedianImputer(TransformerMixin, BaseEstimator):
    """Missing values (NaN) -> the column's median over the rows fitted on; 0 for a column with
    no value there, so the columns stay aligned with the feature list.

    Attributes
    ----------
    statistics_ : ndarray of shape (n_features,)
        The fill value of each column.
    """

    def fit(self, X: Any, y: Any = None) -> MedianImputer:
        X = validate_data(self, X, dtype=np.float64, ensure_all_finite="allow-nan")
        filled = ~np.isnan(X).all(axis=0)
        statistics = np.zeros(X.shape[1])
        statistics[filled] = np.nanmedian(X[:, filled], axis=0)
        self.statistics_ = statistics
        return self

    def transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, ensure_all_finite="allow-nan", reset=False)
        return np.where(np.isnan(X), self.statistics_, X)
