"""Alpha158, the 158 price/volume features of Qlib's Alpha158DL default config
(qlib/contrib/data/loader.py), on numpy: one row per valid (ticker, date) of
int_prices_validated, columns a158_<qlib name in lower case> in Qlib's order: 9 k-bar shapes,
4 price ratios (VWAP0 on the typical price (high + low + close) / 3: the price table has no
vwap), then 29 rolling operators x windows 5, 10, 20, 30, 60.

Every window holds the ticker's last n valid bars (int_prices_validated ordered by date) and is
NULL until those bars exist; operators on one-bar changes (close - previous close, ...) need n
changes, so n + 1 bars. Only the bar and earlier bars enter a window. Formulas: the model's yml.

Built only when the dbt var alpha158 is on (dbt_project.yml: tradepipe.toml's [training]
feature_set alpha158 or all); with the base feature set no build pays for it.

Why Python: as DuckDB window aggregates over ROWS frames these need about 185 windows, at about
0.6 s each on the full shared data (1.5M rows, 2 threads): some 95 s for the model. Here sums,
means and counts over a window are block prefix/suffix sums (O(rows), see _Blocks); standard
deviations, correlations, the regression and the order statistics are vectorised reductions over
strided views of the sorted columns, exact (two-pass). The bar features are here too, so the mart
is written once (no join of two 1.5M-row tables). Figures: bench/README.md.

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
CHUNK_ROWS = 25_000  # rows computed at a time (whole tickers): bounds the memory of the (rows x 60) temporaries
EPS = 1e-12  # Qlib's guard in denominators
FLAT = 2e-5  # Qlib leaves R² and correlations NaN where a series' window std is within this of 0
PAD = max(WINDOWS)
KBAR = ("kmid", "klen", "kmid2", "kup", "kup2", "klow", "klow2", "ksft", "ksft2")
PRICE = ("open0", "high0", "low0", "vwap0")


def _rows_sql(this, incremental: bool) -> str:
    """The rows of int_prices_validated (virtual table `prices`) this run reads, and which are new."""
    columns = "p.ticker, p.date, p.history_days, p.open, p.high, p.low, p.close, p.volume"
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


class _Blocks:
    """Sums over windows of n bars in O(rows), rounded the same whatever else is in the chunk.

    Each ticker's bars are cut into blocks of n by their absolute position (history_days - 1);
    a window of n bars ending inside a block is the suffix sum of the block before plus the prefix
    sum of its own: at most n additions, in an order fixed by the ticker's own bars. So a value
    depends on no later bar and no other ticker (rule 7 to the last bit), and an incremental run,
    which reads only each ticker's last bars, gives the same bits as the full build. The rows of a
    chunk are whole tickers."""

    def __init__(self, position: np.ndarray, first: np.ndarray, n: int) -> None:
        block, self.offset = np.divmod(position, n)
        new = first.copy()
        new[0] = True
        new[1:] |= block[1:] != block[:-1]
        self.group = np.cumsum(new) - 1
        self.n, self.shape = n, (int(self.group[-1]) + 1, n)
        rows = np.arange(len(position))
        self.back = np.maximum(rows - n + 1, 0)  # the window's first row (windows not full: masked)
        self.whole = self.offset == n - 1

    def sum(self, x: np.ndarray) -> np.ndarray:
        grid = np.zeros(self.shape)
        grid[self.group, self.offset] = np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)
        prefix = np.cumsum(grid, axis=1)
        suffix = np.cumsum(grid[:, ::-1], axis=1)[:, ::-1]
        head = prefix[self.group, self.offset]
        tail = suffix[self.group[self.back], self.offset[self.back]]
        return np.where(self.whole, head, tail + head)


def _std(w: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Sample std per row, two-pass about ``mean`` (an error δ in it adds only n δ² to the sum of
    squares): exact where the windows are nearly flat, which the FLAT threshold needs."""
    d = w - mean[:, None]
    return np.sqrt(np.einsum("ij,ij->i", d, d) / (w.shape[1] - 1))


def _corr(a: np.ndarray, b: np.ndarray, mean_a: np.ndarray | None = None,
          mean_b: np.ndarray | None = None) -> np.ndarray:
    """Pearson correlation per row; NaN where either row's sample std is within FLAT of 0."""
    mean_a = a.mean(axis=1) if mean_a is None else mean_a
    mean_b = b.mean(axis=1) if mean_b is None else mean_b
    da, db = a - mean_a[:, None], b - mean_b[:, None]
    ssa, ssb = np.einsum("ij,ij->i", da, da), np.einsum("ij,ij->i", db, db)
    n = a.shape[1]
    flat = (np.sqrt(ssa / (n - 1)) <= FLAT) | (np.sqrt(ssb / (n - 1)) <= FLAT)
    return np.where(flat, np.nan, np.einsum("ij,ij->i", da, db) / np.sqrt(ssa * ssb))


def _ratios(gains: np.ndarray, losses: np.ndarray, total: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(gains, losses, net) of the changes in each window over their absolute sum + EPS."""
    total = total + EPS
    return gains / total, losses / total, (gains - losses) / total


def _chunk(s: dict, start: int, stop: int) -> dict[str, np.ndarray]:
    """Every operator and window for the rows start..stop (NaN where the window is not full).
    Sums, means and counts are differences of cumulative sums (O(rows)); standard deviations,
    correlations and the regression are exact on strided windows (two-pass), as are the order
    statistics (max, min, their positions, rank, quantiles by partial sort)."""
    rows = slice(start, stop)
    close, volume, pos = s["close"][rows], s["volume"][rows], s["pos"][rows]
    out: dict[str, np.ndarray] = {}
    for n in WINDOWS:
        level_ok, change_ok = pos >= n - 1, pos >= n
        blocks = _Blocks(s["position"][rows], pos == 0, n)
        unpadded = slice(start + PAD, stop + PAD)
        c, h, lo, v = (_window(s[k], n, start, stop) for k in ("close_p", "high_p", "low_p", "volume_p"))
        mean_c = blocks.sum(s["close_p"][unpadded]) / n
        mean_v = blocks.sum(s["volume_p"][unpadded]) / n
        std_c = _std(c, mean_c)
        t = np.arange(n) - (n - 1) / 2
        slope = (c @ t) / (t @ t)
        ss_c = std_c ** 2 * (n - 1)
        high_n, low_n = h.max(axis=1), lo.min(axis=1)
        arg_high, arg_low = h.argmax(axis=1) + 1, lo.argmin(axis=1) + 1
        last = c[:, -1][:, None]
        qtlu, qtld = _quantiles(c, (0.8, 0.2))
        levels = {
            "ma": mean_c / close,
            "std": std_c / close,
            "beta": slope / close,
            "rsqr": np.where(std_c <= FLAT, np.nan, (c @ t) ** 2 / ((t @ t) * ss_c)),
            "resi": (close - (mean_c + slope * (n - 1) / 2)) / close,
            "max": high_n / close,
            "min": low_n / close,
            "qtlu": qtlu / close,
            "qtld": qtld / close,
            "rank": ((c < last).sum(axis=1) + ((c == last).sum(axis=1) + 1) / 2) / n,
            "rsv": (close - low_n) / (high_n - low_n + EPS),
            "imax": arg_high / n,
            "imin": arg_low / n,
            "imxd": (arg_high - arg_low) / n,
            "corr": _corr(c, _window(s["log_volume_p"], n, start, stop), mean_c,
                          blocks.sum(s["log_volume_p"][unpadded]) / n),
            "vma": mean_v / (volume + EPS),
            "vstd": _std(v, mean_v) / (volume + EPS),
        }
        up, down = blocks.sum(s["up_p"][unpadded]) / n, blocks.sum(s["down_p"][unpadded]) / n
        moves = _window(s["weighted_move_p"], n, start, stop)
        mean_moves = blocks.sum(s["weighted_move_p"][unpadded]) / n
        sump, sumn, sumd = _ratios(*(blocks.sum(s[k][unpadded]) for k in ("close_gain_p", "close_loss_p", "close_move_p")))
        vsump, vsumn, vsumd = _ratios(*(blocks.sum(s[k][unpadded]) for k in ("volume_gain_p", "volume_loss_p", "volume_move_p")))
        changes = {
            "roc": s["close_p"][start + PAD - n: stop + PAD - n] / close,
            "cord": _corr(_window(s["close_ratio_p"], n, start, stop), _window(s["log_volume_ratio_p"], n, start, stop)),
            "cntp": up, "cntn": down, "cntd": up - down,
            "sump": sump, "sumn": sumn, "sumd": sumd,
            "wvma": _std(moves, mean_moves) / (mean_moves + EPS),
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


def _quantiles(w: np.ndarray, qs: tuple[float, ...]) -> list[np.ndarray]:
    """Linear-interpolation quantiles of each row (pandas' rolling quantile), from one sort of
    the rows (measured faster than np.partition on these short rows)."""
    ordered = np.sort(w, axis=1)
    n = w.shape[1]
    out = []
    for q in qs:
        at = q * (n - 1)
        low = int(np.floor(at))
        if low == at:
            out.append(ordered[:, low])
        else:
            out.append(ordered[:, low] + (ordered[:, low + 1] - ordered[:, low]) * (at - low))
    return out


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
    close_change, volume_change = close - prev_close, volume - prev_volume
    return {
        "pos": pos, "position": np.asarray(data["history_days"], dtype=np.int64) - 1, "open": open_, "high": high, "low": low, "close": close, "volume": volume,
        "close_p": _padded(close), "high_p": _padded(high), "low_p": _padded(low), "volume_p": _padded(volume),
        "log_volume_p": _padded(np.log(volume + 1)),
        "up_p": _padded((close_change > 0).astype(np.float64)),
        "down_p": _padded((close_change < 0).astype(np.float64)),
        "close_gain_p": _padded(np.maximum(close_change, 0)),
        "close_loss_p": _padded(np.maximum(-close_change, 0)),
        "close_move_p": _padded(np.abs(close_change)),
        "volume_gain_p": _padded(np.maximum(volume_change, 0)),
        "volume_loss_p": _padded(np.maximum(-volume_change, 0)),
        "volume_move_p": _padded(np.abs(volume_change)),
        "weighted_move_p": _padded(np.abs(close / prev_close - 1) * volume),
        "close_ratio_p": _padded(close / prev_close),
        "log_volume_ratio_p": _padded(np.log(volume / prev_volume + 1)),
    }


def _chunks(pos: np.ndarray, rows: int) -> list[tuple[int, int]]:
    """(start, stop) of chunks of whole tickers of about ``rows`` rows (one ticker may be more)."""
    starts = np.flatnonzero(pos == 0)
    bounds, at = [], 0
    for start in starts[1:]:
        if start - at >= rows:
            bounds.append((at, int(start)))
            at = int(start)
    if len(pos):
        bounds.append((at, len(pos)))
    return bounds


def _write_chunks(cursor, pending, failed: list) -> None:
    """Write each (DataFrame, path) from ``pending`` to a Parquet file until None arrives. Double
    columns: no dictionary (it would be built and dropped for every column of distinct values)."""
    while (item := pending.get()) is not None:
        if failed:
            continue
        chunk, path = item
        try:
            cursor.register("__alpha158_chunk", chunk)
            cursor.execute(f"copy (select ticker::varchar as ticker, date::date as date, * exclude (ticker, date) "
                           f"from __alpha158_chunk) to '{path}' "
                           "(format parquet, compression uncompressed, dictionary_size_limit 1)")
            cursor.unregister("__alpha158_chunk")
        except BaseException as error:  # raised in the model's thread
            failed.append(error)


def model(dbt, session):
    dbt.config(materialized="incremental", incremental_strategy="delete+insert", unique_key="date")
    import atexit
    import queue
    import shutil
    import tempfile
    import threading

    import pandas as pd

    rows = dbt.ref("int_prices_validated").query("prices", _rows_sql(dbt.this, dbt.is_incremental))
    data = rows.fetchnumpy()
    series = _series(data)
    is_new = np.asarray(data["is_new"], dtype=bool)
    names = [f"a158_{k}" for k in KBAR + PRICE] + [f"a158_{op}{n}" for op in OPERATORS for n in WINDOWS]
    # Each chunk goes to a Parquet file as it is computed, and the returned relation reads them:
    # dbt then writes the table once, streaming, in bounded memory (a DataFrame of every row would
    # hold 1.9 GB on the shared data, a temporary table spills and is copied again). A second
    # cursor writes a chunk while numpy computes the next (DuckDB and most of numpy release the
    # GIL); at most one chunk waits. The files go when dbt exits.
    folder = tempfile.mkdtemp(prefix="fct_alpha158_")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    files: list[str] = []
    pending: queue.Queue = queue.Queue(maxsize=1)
    failed: list[BaseException] = []
    writer = threading.Thread(target=_write_chunks, args=(session.cursor(), pending, failed), daemon=True)
    writer.start()
    try:
        with np.errstate(divide="ignore", invalid="ignore"):
            for start, stop in _chunks(series["pos"], CHUNK_ROWS):
                keep = is_new[start:stop]
                if not keep.any() and files:
                    continue
                if failed:
                    break
                values = _chunk(series, start, stop)
                chunk = pd.DataFrame({"ticker": data["ticker"][start:stop][keep],
                                      "date": data["date"][start:stop][keep],
                                      **{k: values[k][keep] for k in names}}, copy=False)
                del values
                files.append(f"{folder}/{len(files):05d}.parquet")
                pending.put((chunk, files[-1]))
            if not files:  # no rows at all: an empty file of the table's columns
                files.append(f"{folder}/empty.parquet")
                pending.put((pd.DataFrame({"ticker": np.array([], dtype=object),
                                           "date": np.array([], dtype="datetime64[D]"),
                                           **{k: np.array([], dtype=np.float64) for k in names}}), files[-1]))
    finally:
        pending.put(None)
        writer.join()
    if failed:
        raise failed[0]
    return session.read_parquet(files)
