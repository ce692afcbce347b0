"""Small PNG charts for asset metadata and reports (matplotlib, headless)."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # no display: render to memory only

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

REGIME_COLOURS = {"risk_on": "#d8f0d8", "neutral": "#fdf3c4", "risk_off": "#f7d0d0"}


def _png(fig: plt.Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


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
