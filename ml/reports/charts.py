"""Small PNG charts for asset metadata and reports (matplotlib, headless).

Every function returns the PNG file as ``bytes`` and closes its figure, so a
long-running process (Dagster) does not accumulate open figures. The report
charts (:func:`equity_chart`, :func:`drawdown_chart`, :func:`regime_timeline`,
:func:`ic_chart`) draw a "no data yet" figure for an empty input instead of
raising: the first run of the pipeline has no history to plot.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # no display: render to memory only

import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import PercentFormatter  # noqa: E402

__all__ = [
    "REGIME_COLOURS",
    "TIMELINE_COLOURS",
    "drawdown_chart",
    "equity_chart",
    "ic_chart",
    "line_chart",
    "regime_chart",
    "regime_timeline",
]

REGIME_COLOURS = {"risk_on": "#d8f0d8", "neutral": "#fdf3c4", "risk_off": "#f7d0d0"}

# Stronger colours for the report's regime timeline: green / grey / red. Models
# with more than 3 states label the middle ones neutral_1, neutral_2, ... (see
# ml.regimes.regime_labels); they get successively darker greys.
TIMELINE_COLOURS = {"risk_on": "#4caf50", "neutral": "#9e9e9e", "risk_off": "#e53935"}
_NEUTRAL_SHADES = ("#bdbdbd", "#9e9e9e", "#757575", "#616161", "#424242")
_OTHER_COLOUR = "#c9a227"  # any label the pipeline does not produce: visible, not hidden

REPORT_DPI = 100
_REPORT_SIZE = (9.0, 3.0)
_TIMELINE_SIZE = (9.0, 1.6)


def _png(fig: plt.Figure, dpi: int = 90) -> bytes:
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    finally:
        plt.close(fig)
    return buffer.getvalue()


def _no_data(ax: plt.Axes, title: str) -> None:
    """Turn ``ax`` into a placeholder: the title and a centred "no data yet"."""
    ax.set_axis_off()
    ax.text(0.5, 0.5, "no data yet", ha="center", va="center", transform=ax.transAxes,
            fontsize=12, color="#777777")
    ax.set_title(title, fontsize=10)


def _dated(obj: pd.Series | pd.DataFrame, what: str) -> pd.Series | pd.DataFrame:
    """``obj`` with a sorted DatetimeIndex; ISO date strings are parsed.

    A numeric index is refused rather than read as nanoseconds since 1970.
    """
    index = obj.index
    if not isinstance(index, pd.DatetimeIndex):
        if pd.api.types.is_numeric_dtype(index):
            raise ValueError(f"{what} must be indexed by date, got a {index.dtype} index "
                             f"starting {index[:3].tolist()}")
        try:
            index = pd.DatetimeIndex(pd.to_datetime(index))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{what} must be indexed by date, got index values "
                             f"starting {index[:3].tolist()}") from exc
        obj = obj.set_axis(index)
    return obj.sort_index()


def _numeric(frame: pd.DataFrame, what: str) -> pd.DataFrame:
    """``frame`` as floats; non-numeric columns raise with their names."""
    bad = [str(c) for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    if bad:
        raise ValueError(f"{what} columns must be numeric, not {bad}")
    return frame.astype(float)


def regime_chart(level: pd.Series, regimes: pd.Series, title: str = "^GSPC and filtered regime") -> bytes:
    """A line of ``level`` (date-indexed) over bands shaded by ``regimes`` (date-indexed labels)."""
    fig, ax = plt.subplots(figsize=(10, 3.2))
    regimes = regimes.sort_index()
    runs = (regimes != regimes.shift()).cumsum()
    for _, run in regimes.groupby(runs):
        colour = REGIME_COLOURS.get(run.iloc[0], "#eeeeee")
        ax.axvspan(run.index[0], run.index[-1], color=colour, linewidth=0)
    ax.plot(level.index, level.to_numpy(), color="#1f3b73", linewidth=0.9)
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in REGIME_COLOURS.values()]
    ax.legend(handles, list(REGIME_COLOURS), loc="upper left", fontsize=8, frameon=False)
    ax.set_title(title, fontsize=10)
    ax.margins(x=0)
    return _png(fig)


def line_chart(frame: pd.DataFrame, title: str, ylabel: str = "") -> bytes:
    """Lines of every column of a date-indexed frame."""
    fig, ax = plt.subplots(figsize=(10, 3.2))
    for column in frame.columns:
        ax.plot(frame.index, frame[column].to_numpy(), linewidth=1.0, label=str(column))
    if len(frame.columns) > 1:
        ax.legend(fontsize=8, frameon=False)
    ax.set_title(title, fontsize=10)
    ax.set_ylabel(ylabel)
    ax.axhline(0, color="#999999", linewidth=0.5)
    ax.margins(x=0)
    return _png(fig)


def equity_chart(equity: pd.DataFrame, title: str = "Equity curves") -> bytes:
    """Equity curves, one line per column of a date-indexed frame, linear scale.

    Columns are e.g. ``strategy``, ``equal_weight_universe``, ``^GSPC``; the
    first one (the strategy, by convention) is drawn thicker so it stands out
    against its benchmarks. Curves may start on different dates (NaN before a
    series begins). An empty or all-NaN frame gives a "no data yet" figure.
    """
    frame = equity.dropna(axis=1, how="all").dropna(how="all")
    fig, ax = plt.subplots(figsize=_REPORT_SIZE)
    try:
        if frame.empty:
            _no_data(ax, title)
        else:
            frame = _numeric(_dated(frame, "equity"), "equity")
            for i, column in enumerate(frame.columns):
                line = frame[column].dropna()
                ax.plot(line.index, line.to_numpy(), linewidth=1.6 if i == 0 else 1.0,
                        label=str(column), zorder=3 if i == 0 else 2)
            ax.legend(fontsize=8, frameon=False, loc="upper left")
            ax.set_title(title, fontsize=10)
            ax.grid(alpha=0.3)
            ax.margins(x=0)
        return _png(fig, dpi=REPORT_DPI)
    finally:
        plt.close(fig)


def drawdown_chart(drawdown: pd.Series | pd.DataFrame, title: str = "Drawdown") -> bytes:
    """Drawdown (0 at a peak, negative below it) as an area filled down from 0.

    ``drawdown`` is a date-indexed Series (one curve) or DataFrame (one curve
    per column, e.g. strategy and a benchmark). Values are fractions (-0.12 is
    a 12 % drawdown) and the y axis is shown in percent. An empty or all-NaN
    input gives a "no data yet" figure.
    """
    frame = drawdown.to_frame(drawdown.name or "drawdown") if isinstance(drawdown, pd.Series) \
        else drawdown
    frame = frame.dropna(axis=1, how="all").dropna(how="all")
    fig, ax = plt.subplots(figsize=_REPORT_SIZE)
    try:
        if frame.empty:
            _no_data(ax, title)
        else:
            frame = _numeric(_dated(frame, "drawdown"), "drawdown")
            alpha = 0.45 if len(frame.columns) == 1 else 0.25
            for column in frame.columns:
                curve = frame[column].dropna()
                lines = ax.plot(curve.index, curve.to_numpy(), linewidth=0.8, label=str(column))
                ax.fill_between(curve.index, curve.to_numpy(), 0.0, color=lines[0].get_color(),
                                alpha=alpha, linewidth=0)
            if len(frame.columns) > 1:
                ax.legend(fontsize=8, frameon=False, loc="lower left")
            ax.axhline(0, color="#999999", linewidth=0.5)
            ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0))
            ax.set_title(title, fontsize=10)
            ax.grid(alpha=0.3)
            ax.margins(x=0)
        return _png(fig, dpi=REPORT_DPI)
    finally:
        plt.close(fig)


def _timeline_colour(label: str) -> str:
    if label in TIMELINE_COLOURS:
        return TIMELINE_COLOURS[label]
    suffix = label.removeprefix("neutral_")
    if label.startswith("neutral_") and suffix.isdigit() and int(suffix) >= 1:
        return _NEUTRAL_SHADES[min(int(suffix), len(_NEUTRAL_SHADES)) - 1]
    return _OTHER_COLOUR


def _timeline_order(label: str) -> tuple[int, str]:
    """Legend order: risk_on, neutral, neutral_1, ..., risk_off, then anything else."""
    if label == "risk_on":
        return (0, "")
    if label == "neutral" or label.startswith("neutral_"):
        suffix = label.removeprefix("neutral_")
        return (1, suffix.zfill(4) if suffix.isdigit() else label)
    if label == "risk_off":
        return (2, "")
    return (3, label)


def regime_timeline(regimes: pd.Series, title: str = "Market regime") -> bytes:
    """Date-indexed regime labels as coloured bands: risk_on green, neutral grey, risk_off red.

    Each run of equal labels is one band from its first date to the first date
    of the next run (the last band extends by the median spacing of the dates),
    so the bands tile the time axis without gaps. ``neutral_1``, ``neutral_2``,
    ... (models with more than 3 states) are darker greys; a label the pipeline
    does not produce is drawn in sand rather than dropped. NaN labels are
    skipped. An empty or all-NaN series gives a "no data yet" figure.
    """
    labels = regimes.dropna()
    fig, ax = plt.subplots(figsize=_TIMELINE_SIZE)
    try:
        if labels.empty:
            _no_data(ax, title)
        else:
            labels = _dated(labels.astype(str), "regimes")
            dates = mdates.date2num(labels.index.to_pydatetime())
            values = labels.to_numpy()
            starts = np.flatnonzero(np.r_[True, values[1:] != values[:-1]])
            step = float(np.median(np.diff(dates))) if len(dates) > 1 else 1.0
            ends = np.r_[dates[starts[1:]], dates[-1] + step]
            for start, end in zip(starts, ends, strict=True):
                ax.broken_barh([(dates[start], end - dates[start])], (0, 1),
                               facecolors=_timeline_colour(values[start]), linewidth=0)
            present = sorted(set(values), key=_timeline_order)
            handles = [Patch(color=_timeline_colour(label), label=label) for label in present]
            ax.legend(handles=handles, fontsize=8, frameon=False, ncol=len(handles),
                      loc="lower right", bbox_to_anchor=(1.0, 1.0), borderaxespad=0.2)
            ax.set_title(title, fontsize=10, loc="left")
            ax.xaxis_date()
            ax.set_xlim(dates[0], dates[-1] + step)
            ax.set_ylim(0, 1)
            ax.set_yticks([])
        return _png(fig, dpi=REPORT_DPI)
    finally:
        plt.close(fig)


def ic_chart(ic: pd.DataFrame, title: str = "Daily rank IC (out of sample)") -> bytes:
    """Daily rank IC as faint bars with its rolling mean as a line, and a zero line.

    ``ic`` is date-indexed with a ``rank_ic`` column and, optionally,
    ``rolling_rank_ic`` (already computed by the caller, so the window is the
    caller's choice). Single days are noisy; the rolling mean is what shows
    whether the model still ranks stocks better than chance. An empty frame, or
    one whose IC columns are all NaN, gives a "no data yet" figure.
    """
    fig, ax = plt.subplots(figsize=_REPORT_SIZE)
    try:
        wanted = [c for c in ("rank_ic", "rolling_rank_ic") if c in ic.columns]
        if len(ic) and "rank_ic" not in ic.columns:
            raise ValueError(f"ic needs a 'rank_ic' column, "
                             f"got columns {[str(c) for c in ic.columns]}")
        frame = ic[wanted].dropna(how="all")
        if frame.empty:
            _no_data(ax, title)
        else:
            frame = _numeric(_dated(frame, "ic"), "ic")
            daily = frame["rank_ic"].dropna()
            ax.bar(daily.index, daily.to_numpy(), width=1.0, color="#5b7db1", alpha=0.35,
                   linewidth=0, label="daily rank IC")
            if "rolling_rank_ic" in frame:
                rolling = frame["rolling_rank_ic"].dropna()
                ax.plot(rolling.index, rolling.to_numpy(), color="#1f3b73", linewidth=1.4,
                        label="rolling mean")
            ax.axhline(0, color="#555555", linewidth=0.7)
            ax.legend(fontsize=8, frameon=False, loc="upper left")
            ax.set_title(title, fontsize=10)
            ax.grid(alpha=0.3)
            ax.margins(x=0)
        return _png(fig, dpi=REPORT_DPI)
    finally:
        plt.close(fig)
