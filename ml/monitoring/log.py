"""Model health as labels mature: IC history, quantile returns, drift checks.

A prediction made on date ``t`` for a ``k``-day horizon can only be scored
once its label is known, on ``label_end_date`` (``t + k`` trading days). The
functions here are **point in time**: those that take predictions also take an
``as_of`` date and use only the rows with ``label_end_date <= as_of``. A row
whose label ends after ``as_of`` (or whose ``label_end_date`` is missing) is
ignored entirely -- its date, prediction and label cannot change any output --
so a monitoring run for a past date reproduces what was knowable on that date,
whatever the table holds today.

* :func:`ic_history` -- daily IC and rank IC (via :func:`ml.metrics.daily_ic`)
  with rolling means;
* :func:`quintile_returns` -- mean realised return by prediction quantile and
  the top-minus-bottom spread (:func:`ml.metrics.quantile_spread`);
* :func:`model_drift` -- "review the model" when the rolling IC has spent too
  much of the recent past below a threshold;
* :func:`psi` and :func:`feature_drift` -- population stability index of the
  features scored today against the training sample;
* :func:`monitoring_log` -- a JSON-ready record of the above for
  ``monitoring_log.json``.

Expected columns of ``preds``: ``date``, ``ticker``, the prediction (``yhat``),
the label (``fwd_excess_return`` / ``fwd_return``) and ``label_end_date``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from ml.common import iso, jsonable
from ml.monitoring.features import DRIFT_STATUSES
from ml.monitoring.performance import _IC_COLUMNS, _as_of, _check_columns

_TOP_FEATURES = 10


# --------------------------------------------------------------------------- #
# log record
# --------------------------------------------------------------------------- #
def monitoring_log(
    as_of: Any,
    ic: pd.DataFrame,
    drift: Mapping[str, Any],
    features: pd.DataFrame,
) -> dict[str, Any]:
    """A JSON-serialisable record of one monitoring run (``monitoring_log.json``).

    Parameters
    ----------
    as_of : date-like
        Date of the run.
    ic : DataFrame
        From :func:`ic_history` with the same ``as_of``; its dates must not be
        later than ``as_of`` (raises otherwise: a frame from the future).
    drift : dict
        From :func:`model_drift`.
    features : DataFrame
        From :func:`feature_drift`.

    Returns
    -------
    dict
        Plain ``str``/``int``/``float``/``bool``/``None``/``list``/``dict``
        only -- dates as ISO strings, NaN and inf as ``None`` -- so
        ``json.dumps(..., allow_nan=False)`` succeeds::

            {"as_of": "2024-06-28",
             "ic": {"date", "ic", "rank_ic", "n", "rolling_ic", "rolling_rank_ic",
                    "n_dates"},            # latest scored date; None values if none
             "model_drift": {...},         # the drift dict as given
             "feature_drift": {"counts": {"ok", "warn", "alert", "unknown"},
                               "top": [{"feature", "psi", "status", "n_train",
                                        "n_today"}, ...]}}   # up to 10, highest PSI first

    Raises
    ------
    ValueError
        If ``ic`` lacks the :func:`ic_history` columns or has dates after
        ``as_of``, or ``features`` lacks the :func:`feature_drift` columns.
    """
    cutoff = _as_of(as_of)
    _check_columns(ic, list(_IC_COLUMNS), "ic")
    _check_columns(features, ["psi", "status", "n_train", "n_today"], "features")
    if len(ic):
        dates = pd.DatetimeIndex(pd.to_datetime(ic.index))
        late = dates[dates > cutoff]
        if len(late):
            raise ValueError(
                f"ic has dates after as_of={iso(cutoff)}: {[iso(d) for d in late[:5]]}; "
                "build it with ic_history(preds, as_of)"
            )
        last = int(dates.argmax())  # per column, so the count stays an integer
        latest: dict[str, Any] = {"date": dates.max(), **{c: ic[c].iloc[last] for c in _IC_COLUMNS}}
    else:
        latest = {"date": None, **{c: None for c in _IC_COLUMNS}}
    latest["n_dates"] = len(ic)
    counts = {s: 0 for s in DRIFT_STATUSES}
    for status, count in features["status"].value_counts().items():
        counts[str(status)] = int(count)
    ranked = features[features["psi"].notna()].sort_values("psi", ascending=False, kind="stable")
    top = [
        {"feature": name, **{c: row[c] for c in ("psi", "status", "n_train", "n_today")}}
        for name, row in ranked.head(_TOP_FEATURES).iterrows()
    ]
    return jsonable({
        "as_of": cutoff,
        "ic": latest,
        "model_drift": dict(drift),
        "feature_drift": {"counts": counts, "top": top},
    })
