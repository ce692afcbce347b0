"""How the reports write values for people: one function per kind of value, used by every table.

Dates are dates (``2017-11-10``, a time only when there is one), counts whole numbers with
thousands separators, fractions percentages, ratios a few decimals, money two decimals, and a
missing value ``n/a``.

Examples
--------
>>> text(pd.Timestamp("2017-11-10")), text(0.49964101999999994), text(1234567.891), text(3)
('2017-11-10', '0.4996', '1,234,567.89', '3')
>>> count(399.0), percent(0.0533), ratio(0.617), metric("blocked_days", 399.0)
('399', '5.33%', '0.62', '399')
>>> signed(0.005380312), signed(-0.000128), signed(0.0)
('+0.00538', '-0.000128', '0')
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ml.common import iso

NA = "n/a"

#: Metrics of :func:`ml.backtest.performance_summary` (and the backtest summary) that are
#: fractions, shown in percent.
PERCENT_METRICS: frozenset[str] = frozenset({
    "total_return", "cagr", "volatility", "max_drawdown", "hit_rate", "cost_drag", "turnover",
    "turnover_annual", "win_rate",
})

#: Metrics that count something (days, predictions), shown as whole numbers.
COUNT_METRICS: frozenset[str] = frozenset({"n_days", "blocked_days", "days", "n_dates", "n_predictions",
                                           "n_prob_up", "n_trials", "halted_days", "halts", "longest_halt"})

#: Metrics in days, shown with one decimal.
DAY_METRICS: frozenset[str] = frozenset({"avg_holding_days"})

#: How the performance table names its metrics.
METRIC_LABELS: dict[str, str] = {
    "total_return": "total return", "cagr": "CAGR", "volatility": "volatility (annual)",
    "sharpe": "Sharpe", "sortino": "Sortino", "max_drawdown": "max drawdown", "calmar": "Calmar",
    "hit_rate": "days up", "n_days": "days", "cost_drag": "cost drag (annual)",
    "turnover": "turnover (daily)", "turnover_annual": "turnover (annual)",
    "avg_holding_days": "average holding (days)", "blocked_days": "days blocked",
    "halted_days": "days halted (kill switch)", "halts": "kill switch halts", "longest_halt": "longest halt (days)",
}


def _number(value: object) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def missing(value: object) -> bool:
    """None, NA, NaT or NaN."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return _number(value) and math.isnan(float(value))  # type: ignore[arg-type]


def text(value: object) -> str:
    """Any cell: integers with thousands separators, floats rounded (4 decimals below 1,000, 2
    above), dates ISO (no midnight time), booleans as such, missing as ``n/a``."""
    if missing(value):
        return NA
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return f"{v:,.2f}" if abs(v) >= 1000 else f"{v:.4f}"
    if isinstance(value, (pd.Timestamp, dt.date, np.datetime64)):
        return str(iso(value))
    return str(value)


def count(value: object) -> str:
    """A whole number with thousands separators (``399.0`` -> ``399``); anything else as :func:`text`."""
    if _number(value) and not missing(value) and math.isfinite(float(value)) \
            and float(value).is_integer():  # type: ignore[arg-type]
        return f"{int(value):,}"  # type: ignore[call-overload]
    return text(value)


def percent(value: object, decimals: int = 2) -> str:
    """A fraction as a percentage (0.05 -> ``5.00%``), never ``-0.00%``; anything else as :func:`text`."""
    if _number(value) and not missing(value) and math.isfinite(float(value)):  # type: ignore[arg-type]
        v = float(value)  # type: ignore[arg-type]
        return f"{v + 0.0:,.{decimals}%}" if abs(v) >= 0.5 * 10 ** -(decimals + 2) else f"{0:.{decimals}%}"
    return text(value)


def ratio(value: object, decimals: int = 2) -> str:
    """A ratio such as a Sharpe ratio, to ``decimals`` decimals; anything else as :func:`text`."""
    if _number(value) and not missing(value) and math.isfinite(float(value)):  # type: ignore[arg-type]
        return f"{float(value) + 0.0:,.{decimals}f}"  # type: ignore[arg-type]
    return text(value)


def signed(value: object, digits: int = 3) -> str:
    """A signed quantity such as a feature's contribution to a prediction, with its sign and
    ``digits`` significant digits (small values keep their digits); anything else as :func:`text`."""
    if _number(value) and not missing(value) and math.isfinite(float(value)):  # type: ignore[arg-type]
        v = float(value) + 0.0  # type: ignore[arg-type]
        return "0" if v == 0 else f"{v:+.{digits}g}"
    return text(value)


def money(value: object) -> str:
    """An amount with two decimals and thousands separators."""
    return ratio(value, 2)


def metric(name: str, value: object) -> str:
    """A performance metric by its kind: percent, count, days or ratio (see the sets above)."""
    if name in PERCENT_METRICS:
        return percent(value)
    if name in COUNT_METRICS:
        return count(value)
    if name in DAY_METRICS:
        return ratio(value, 1)
    if _number(value):
        return ratio(value) if abs(float(value)) < 1000 else text(value)  # type: ignore[arg-type]
    return text(value)


def label(name: str) -> str:
    """How a table names a metric (``max_drawdown`` -> ``max drawdown``)."""
    return METRIC_LABELS.get(name, name.replace("_", " "))


# --------------------------------------------------------------------------- CV metrics
#: The walk-forward CV summary (``cv_metrics`` of the registry): the IC and rank IC rows.
CV_ROWS: tuple[tuple[str, str], ...] = (("IC", "ic"), ("rank IC", "rank_ic"))
CV_STATS: tuple[tuple[str, str], ...] = (("mean", ""), ("std", "_std"), ("IR", "ir"), ("t-stat", "_t_stat"),
                                         ("days positive", "_hit_rate"))
CV_OTHER_LABELS: dict[str, str] = {
    "n_dates": "dates scored", "n_predictions": "predictions",
    "spread_top_bottom": "top-minus-bottom decile spread (mean per date)",
    "n_prob_up": "predictions with prob_up", "prob_up_brier": "prob_up Brier score",
    "prob_up_ece": "prob_up calibration error (ECE)",
}


def _cv_key(prefix: str, suffix: str) -> str:
    if suffix == "ir":
        return "icir" if prefix == "ic" else "rank_icir"
    return prefix + suffix


def cv_metrics(metrics: Mapping[str, Any] | str | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The CV summary as two small tables of text: IC and rank IC by statistic (mean, std, IR,
    t-stat, share of days positive), and the other figures (counts, spread, prob_up scores and
    any key not known here), each formatted for its kind. A JSON string is parsed first."""
    if isinstance(metrics, str):
        metrics = json.loads(metrics) if metrics.strip() else {}
    metrics = dict(metrics or {})
    used: set[str] = set()
    rows = []
    for name, prefix in CV_ROWS:
        keys = [_cv_key(prefix, suffix) for _, suffix in CV_STATS]
        if not any(k in metrics for k in keys):
            continue
        used.update(keys)
        values = [metrics.get(k) for k in keys]
        rows.append([name, ratio(values[0], 4), ratio(values[1], 4), ratio(values[2], 3), ratio(values[3], 2),
                     percent(values[4], 1)])
    ic = pd.DataFrame(rows, columns=["", *(stat for stat, _ in CV_STATS)])
    other = []
    for key, value in metrics.items():
        if key in used:
            continue
        shown = (count(value) if key.startswith("n_") else percent(value) if key == "spread_top_bottom"
                 else ratio(value, 4) if _number(value) else text(value))
        other.append([CV_OTHER_LABELS.get(key, key.replace("_", " ")), shown])
    return ic, pd.DataFrame(other, columns=["figure", "value"])
