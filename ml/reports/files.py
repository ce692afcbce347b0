"""The daily report folder: one self-contained HTML page plus machine-readable files.

:func:`write_report` turns a :class:`ReportData` into five files in a folder
(by convention ``$TRADEPIPE_HOME/reports/<YYYY-MM-DD>/``, see
:func:`report_folder`):

``report.html``
    One self-contained page for a human: charts embedded as
    ``data:image/png;base64`` images, inline CSS, no scripts and no external
    URLs, so it can be mailed or archived and still opens offline. A red
    "TRADES BLOCKED" banner lists the failed safety rules; every piece of text
    that comes from data (tickers, reasons, notes) is HTML-escaped.
``trades.csv``, ``portfolio_weights.csv``
    Today's trades and target weights (no index; dates as ISO strings).
``signals.json``, ``monitoring_log.json``
    Today's signals and the monitoring log. NaN and +/-inf become ``null``:
    the files are strict JSON that any parser accepts.

Everything is rendered in memory and validated *before* the first file is
touched, and each file is written to a temporary file in the same folder and
then moved into place with ``os.replace``: a reader never sees a half-written
file, and a failed run leaves the previous report intact. Writing the same
data twice gives byte-identical CSV and JSON files.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pandas as pd

from ml.common import atomic_write, jsonable
from ml.reports.data import (
    REASON_COLUMNS,
    SIGNAL_COLUMNS,
    TRADE_COLUMNS,
    WEIGHT_COLUMNS,
    ReportData,
    _check_inputs,
    _checks,
    _csv_bytes,
    _frame,
    _json_bytes,
    _market_date,
    _signals_document,
    _sorted_weights,
)
from ml.reports.html import _render_html

# name -> file name, in the order the files are written (the page last, so a
# reader who sees a new report.html also finds the data files of the same run).
FILES: dict[str, str] = {
    "trades": "trades.csv",
    "portfolio_weights": "portfolio_weights.csv",
    "signals": "signals.json",
    "monitoring_log": "monitoring_log.json",
    "report": "report.html",
}


def report_folder(home: Path | str, date: pd.Timestamp | str | dt.date) -> Path:
    """``<home>/reports/<YYYY-MM-DD>``: where the report for market ``date`` goes."""
    return Path(home) / "reports" / _market_date(date).strftime("%Y-%m-%d")


def write_report(folder: Path, data: ReportData) -> dict[str, Path]:
    """Write the five report files into ``folder`` atomically and return their paths.

    The folder is created if missing; existing files of the same names are
    replaced (re-running a day is idempotent). All files are rendered and the
    data validated first, so invalid data raises before anything is written.

    Returns
    -------
    dict
        ``{"trades", "portfolio_weights", "signals", "monitoring_log",
        "report"}`` -> path of the file written.

    Raises
    ------
    ValueError
        For invalid data, naming what is wrong (e.g. weights missing the
        ``ticker`` column, duplicated tickers, several signal methods, a
        monitoring value that is not JSON-serialisable).
    """
    contents = render_report(data)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, file_name in FILES.items():
        paths[name] = atomic_write(folder / file_name, contents[name])
    _fsync_dir(folder)
    return paths


def render_report(data: ReportData) -> dict[str, bytes]:
    """The five files' contents by name (as in :data:`FILES`), without touching disk.

    Raises
    ------
    ValueError
        For invalid data; see :func:`write_report`.
    """
    date = _market_date(data.date)
    weights = _sorted_weights(_frame(data.weights, WEIGHT_COLUMNS, "weights"))
    trades = _frame(data.trades, TRADE_COLUMNS, "trades")
    signals = _frame(data.signals, SIGNAL_COLUMNS, "signals")
    reasons = _frame(data.reasons, REASON_COLUMNS, "reasons")
    _check_inputs(data)
    checks = _checks(data.checks)
    signals_doc = _signals_document(date, signals)
    monitoring_doc = jsonable(data.monitoring, "monitoring")
    page = _render_html(data, date, weights, trades, checks, reasons)
    return {
        "trades": _csv_bytes(trades),
        "portfolio_weights": _csv_bytes(weights),
        "signals": _json_bytes(signals_doc),
        "monitoring_log": _json_bytes(monitoring_doc),
        "report": page.encode("utf-8"),
    }


# --------------------------------------------------------------------------- files
def _fsync_dir(folder: Path) -> None:
    """Make the renames durable; not every platform can open a directory."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
