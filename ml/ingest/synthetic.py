"""Deterministic synthetic equity market for scale benchmarks and tests.

The real dataset is small and glitchy, which makes it a poor yardstick for two things:
how the pipeline scales (hundreds to thousands of tickers over a decade) and whether a
regime model recovers regimes (the real hidden state is unknown). This module builds a
market whose hidden state *is* known and whose frames have the same shape as the
ingested sources (``prices``, ``macro``, ``sectors``), so both questions can be asked.

Model
-----
A persistent three-state Markov chain (``risk_on``, ``neutral``, ``risk_off``) sets, day
by day, the drift and volatility of a market factor, the scale of 11 sector factors and
of idiosyncratic noise, the trading volume and the macro series. Daily log-returns are::

    r[t, i] = beta[i] * m[t] + s[t, sector(i)] + idio_vol[i] * scale[regime(t)] * e[t, i]

with per-ticker ``beta`` and ``idio_vol`` drawn from the seed. Closes are
``start_price * exp(cumsum(r))``, so they stay positive. All draws are made on whole
``(days x tickers)`` matrices; only the Markov chain and the macro AR(1) paths, each a
handful of scalars per day, are stepped in Python.

Randomness comes from ``numpy.random.default_rng(seed)`` alone, split with
``Generator.spawn`` into one independent stream per component. Hence the regime path
and the macro series other than ``^GSPC`` depend only on ``(n_years, seed, start)``,
not on ``n_tickers``: a 20-ticker and a 2000-ticker market with the same seed live
through the same history.

Examples
--------
>>> market = generate_market(n_tickers=3, n_years=0.1, seed=7)
>>> len(market.prices) == 3 * 25
True
>>> sorted(market.prices["ticker"].unique())
['T0001', 'T0002', 'T0003']
>>> sorted(market.macro["series"].unique())
['BAMLH0A0HYM2', 'DGS10', 'DGS2', 'VIXCLS', '^GSPC']
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from ml.common import check_int

__all__ = [
    "MACRO_SERIES",
    "REGIMES",
    "SECTORS",
    "TRADING_DAYS_PER_YEAR",
    "SyntheticMarket",
    "generate_market",
    "write_market",
]

TRADING_DAYS_PER_YEAR = 252

REGIMES: tuple[str, ...] = ("risk_on", "neutral", "risk_off")
"""Hidden states, in the order used by every per-regime constant below."""

SECTORS: tuple[str, ...] = (
    "Consumer Discretionary",
    "Consumer Staples",
    "Energy",
    "Financials",
    "Health Care",
    "Industrials",
    "Information Technology",
    "Materials",
    "Real Estate",
    "Telecommunication Services",
    "Utilities",
)
"""The 11 GICS sector names as spelled in the real ``sectors`` source."""

MACRO_SERIES: tuple[str, ...] = ("VIXCLS", "DGS2", "DGS10", "BAMLH0A0HYM2", "^GSPC")
"""Macro series ids, as in the real ``macro`` source (FRED ids and the S&P 500 symbol)."""

# Row = today's regime, column = tomorrow's. Expected stays 1 / (1 - p_ii): about 67, 50
# and 40 days; long-run shares about 36 % / 43 % / 21 %.
_TRANSITION: tuple[tuple[float, float, float], ...] = (
    (0.985, 0.012, 0.003),
    (0.010, 0.980, 0.010),
    (0.005, 0.020, 0.975),
)
# Per regime (risk_on, neutral, risk_off), daily units.
_MARKET_DRIFT = (0.0006, 0.0002, -0.0020)
_MARKET_VOL = (0.007, 0.011, 0.024)
_SECTOR_VOL = (0.004, 0.005, 0.009)
_IDIO_SCALE = (0.9, 1.0, 1.4)
_VOLUME_SCALE = (0.85, 1.0, 1.6)
_VIX_LEVEL = (13.0, 20.0, 35.0)
_HY_SPREAD_LEVEL = (3.5, 5.0, 8.0)

_START_PRICE_RANGE = (50.0, 150.0)
_BETA_RANGE = (0.6, 1.4)
_IDIO_VOL_RANGE = (0.008, 0.022)
_BASE_VOLUME_LOG10_RANGE = (5.0, 7.0)
_OVERNIGHT_GAP_VOL = 0.003
_GSPC_START = 1000.0


@dataclass(frozen=True, eq=False)
class SyntheticMarket:
    """One generated market: source-shaped frames plus the hidden truth.

    Frozen so the fields cannot be rebound; the frames themselves are ordinary
    (mutable) DataFrames, so copy before editing one in a test. ``eq=False`` because
    element-wise DataFrame ``==`` has no single truth value; compare frames with
    ``pandas.testing.assert_frame_equal``.

    Attributes
    ----------
    prices : pandas.DataFrame
        One row per (ticker, date), sorted by ticker then date. Columns ``date``
        (datetime64), ``ticker`` (str), ``open``, ``high``, ``low``, ``close``
        (float64) and ``volume`` (int64).
    macro : pandas.DataFrame
        Tidy, one row per (series, date), sorted by series (in ``MACRO_SERIES``
        order) then date. Columns ``date``, ``series`` (str), ``value`` (float64).
    sectors : pandas.DataFrame
        One row per ticker. Columns ``ticker``, ``sector``, ``name`` (all str).
    regimes : pandas.DataFrame
        One row per date: the hidden state that generated that day, one of
        ``REGIMES``. For tests only; :func:`write_market` does not write it, since the
        pipeline must never see it.
    """

    prices: pd.DataFrame
    macro: pd.DataFrame
    sectors: pd.DataFrame
    regimes: pd.DataFrame


def generate_market(
    n_tickers: int, n_years: float, seed: int, start: str = "2010-01-04"
) -> SyntheticMarket:
    """Generate a synthetic market of ``n_tickers`` over ``n_years`` of weekdays.

    Parameters
    ----------
    n_tickers : int
        Number of tickers, at least 1. Tickers are ``T0001``, ``T0002``, ... zero-padded
        to the width of ``n_tickers`` (at least 4 digits).
    n_years : float
        Length in years of 252 trading days; ``round(252 * n_years)`` days must be at
        least 1.
    seed : int
        Non-negative seed for ``numpy.random.default_rng``. The same
        ``(n_tickers, n_years, seed, start)`` always gives identical frames.
    start : str, default "2010-01-04"
        First calendar date; the first trading day is the first weekday on or after it.
        Trading days are all weekdays (no holiday calendar).

    Returns
    -------
    SyntheticMarket
        Prices, macro series, sectors and the hidden regime path.

    Raises
    ------
    TypeError
        If ``n_tickers`` or ``seed`` is not an integer, or ``n_years`` not a number.
    ValueError
        If a value is out of range or ``start`` is not a date.

    Notes
    -----
    Memory grows with ``n_days * n_tickers``: about a dozen float64 matrices of that
    size exist at the peak, plus the long ``prices`` frame (2000 tickers x 10 years is
    about 5M rows).
    """
    n_tickers = check_int("n_tickers", n_tickers, minimum=1)
    seed = check_int("seed", seed, minimum=0)
    n_days = _n_trading_days(n_years)
    dates = _trading_days(start, n_days)

    regime_rng, ticker_rng, factor_rng, idio_rng, bar_rng, macro_rng = (
        np.random.default_rng(seed).spawn(6)
    )
    regime = _simulate_regimes(n_days, regime_rng)
    tickers = _ticker_names(n_tickers)
    sector_of = np.arange(n_tickers) % len(SECTORS)

    log_returns = _log_returns(regime, sector_of, ticker_rng, factor_rng, idio_rng)
    start_price = ticker_rng.uniform(*_START_PRICE_RANGE, size=n_tickers)
    prices = _price_frame(dates, tickers, start_price, log_returns, regime, bar_rng)
    del log_returns

    return SyntheticMarket(
        prices=prices,
        macro=_macro_frame(dates, regime, _equal_weight_index(prices, n_days), macro_rng),
        sectors=pd.DataFrame(
            {
                "ticker": pd.array(tickers, dtype="str"),
                "sector": pd.array([SECTORS[k] for k in sector_of], dtype="str"),
                "name": pd.array([f"Synthetic {t} Corp" for t in tickers], dtype="str"),
            }
        ),
        regimes=pd.DataFrame(
            {"date": dates, "regime": pd.array(np.array(REGIMES)[regime], dtype="str")}
        ),
    )


def write_market(market: SyntheticMarket, folder: Path) -> dict[str, Path]:
    """Write the source-shaped frames of ``market`` as parquet files.

    Writes ``prices.parquet``, ``macro.parquet`` and ``sectors.parquet`` into
    ``folder`` (created if missing, files overwritten) through DuckDB ``COPY``, with
    ``date`` stored as DATE rather than timestamp, as the real sources are daily. The
    hidden ``regimes`` frame is deliberately not written.

    Parameters
    ----------
    market : SyntheticMarket
        Output of :func:`generate_market`.
    folder : pathlib.Path
        Destination folder.

    Returns
    -------
    dict[str, pathlib.Path]
        ``{"prices": ..., "macro": ..., "sectors": ...}`` paths of the written files.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    selects = {
        "prices": "select cast(date as date) as date, ticker, open, high, low, close, volume",
        "macro": "select cast(date as date) as date, series, value",
        "sectors": "select ticker, sector, name",
    }
    paths = {name: folder / f"{name}.parquet" for name in selects}
    with duckdb.connect() as con:
        for name, select in selects.items():
            con.register(f"{name}_df", getattr(market, name))
            con.execute(
                f"copy ({select} from {name}_df) "
                f"to {_sql_string(str(paths[name]))} (format parquet)"
            )
            con.unregister(f"{name}_df")
    return paths


# --- argument checks -------------------------------------------------------------------


def _n_trading_days(n_years: float) -> int:
    """Return ``round(252 * n_years)``, which must be a positive number of days."""
    if isinstance(n_years, bool) or not isinstance(n_years, (int, float, np.number)):
        raise TypeError(f"n_years must be a number, got {n_years!r}")
    if not math.isfinite(n_years) or n_years <= 0:
        raise ValueError(f"n_years must be a finite number > 0, got {n_years!r}")
    n_days = round(TRADING_DAYS_PER_YEAR * float(n_years))
    if n_days < 1:
        raise ValueError(
            f"n_years={n_years!r} is shorter than one trading day "
            f"(round({TRADING_DAYS_PER_YEAR} * n_years) = {n_days})"
        )
    return n_days


def _trading_days(start: str, n_days: int) -> pd.DatetimeIndex:
    """Return ``n_days`` consecutive weekdays from the first weekday on or after ``start``."""
    try:
        first = pd.Timestamp(start)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"start must be a date such as '2010-01-04', got {start!r}") from exc
    if pd.isna(first):
        raise ValueError(f"start must be a date such as '2010-01-04', got {start!r}")
    if first != first.normalize():
        raise ValueError(f"start must be a date without a time of day, got {start!r}")
    return pd.bdate_range(start=first, periods=n_days, name="date")


# --- hidden state and returns ----------------------------------------------------------


def _stationary(transition: np.ndarray) -> np.ndarray:
    """Return the stationary distribution ``pi`` of a transition matrix (``pi P = pi``)."""
    eigenvalues, eigenvectors = np.linalg.eig(transition.T)
    pi = np.real(eigenvectors[:, np.argmin(np.abs(eigenvalues - 1.0))])
    return pi / pi.sum()


def _simulate_regimes(n_days: int, rng: np.random.Generator) -> np.ndarray:
    """Return a Markov chain path of regime codes (indices into ``REGIMES``).

    The first day is drawn from the stationary distribution so that a short market is
    not biased towards a fixed starting regime.
    """
    transition = np.array(_TRANSITION)
    cumulative = np.cumsum(transition, axis=1)
    initial = np.cumsum(_stationary(transition))
    # Uniforms lie in [0, 1); pinning the last cumulative to 1 keeps every draw in range
    # even when the sums round to just under 1.
    cumulative[:, -1] = initial[-1] = 1.0
    uniforms = rng.random(n_days)
    path = np.empty(n_days, dtype=np.int8)
    state = int(np.searchsorted(initial, uniforms[0], side="right"))
    path[0] = state
    for t in range(1, n_days):
        state = int(np.searchsorted(cumulative[state], uniforms[t], side="right"))
        path[t] = state
    return path


def _log_returns(
    regime: np.ndarray,
    sector_of: np.ndarray,
    ticker_rng: np.random.Generator,
    factor_rng: np.random.Generator,
    idio_rng: np.random.Generator,
) -> np.ndarray:
    """Return daily log-returns, shape ``(n_days, n_tickers)``: market + sector + idio."""
    n_days, n_tickers = len(regime), len(sector_of)
    beta = ticker_rng.uniform(*_BETA_RANGE, size=n_tickers)
    idio_vol = ticker_rng.uniform(*_IDIO_VOL_RANGE, size=n_tickers)

    market = np.take(_MARKET_DRIFT, regime) + np.take(_MARKET_VOL, regime) * (
        factor_rng.standard_normal(n_days)
    )
    sector = factor_rng.standard_normal((n_days, len(SECTORS)))
    sector *= np.take(_SECTOR_VOL, regime)[:, None]

    returns = idio_rng.standard_normal((n_days, n_tickers))
    returns *= idio_vol[None, :]
    returns *= np.take(_IDIO_SCALE, regime)[:, None]
    returns += market[:, None] * beta[None, :]
    returns += sector[:, sector_of]
    return returns


# --- frames ----------------------------------------------------------------------------


def _ticker_names(n_tickers: int) -> list[str]:
    """Return ``T0001``... zero-padded to the width of ``n_tickers``, at least 4 digits."""
    width = max(4, len(str(n_tickers)))
    return [f"T{k:0{width}d}" for k in range(1, n_tickers + 1)]


def _price_frame(
    dates: pd.DatetimeIndex,
    tickers: list[str],
    start_price: np.ndarray,
    log_returns: np.ndarray,
    regime: np.ndarray,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Build consistent daily bars from close-to-close log-returns.

    ``open`` is the previous close (``start_price`` on the first day) times
    ``1 + gap`` with a small overnight gap; ``high`` and ``low`` extend the larger and
    smaller of open and close by a random multiple of the ticker's typical daily move
    (scaled up in ``risk_off``), so
    ``low <= min(open, close) <= max(open, close) <= high`` and all are positive.
    """
    n_days, n_tickers = log_returns.shape
    close = np.cumsum(log_returns, axis=0)
    np.exp(close, out=close)
    close *= start_price[None, :]

    regime_scale = np.take(_IDIO_SCALE, regime)[:, None]
    # Bounded so the open stays positive even in a tail draw.
    gap = np.clip(
        rng.normal(0.0, _OVERNIGHT_GAP_VOL, size=(n_days, n_tickers)) * regime_scale, -0.2, 0.2
    )
    open_ = np.empty_like(close)
    open_[0] = start_price
    open_[1:] = close[:-1]
    open_ *= 1.0 + gap
    del gap

    day_vol = 0.5 * np.abs(log_returns).mean(axis=0)[None, :] * regime_scale
    high = np.abs(rng.standard_normal((n_days, n_tickers)))
    high *= day_vol
    np.exp(high, out=high)
    high *= np.maximum(open_, close)
    low = np.abs(rng.standard_normal((n_days, n_tickers)))
    low *= -day_vol
    np.exp(low, out=low)
    low *= np.minimum(open_, close)

    volume = rng.normal(0.0, 0.3, size=(n_days, n_tickers))
    volume += 8.0 * np.abs(log_returns)  # busier on big-move days
    np.exp(volume, out=volume)
    volume *= 10.0 ** rng.uniform(*_BASE_VOLUME_LOG10_RANGE, size=n_tickers)[None, :]
    volume *= np.take(_VOLUME_SCALE, regime)[:, None]
    volume = np.maximum(np.rint(volume), 1.0).astype(np.int64)

    # Ticker-major order (all dates of T0001, then T0002, ...), as the real source.
    return pd.DataFrame(
        {
            "date": np.tile(dates.to_numpy(), n_tickers),
            "ticker": pd.array(np.repeat(np.array(tickers, dtype=object), n_days), dtype="str"),
            "open": open_.ravel(order="F"),
            "high": high.ravel(order="F"),
            "low": low.ravel(order="F"),
            "close": close.ravel(order="F"),
            "volume": volume.ravel(order="F"),
        }
    )


def _equal_weight_index(prices: pd.DataFrame, n_days: int) -> np.ndarray:
    """Return the equal-weight index level, ``_GSPC_START`` on the first day.

    Each day's index return is the plain average of the tickers' simple close-to-close
    returns (daily rebalanced equal weights).
    """
    close = prices["close"].to_numpy().reshape(-1, n_days).T  # (days, tickers)
    level = np.empty(n_days)
    level[0] = _GSPC_START
    if n_days > 1:
        daily = (close[1:] / close[:-1]).mean(axis=1)
        level[1:] = _GSPC_START * np.cumprod(daily)
    return level


def _mean_reverting(
    target: np.ndarray,
    speed: float,
    noise: np.ndarray,
    x0: float,
    floor: float,
) -> np.ndarray:
    """Return an AR(1) path pulled towards a (time-varying) ``target``.

    ``x[t] = x[t-1] + speed * (target[t] - x[t-1]) + noise[t]``, floored at ``floor``.
    """
    path = np.empty(len(target))
    x = x0
    for t in range(len(target)):
        x = max(floor, x + speed * (target[t] - x) + noise[t])
        path[t] = x
    return path


def _macro_frame(
    dates: pd.DatetimeIndex,
    regime: np.ndarray,
    gspc: np.ndarray,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Build the tidy macro frame: regime-driven VIX and HY spread, yields, the index.

    VIX and the high-yield spread revert to a per-regime level (fast and slower,
    respectively), so they lead and lag the hidden state like their real counterparts.
    DGS2 is a slow, weakly mean-reverting random walk; DGS10 is DGS2 plus a term spread
    reverting to 1.5 points, so it is almost always above DGS2.
    """
    n_days = len(dates)
    vix_level = np.take(_VIX_LEVEL, regime)
    vix = _mean_reverting(
        vix_level, 0.15, rng.standard_normal(n_days) * 0.06 * vix_level, vix_level[0], 9.0
    )
    hy_level = np.take(_HY_SPREAD_LEVEL, regime)
    hy = _mean_reverting(
        hy_level, 0.05, rng.standard_normal(n_days) * 0.04, hy_level[0], 2.0
    )
    dgs2 = _mean_reverting(
        np.full(n_days, 2.0), 0.002, rng.standard_normal(n_days) * 0.04, 1.0, 0.05
    )
    term = _mean_reverting(
        np.full(n_days, 1.5), 0.01, rng.standard_normal(n_days) * 0.02, 1.5, -1.0
    )
    values = {
        "VIXCLS": vix,
        "DGS2": dgs2,
        "DGS10": dgs2 + term,
        "BAMLH0A0HYM2": hy,
        "^GSPC": gspc,
    }
    series = np.repeat(np.array(MACRO_SERIES, dtype=object), n_days)
    return pd.DataFrame(
        {
            "date": np.tile(dates.to_numpy(), len(MACRO_SERIES)),
            "series": pd.array(series, dtype="str"),
            "value": np.concatenate([values[s] for s in MACRO_SERIES]),
        }
    )


def _sql_string(text: str) -> str:
    """Quote ``text`` as a SQL string literal (COPY targets cannot be bound parameters)."""
    return "'" + text.replace("'", "''") + "'"
