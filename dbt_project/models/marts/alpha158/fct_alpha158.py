"""Alpha158, the 158 price/volume features of Qlib's Alpha158DL default config
(qlib/contrib/data/loader.py), on numpy: one row per valid (ticker, date) of
int_prices_validated, columns a158_<qlib name in lower case> in Qlib's order: 9 k-bar shapes,
4 price ratios (VWAP0 on the typical price (high + low + close) / 3: the price table has no
vwap), then 29 rolling operators x windows 5, 10, 20, 30, 60.

Every window holds the ticker's last n valid bars (int_prices_validated ordered by date) and is
NULL until those bars exist; operators on one-bar changes (close - previous close, ...) need n
changes, so n + 1 bars. Only the bar and earlier bars enter a window. Formulas: the model's yml.

Why Python: as DuckDB window aggregates over ROWS frames these need about 185 windows, at about
0.6 s each on the full shared data (1.5M rows, 2 threads): some 95 s for the model. Here each
window is a strided view of the sorted columns and every operator a vectorised reduction over it.
The bar features are here too, so the mart is written once (no join of two 1.5M-row tables).

Incremental like the SQL models (macros/incremental.sql): only dates after the last built one,
from each ticker's last LOOKBACK_BARS valid bars.
"""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

WINDOWS = (5, 10, 20, 30, 60)
OPERATORS = ("roc", "ma", "std", "beta", "rsqr", "resi", "max", "min", "qtlu", "qtld", "rank", "rsv",
             "imax", "imin", "imxd", "corr", "cord", "cntp", "cntn", "cntd", "sump", "sumn", "sumd",
             "vma", "vstd", "wvma", "vsump", "vsumn", "vsumd")
LOOKBACK_BARS = 70  # the longest window, 60 one-bar changes, needs 61
CHUNK_ROWS = 50_000  # rows computed at a time: bounds the memory of the (rows x 60) temporaries
EPS = 1e-12  # Qlib's guard in denominators
FLAT = 2e-5  # Qlib leaves R² and correlations NaN where a series' window std is within this of 0
PAD = max(WINDOWS)
STAGE = "__fct_alpha158_rows"
KBAR = ("kmid", "klen", "kmid2", "kup", "kup2", "klow", "klow2", "ksft", "ksft2")
PRICE = ("open0", "high0", "low0", "vwap0")


def _rows_sql(this, incremental: bool) -> str:
    """The rows of int_prices_validated (virtual table `prices`) this run reads, and which are new."""
    columns = "p.ticker, p.date, p.open, p.high, p.low, p.close, p.volume"
    if not incremental:
        return f"select {columns}, true as is_new from prices as p order by p.ticker, p.date"
    last = f"(select coalesce(max(date), date '0001-01-01') from {this})"
    return f"""
        select {columns}, p.date > {last} as is_new
        from prices as p
        left join (select ticker, max(history_days) as built from prices where date <= {last} group by ticker)
            as b using (ticker)
        where p.date > {last} or p.history_days > b.built - {LOOKBACK_BARS}
        order by p.ticker, p.date"""


def _shift(x: np.ndarray, first: np.ndarray) -> np.ndarray:
    """x of the previous row, NaN on each ticker's first row."""
    out = np.empty_like(x)
    out[0] = np.nan
    out[1:] = x[:-1]
    out[first] = np.nan
    return out


def _padded(x: np.ndarray) -> np.ndarray:
    return np.concatenate([np.full(PAD, np.nan), x])


def _window(padded: np.ndarray, n: int, start: int, stop: int) -> np.ndarray:
    """(stop - start, n) view: row i holds the n values ending at row start + i."""
    return sliding_window_view(padded[start + PAD - n + 1: stop + PAD], n)


def _std(w: np.ndarray, mean: np.ndarray) -> np.ndarray:
    return np.sqrt(((w - mean[:, None]) ** 2).sum(axis=1) / (w.shape[1] - 1))


def _corr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation per row; NaN where either row's sample std is within FLAT of 0."""
    da, db = a - a.mean(axis=1)[:, None], b - b.mean(axis=1)[:, None]
    ssa, ssb = (da * da).sum(axis=1), (db * db).sum(axis=1)
    n = a.shape[1]
    flat = (np.sqrt(ssa / (n - 1)) <= FLAT) | (np.sqrt(ssb / (n - 1)) <= FLAT)
    return np.where(flat, np.nan, (da * db).sum(axis=1) / np.sqrt(ssa * ssb))


def _ratios(w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(gains, losses, net) of the changes in each row over their absolute sum + EPS."""
    total = np.abs(w).sum(axis=1) + EPS
    gains, losses = np.maximum(w, 0).sum(axis=1), np.maximum(-w, 0).sum(axis=1)
    return gains / total, losses / total, (gains - losses) / total


def _chunk(s: dict, start: int, stop: int) -> dict[str, np.ndarray]:
    """Every operator and window for the rows start..stop (NaN where the window is not full)."""
    rows = slice(start, stop)
    close, volume, pos = s["close"][rows], s["volume"][rows], s["pos"][rows]
    out: dict[str, np.ndarray] = {}
    for n in WINDOWS:
        level_ok, change_ok = pos >= n - 1, pos >= n
        c, h, lo, v = (_window(s[k], n, start, stop) for k in ("close_p", "high_p", "low_p", "volume_p"))
        mean_c = c.mean(axis=1)
        std_c = _std(c, mean_c)
        t = np.arange(n) - (n - 1) / 2
        slope = (c @ t) / (t @ t)
        ss_c = std_c ** 2 * (n - 1)
        high_n, low_n = h.max(axis=1), lo.min(axis=1)
        ordered = np.sort(c, axis=1)
        arg_high, arg_low = h.argmax(axis=1) + 1, lo.argmin(axis=1) + 1
        last = c[:, -1][:, None]
        levels = {
            "ma": mean_c / close,
            "std": std_c / close,
            "beta": slope / close,
            "rsqr": np.where(std_c <= FLAT, np.nan, (c @ t) ** 2 / ((t @ t) * ss_c)),
            "resi": (close - (mean_c + slope * (n - 1) / 2)) / close,
            "max": high_n / close,
            "min": low_n / close,
            "qtlu": _quantile(ordered, 0.8) / close,
            "qtld": _quantile(ordered, 0.2) / close,
            "rank": ((c < last).sum(axis=1) + ((c == last).sum(axis=1) + 1) / 2) / n,
            "rsv": (close - low_n) / (high_n - low_n + EPS),
            "imax": arg_high / n,
            "imin": arg_low / n,
            "imxd": (arg_high - arg_low) / n,
            "corr": _corr(c, _window(s["log_volume_p"], n, start, stop)),
            "vma": v.mean(axis=1) / (volume + EPS),
            "vstd": _std(v, v.mean(axis=1)) / (volume + EPS),
        }
        dc, dv = _window(s["close_change_p"], n, start, stop), _window(s["volume_change_p"], n, start, stop)
        up, down = (dc > 0).mean(axis=1), (dc < 0).mean(axis=1)
        moves = _window(s["weighted_move_p"], n, start, stop)
        sump, sumn, sumd = _ratios(dc)
        vsump, vsumn, vsumd = _ratios(dv)
        changes = {
            "roc": s["close_p"][start + PAD - n: stop + PAD - n] / close,
            "cord": _corr(_window(s["close_ratio_p"], n, start, stop), _window(s["log_volume_ratio_p"], n, start, stop)),
            "cntp": up, "cntn": down, "cntd": up - down,
            "sump": sump, "sumn": sumn, "sumd": sumd,
            "wvma": _std(moves, moves.mean(axis=1)) / (moves.mean(axis=1) + EPS),
            "vsump": vsump, "vsumn": vsumn, "vsumd": vsumd,
        }
        for name, values in levels.items():
            out[f"a158_{name}{n}"] = np.where(level_ok, values, np.nan)
        for name, values in changes.items():
            out[f"a158_{name}{n}"] = np.where(change_ok, values, np.nan)
    return {**_bar(s, rows), **{f"a158_{op}{n}": out[f"a158_{op}{n}"] for op in OPERATORS for n in WINDOWS}}


def _bar(s: dict, rows: slice) -> dict[str, np.ndarray]:
    """The k-bar shapes and price ratios of each bar."""
    o, h, lo, c = (s[k][rows] for k in ("open", "high", "low", "close"))
    span = h - lo + EPS
    top, bottom = np.maximum(o, c), np.minimum(o, c)
    kbar = {"kmid": (c - o) / o, "klen": (h - lo) / o, "kmid2": (c - o) / span,
            "kup": (h - top) / o, "kup2": (h - top) / span, "klow": (bottom - lo) / o, "klow2": (bottom - lo) / span,
            "ksft": (2 * c - h - lo) / o, "ksft2": (2 * c - h - lo) / span}
    price = {"open0": o / c, "high0": h / c, "low0": lo / c, "vwap0": (h + lo + c) / 3 / c}
    return {f"a158_{k}": v for k, v in {**kbar, **price}.items()}


def _quantile(ordered: np.ndarray, q: float) -> np.ndarray:
    """Linear-interpolation quantile of rows already sorted (pandas' rolling quantile)."""
    at = q * (ordered.shape[1] - 1)
    low = int(np.floor(at))
    if low == at:
        return ordered[:, low]
    return ordered[:, low] + (ordered[:, low + 1] - ordered[:, low]) * (at - low)


def _series(data: dict) -> dict[str, np.ndarray]:
    """The padded input series of every operator, and each row's position within its ticker."""
    ticker = data["ticker"]
    n_rows = len(ticker)
    first = np.ones(n_rows, dtype=bool)
    first[1:] = ticker[1:] != ticker[:-1]
    starts = np.flatnonzero(first)
    pos = np.arange(n_rows) - np.repeat(starts, np.diff(np.r_[starts, n_rows]))
    open_, close, high, low, volume = (np.asarray(data[k], dtype=np.float64)
                                       for k in ("open", "close", "high", "low", "volume"))
    prev_close, prev_volume = _shift(close, first), _shift(volume, first)
    return {
        "pos": pos, "open": open_, "high": high, "low": low, "close": close, "volume": volume,
        "close_p": _padded(close), "high_p": _padded(high), "low_p": _padded(low), "volume_p": _padded(volume),
        "log_volume_p": _padded(np.log(volume + 1)),
        "close_change_p": _padded(close - prev_close),
        "volume_change_p": _padded(volume - prev_volume),
        "weighted_move_p": _padded(np.abs(close / prev_close - 1) * volume),
        "close_ratio_p": _padded(close / prev_close),
        "log_volume_ratio_p": _padded(np.log(volume / prev_volume + 1)),
    }


def model(dbt, session):
    dbt.config(materialized="incremental", incremental_strategy="delete+insert", unique_key="date")
    import pandas as pd

    rows = dbt.ref("int_prices_validated").query("prices", _rows_sql(dbt.this, dbt.is_incremental))
    data = rows.fetchnumpy()
    series = _series(data)
    is_new = np.asarray(data["is_new"], dtype=bool)
    names = [f"a158_{k}" for k in KBAR + PRICE] + [f"a158_{op}{n}" for op in OPERATORS for n in WINDOWS]
    session.execute(f"create or replace temp table {STAGE} (ticker varchar, date date, "
                    + ", ".join(f"{name} double" for name in names) + ")")
    with np.errstate(divide="ignore", invalid="ignore"):
        for start in range(0, len(is_new), CHUNK_ROWS):
            stop = min(start + CHUNK_ROWS, len(is_new))
            keep = is_new[start:stop]
            if not keep.any():
                continue
            values = _chunk(series, start, stop)
            chunk = pd.DataFrame({"ticker": data["ticker"][start:stop][keep],
                                  "date": data["date"][start:stop][keep],
                                  **{k: v[keep] for k, v in values.items()}})
            session.register("__alpha158_chunk", chunk)
            session.execute(f"insert into {STAGE} select ticker, cast(date as date), * exclude (ticker, date) "
                            "from __alpha158_chunk")
            session.unregister("__alpha158_chunk")
    return session.table(STAGE)
