"""Performance statistics of a daily return series.

Used by the backtest summary and by model comparison. Everything works on a
date-indexed series of **simple** daily returns of the book (``0.01`` = +1 %):

* :func:`performance_summary` -- total return, CAGR, volatility, Sharpe,
  Sortino, maximum drawdown, Calmar, hit rate, and optionally cost drag,
  turnover and average holding period;
* :func:`equity_curve` and :func:`drawdown` -- the compounded curve and its
  distance below the running peak;
* :func:`regime_breakdown` -- the same headline numbers per market regime.

Conventions
-----------
* Annualisation uses ``periods_per_year`` (default :data:`TRADING_DAYS` = 252)
  and a risk-free rate of 0.
* The series is put in date order before compounding (the index *is* the
  time axis); duplicated dates, NaN, infinite values and returns below -100 %
  raise, naming the dates. A missing day is an error, never a zero return.
* A statistic that is undefined for the data at hand (a Sharpe ratio of a
  series with zero volatility or a single day, a Calmar ratio without a
  drawdown) is NaN -- never an exception, never +-inf -- so a one-day backtest
  still gets a summary.
"""

from __future__ import annotations

import math
from collections.abc import Hashable

import numpy as np
import pandas as pd

from ml.metrics import hit_rate as _sign_hit_rate

__all__ = [
    "REGIME_ORDER",
    "TRADING_DAYS",
    "drawdown",
    "equity_curve",
    "performance_summary",
    "regime_breakdown",
]

TRADING_DAYS = 252
#: Rows of :func:`regime_breakdown` come in this order, then other labels, then ``"unknown"``.
REGIME_ORDER: tuple[str, ...] = ("risk_on", "neutral", "risk_off")
_UNKNOWN_REGIME = "unknown"
_MAX_LISTED = 5  # dates quoted in an error message


# --------------------------------------------------------------------------- #
# helpers
# --------------------------------------------------------------------------- #


def _dates(index: pd.Index) -> list[str]:
    """First few labels of ``index`` as strings, for error messages."""
    shown = [str(i) for i in index[:_MAX_LISTED]]
    return shown + [f"... ({len(index)} in all)"] if len(index) > _MAX_LISTED else shown


def _check_periods(periods_per_year: int) -> None:
    if (
        isinstance(periods_per_year, bool)
        or not isinstance(periods_per_year, (int, np.integer))
        or periods_per_year < 1
    ):
        raise ValueError(f"periods_per_year must be a positive integer, got {periods_per_year!r}")


def _daily_series(values: pd.Series, name: str, *, allow_empty: bool = False) -> pd.Series:
    """``values`` as float in date order; raises on duplicates, NaN and inf, naming the dates."""
    if not isinstance(values, pd.Series):
        raise TypeError(f"{name} must be a date-indexed pandas Series, got {type(values).__name__}")
    if values.empty and not allow_empty:
        raise ValueError(f"{name} is empty: no daily returns to evaluate")
    dup = values.index[values.index.duplicated()]
    if len(dup):
        raise ValueError(f"{name} has duplicated dates {_dates(dup.unique())}")
    s = pd.to_numeric(values).astype(float).sort_index()
    missing = s.index[s.isna()]
    if len(missing):
        raise ValueError(f"{name} has NaN on {_dates(missing)}; a missing day is an error")
    infinite = s.index[np.isinf(s.to_numpy())]
    if len(infinite):
        raise ValueError(f"{name} has infinite values on {_dates(infinite)}")
    return s


def _returns(net_returns: pd.Series, name: str = "net_returns") -> pd.Series:
    """Checked, date-ordered simple returns (no value below -1)."""
    r = _daily_series(net_returns, name)
    wiped = r[r < -1.0]
    if len(wiped):
        raise ValueError(
            f"{name} has simple returns below -100% (loss of more than the whole book): "
            f"{dict(zip(_dates(wiped.index), wiped.round(6).tolist(), strict=False))}"
        )
    return r


def _aligned(values: pd.Series, index: pd.Index, name: str) -> pd.Series:
    """``values`` checked like the returns and on exactly the dates of ``index``."""
    s = _daily_series(values, name, allow_empty=True)
    missing = index.difference(s.index)
    extra = s.index.difference(index)
    if len(missing) or len(extra):
        raise ValueError(
            f"{name} must cover exactly the dates of net_returns; "
            f"missing {_dates(missing)}, extra {_dates(extra)}"
        )
    return s.reindex(index)


def _constant(values: np.ndarray) -> bool:
    """True when every value is the same (std exactly 0, whatever rounding says)."""
    return bool(values.max() == values.min())


def _sharpe(values: np.ndarray, periods_per_year: int) -> float:
    """``mean / std * sqrt(periods_per_year)`` (``ddof=1``); NaN for < 2 values or zero std."""
    if values.size < 2 or _constant(values):
        return math.nan
    return float(values.mean() / values.std(ddof=1) * math.sqrt(periods_per_year))


def _equity(r: pd.Series, start: float = 1.0) -> pd.Series:
    return start * (1.0 + r).cumprod()


def _drawdown(r: pd.Series) -> pd.Series:
    eq = _equity(r).to_numpy()
    # the running peak includes the starting equity of 1: a loss on day one is a drawdown
    peak = np.maximum(np.maximum.accumulate(eq), 1.0)
    return pd.Series(eq / peak - 1.0, index=r.index, name="drawdown")


def _holding_days(weights: pd.DataFrame) -> float:
    """Mean length, in rows, of the continuous holding spells in a date x ticker frame."""
    w = weights.sort_index().apply(pd.to_numeric).astype(float)
    if np.isinf(w.to_numpy()).any():
        bad = w.index[np.isinf(w.to_numpy()).any(axis=1)]
        raise ValueError(f"weights has infinite values on {_dates(bad)}")
    side = np.sign(w.fillna(0.0).to_numpy())
    before = np.vstack([np.zeros((1, side.shape[1])), side[:-1]])
    starts = int(((side != 0) & (side != before)).sum())
    held = int((side != 0).sum())
    # mean spell length = days held in total / number of spells
    return held / starts if starts else math.nan


# --------------------------------------------------------------------------- #
# public API
# --------------------------------------------------------------------------- #


def equity_curve(net_returns: pd.Series, start: float = 1.0) -> pd.Series:
    """Compounded value of the book: ``start * cumprod(1 + r)``.

    Parameters
    ----------
    net_returns : Series
        Simple daily returns indexed by date (put in date order first).
    start : float, default=1.0
        Equity before the first return; finite and > 0.

    Returns
    -------
    Series
        Equity at the close of each date, same (sorted) index, named
        ``"equity"``. The starting value itself is not a row.

    Raises
    ------
    ValueError
        For an empty series, NaN/inf, duplicated dates, returns below -1, or a
        non-positive ``start``.

    Examples
    --------
    >>> equity_curve(pd.Series([0.1, -0.5]), start=100.0).round(6).tolist()
    [110.0, 55.0]
    """
    if not (math.isfinite(start) and start > 0):
        raise ValueError(f"start must be finite and > 0, got {start!r}")
    return _equity(_returns(net_returns), float(start)).rename("equity")


def drawdown(net_returns: pd.Series) -> pd.Series:
    """Distance of the equity curve below its running peak: ``equity / peak - 1``.

    The peak includes the starting equity of 1, so a loss on the first day is
    already a drawdown. Values are ``<= 0``; ``-0.25`` means 25 % below the
    best level reached so far.

    Parameters
    ----------
    net_returns : Series
        Simple daily returns indexed by date.

    Returns
    -------
    Series
        Same (sorted) index, named ``"drawdown"``.

    Raises
    ------
    ValueError
        As :func:`equity_curve`.

    Examples
    --------
    >>> drawdown(pd.Series([-0.1, 0.5, -0.2])).round(6).tolist()
    [-0.1, 0.0, -0.2]
    """
    return _drawdown(_returns(net_returns))


def performance_summary(
    net_returns: pd.Series,
    *,
    gross_returns: pd.Series | None = None,
    turnover: pd.Series | None = None,
    weights: pd.DataFrame | None = None,
    periods_per_year: int = TRADING_DAYS,
) -> dict[str, float]:
    """Headline statistics of a daily return series.

    Parameters
    ----------
    net_returns : Series
        Simple daily returns after costs, indexed by date (sorted here).
    gross_returns : Series, optional
        Returns before costs on exactly the same dates; adds ``cost_drag``.
    turnover : Series, optional
        Daily one-way turnover (share of the book traded, one side) on exactly
        the same dates, ``>= 0``; adds ``turnover`` and ``turnover_annual``.
    weights : DataFrame, optional
        Date x ticker weights held each day; 0 or NaN means not held. Adds
        ``avg_holding_days``. Spells are counted over the rows of ``weights``
        in date order (one row = one trading day); a change of sign (long to
        short) without a day out ends one spell and starts another.
    periods_per_year : int, default=252
        Periods in a year, for annualisation.

    Returns
    -------
    dict of str to float
        With ``n = len(net_returns)``, ``r`` the returns and
        ``equity = cumprod(1 + r)``:

        * ``total_return`` -- ``equity[-1] - 1``;
        * ``cagr`` -- ``equity[-1] ** (1 / years) - 1``, ``years = n / periods_per_year``;
        * ``volatility`` -- ``std(r, ddof=1) * sqrt(periods_per_year)`` (NaN for one day);
        * ``sharpe`` -- ``mean(r) / std(r) * sqrt(periods_per_year)``, risk-free 0;
          NaN for one day or zero volatility (a flat series has no Sharpe, not +-inf);
        * ``sortino`` -- ``mean(r) / dd * sqrt(periods_per_year)`` with the
          downside deviation ``dd = sqrt(mean(min(r, 0) ** 2))`` over all days;
          NaN when no day lost money;
        * ``max_drawdown`` -- minimum of :func:`drawdown`, ``<= 0`` (0.0 when
          the curve never fell below a previous peak or the start);
        * ``calmar`` -- ``cagr / |max_drawdown|``, NaN without a drawdown;
        * ``hit_rate`` -- share of days with ``r > 0`` among days with
          ``r != 0`` (:func:`ml.metrics.hit_rate` of a long position against
          the outcome); NaN when every day is exactly 0;
        * ``n_days`` -- ``n`` (as a float, like every value);
        * ``cost_drag`` (with ``gross_returns``) -- ``mean(gross - net) * periods_per_year``;
        * ``turnover``, ``turnover_annual`` (with ``turnover``) -- mean daily
          one-way turnover, and that mean times ``periods_per_year``;
        * ``avg_holding_days`` (with ``weights``) -- mean length in days of
          the continuous holding spells over all tickers; a spell still open
          on the last row counts with its length so far; NaN if nothing was
          ever held.

    Raises
    ------
    ValueError
        For an empty ``net_returns``; NaN, inf or duplicated dates in any
        series (naming the dates); returns below -1; ``gross_returns`` or
        ``turnover`` not on exactly the dates of ``net_returns``; negative
        turnover; a bad ``periods_per_year``.

    Examples
    --------
    >>> s = performance_summary(pd.Series([0.1, -0.05, 0.02]))
    >>> round(s["total_return"], 6), round(s["max_drawdown"], 6), round(s["hit_rate"], 6)
    (0.0659, -0.05, 0.666667)
    """
    _check_periods(periods_per_year)
    r = _returns(net_returns)
    values = r.to_numpy()
    n = values.size
    final = float(np.prod(1.0 + values))
    with np.errstate(over="ignore"):
        cagr = float(np.power(final, periods_per_year / n)) - 1.0
    vol = (
        math.nan if n < 2
        else 0.0 if _constant(values)
        else float(values.std(ddof=1) * math.sqrt(periods_per_year))
    )
    downside = math.sqrt(float(np.mean(np.minimum(values, 0.0) ** 2)))
    sortino = (
        float(values.mean() / downside * math.sqrt(periods_per_year)) if downside > 0 else math.nan
    )
    max_dd = float(_drawdown(r).min())
    moved = values[values != 0]
    out: dict[str, float] = {
        "total_return": final - 1.0,
        "cagr": cagr,
        "volatility": vol,
        "sharpe": _sharpe(values, periods_per_year),
        "sortino": sortino,
        "max_drawdown": max_dd,
        "calmar": cagr / abs(max_dd) if max_dd < 0 else math.nan,
        "hit_rate": _sign_hit_rate(np.ones(moved.size), moved) if moved.size else math.nan,
        "n_days": float(n),
    }
    if gross_returns is not None:
        gross = _aligned(gross_returns, r.index, "gross_returns")
        out["cost_drag"] = float((gross - r).mean() * periods_per_year)
    if turnover is not None:
        to = _aligned(turnover, r.index, "turnover")
        negative = to[to < 0]
        if len(negative):
            raise ValueError(
                f"turnover must be >= 0; negative on {_dates(negative.index)}: "
                f"{negative.tolist()[:_MAX_LISTED]}"
            )
        out["turnover"] = float(to.mean())
        out["turnover_annual"] = float(to.mean() * periods_per_year)
    if weights is not None:
        out["avg_holding_days"] = float(_holding_days(weights))
    return out


def regime_breakdown(
    net_returns: pd.Series,
    regimes: pd.Series,
    ic: pd.Series | None = None,
    *,
    periods_per_year: int = TRADING_DAYS,
) -> pd.DataFrame:
    """Return statistics per market regime.

    Parameters
    ----------
    net_returns : Series
        Simple daily returns indexed by date.
    regimes : Series
        Regime label per date (e.g. from :func:`ml.regimes.regime_labels`).
        Dates of ``net_returns`` that are not in ``regimes``, or whose label is
        missing, are counted under ``"unknown"``; dates of ``regimes`` without
        a return are ignored.
    ic : Series, optional
        Daily information coefficient indexed by date (e.g.
        :func:`ml.metrics.daily_ic`); adds ``mean_ic``, the mean IC over the
        regime's return dates that have an IC (NaN if none has).
    periods_per_year : int, default=252
        For ``ann_return`` and ``sharpe``.

    Returns
    -------
    DataFrame
        One row per regime present, index ``"regime"``, ordered ``risk_on``,
        ``neutral``, ``risk_off``, then other labels sorted by name, then
        ``unknown``. Columns: ``days`` (int), ``total_return`` (compounded
        within the regime, as if only its days were held), ``mean_return``,
        ``ann_return`` (``mean_return * periods_per_year``), ``sharpe`` (as in
        :func:`performance_summary`: NaN for one day or zero volatility),
        ``win_rate`` (share of the regime's days with ``r > 0``) and, with
        ``ic``, ``mean_ic``.

    Raises
    ------
    ValueError
        As :func:`performance_summary` for the returns; for duplicated dates in
        ``regimes`` or ``ic``; for infinite IC values.
    """
    _check_periods(periods_per_year)
    r = _returns(net_returns)
    dup = regimes.index[regimes.index.duplicated()]
    if len(dup):
        raise ValueError(f"regimes has duplicated dates {_dates(dup.unique())}")
    labels = regimes.reindex(r.index).astype(object).where(lambda s: s.notna(), _UNKNOWN_REGIME)
    ic_values = None
    if ic is not None:
        dup = ic.index[ic.index.duplicated()]
        if len(dup):
            raise ValueError(f"ic has duplicated dates {_dates(dup.unique())}")
        ic_float = pd.to_numeric(ic).astype(float)
        infinite = ic_float.index[np.isinf(ic_float.to_numpy())]
        if len(infinite):
            raise ValueError(f"ic has infinite values on {_dates(infinite)}")
        ic_values = ic_float.reindex(r.index)
    rows: dict[Hashable, dict[str, float]] = {}
    for label in _regime_order(labels.unique().tolist()):
        mask = (labels == label).to_numpy()
        x = r.to_numpy()[mask]
        row = {
            "days": int(x.size),
            "total_return": float(np.prod(1.0 + x) - 1.0),
            "mean_return": float(x.mean()),
            "ann_return": float(x.mean() * periods_per_year),
            "sharpe": _sharpe(x, periods_per_year),
            "win_rate": float((x > 0).mean()),
        }
        if ic_values is not None:
            row["mean_ic"] = float(ic_values[mask].mean())  # NaN when no date has an IC
        rows[label] = row
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "regime"
    out["days"] = out["days"].astype(np.int64)
    return out


def _regime_order(labels: list[Hashable]) -> list[Hashable]:
    """Known regimes first, then other labels by name, then ``unknown``."""
    known = [lab for lab in REGIME_ORDER if lab in labels]
    others = sorted((lab for lab in labels if lab not in REGIME_ORDER and lab != _UNKNOWN_REGIME),
                    key=str)
    tail = [_UNKNOWN_REGIME] if _UNKNOWN_REGIME in labels else []
    return known + others + tail
