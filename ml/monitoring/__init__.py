"""Monitoring: model performance over time, feature drift, and the day's monitoring log.

Modules by job: ``performance`` (IC history, quintile returns, the drift rule), ``features``
(feature PSI) and ``log`` (:func:`monitoring_log`).
"""

from ml.monitoring.features import DRIFT_STATUSES, feature_drift, psi
from ml.monitoring.log import monitoring_log
from ml.monitoring.performance import ic_history, model_drift, quintile_returns

__all__ = [
    "DRIFT_STATUSES",
    "feature_drift",
    "ic_history",
    "model_drift",
    "monitoring_log",
    "psi",
    "quintile_returns",
]
