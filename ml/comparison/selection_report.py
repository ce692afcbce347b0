"""The model-selection report: ``reports/model_selection/<date>/`` with ``report.html`` (one
self-contained page: the choice and why, the Deflated Sharpe Ratio, the Sharpe matrices of the
validation and final windows, every candidate x optimizer row, prediction quality, equity curves
of the top five, the folds, the tuner's trials), ``comparison.csv``, ``sharpe_matrix.csv`` and
``selection.json``. Rendering reuses the daily report's escaping, tables and atomic writes."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ml.common import atomic_write, jsonable
from ml.comparison.selection import DeflatedSharpe
from ml.reports import charts
from ml.reports.data import _csv_bytes, _json_bytes
from ml.reports import formatting as fmt
from ml.reports.html import _CSS, _e, _img, _table

__all__ = ["SelectionReport", "write_selection_report"]

# A wider page than the daily report's: the comparison tables have many columns (and scroll when wider still).
_WIDE = "body { max-width: 80em; }\n"
_PCT_COLUMNS = ("cagr", "max_drawdown", "turnover", "win_rate", "volatility", "hit_rate", "spread_top_bottom")


@dataclass(frozen=True)
class SelectionReport:
    """Everything the report shows; frames as the comparison asset produced them."""

    as_of: dt.date
    horizon: int
    reason: str
    winner: dict[str, Any] | None
    promoted: dict[str, Any] | None
    promoted_id: str | None
    deflated: DeflatedSharpe | None
    table: pd.DataFrame            # model, optimizer, window, metrics, passes, failed, score, rank
    prediction_metrics: pd.DataFrame
    sharpe_matrix: pd.DataFrame
    final_matrix: pd.DataFrame
    equity: pd.DataFrame           # date x "model x optimizer": growth of 1
    benchmarks: pd.DataFrame
    folds: pd.DataFrame
    params: dict[str, Any]
    tuning: dict[str, pd.DataFrame]
    seconds: dict[str, float]
    validation_start: Any
    final_start: Any


def _dsr_line(d: DeflatedSharpe | None, has_winner: bool) -> str:
    if d is None:
        why = ("its validation returns have no Sharpe ratio to deflate (constant returns)" if has_winner
               else "there is no winner")
        return f'<p class="muted">No Deflated Sharpe Ratio: {why}.</p>'
    return (f"<p>Deflated Sharpe Ratio of the winner: <b>{d.dsr:.3f}</b> -- the probability that its "
            f"validation Sharpe ({d.sharpe * 252 ** 0.5:.2f} annualised) beats the best of {d.n_trials} "
            f"skill-less trials ({d.benchmark_sharpe * 252 ** 0.5:.2f} annualised expected maximum), given "
            f"{d.n_obs} days, skew {d.skew:.2f} and kurtosis {d.kurtosis:.2f} (Bailey &amp; L&oacute;pez de "
            f"Prado, 2014). Below 0.95 the choice is not significant at 5%.</p>")


def _formats(frame: pd.DataFrame) -> dict[str, Any]:
    """Percent for the fractions, whole numbers for counts and ranks, two decimals for ratios."""
    formats: dict[str, Any] = {c: fmt.percent for c in _PCT_COLUMNS if c in frame}
    formats |= {c: fmt.count for c in ("rank", "n_days", "n_dates", "n_predictions", "n_trials") if c in frame}
    formats |= {c: fmt.ratio for c in frame if str(c) == "sharpe" or str(c).startswith("sharpe_")
                or c in ("calmar", "score", "regime_consistency")}
    return formats


def _matrix(frame: pd.DataFrame) -> str:
    table = frame.reset_index().rename(columns={"index": "model"})
    return _table(table, formats={c: fmt.ratio for c in table.columns[1:]})


def render_html(r: SelectionReport) -> str:
    day = str(r.as_of)
    rows = r.table.sort_values(["window", "rank", "sharpe"], ascending=[False, True, False], na_position="last")
    shown = [c for c in ("model", "optimizer", "window", "sharpe", "cagr", "max_drawdown", "calmar", "turnover",
                         "win_rate", "regime_consistency", "passes", "score", "rank", "failed") if c in rows]
    promoted = ("" if r.promoted_id is None else
                f"<p>Promoted: <b>{_e(r.promoted['model'])} x {_e(r.promoted['optimizer'])}</b> as champion "
                f"<code>{_e(r.promoted_id)}</code> for horizon {r.horizon}.</p>")
    tuning = "".join(f"<h3>{_e(name)}</h3>" + _table(trials) for name, trials in r.tuning.items()) \
        or '<p class="muted">No tuned candidate.</p>'
    sections = [
        f"<h1>tradepipe model selection &mdash; {_e(day)}</h1>",
        f"<p class=\"meta\">Horizon {r.horizon} days. Validation window from {_e(pd.Timestamp(r.validation_start).date())}; "
        f"untouched final window from {_e(pd.Timestamp(r.final_start).date())} to {_e(day)} (never used to choose).</p>",
        f"<div class=\"banner {'approved' if r.winner else 'review'}\">{_e(r.reason)}</div>",
        promoted, _dsr_line(r.deflated, r.winner is not None),
        "<h2>Sharpe, validation window (models x optimizers)</h2>", _matrix(r.sharpe_matrix),
        "<h2>Sharpe, final window (reported only)</h2>", _matrix(r.final_matrix),
        "<h2>Equity of the top five (validation, then final)</h2>",
        _img(charts.equity_chart(r.equity, "Growth of 1"), "equity curves of the top five"),
        "<h2>Every candidate x optimizer</h2>", _table(rows[shown], formats=_formats(rows)),
        "<h2>Benchmarks</h2>", _table(r.benchmarks, formats=_formats(r.benchmarks)),
        "<h2>Prediction quality</h2>", _table(r.prediction_metrics, formats=_formats(r.prediction_metrics)),
        "<h2>Folds (identical for every candidate)</h2>", _table(r.folds),
        "<h2>Parameters</h2>", f"<pre>{_e(json.dumps(r.params, indent=1, sort_keys=True, default=str))}</pre>",
        "<h2>Tuning trials</h2>", tuning,
        "<h2>Time (seconds)</h2>", _table(pd.DataFrame([r.seconds]),
                                          formats={k: lambda v: fmt.ratio(v, 1) for k in r.seconds}),
    ]
    body = "\n".join(s for s in sections if s)
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>tradepipe model selection {_e(day)}</title>\n<style>{_CSS}{_WIDE}</style>\n</head>\n"
            f"<body>\n{body}\n</body>\n</html>\n")


def write_selection_report(folder: Path, r: SelectionReport) -> dict[str, Path]:
    """Write the report's files into ``folder`` (created), each atomically. Returns name -> path."""
    folder.mkdir(parents=True, exist_ok=True)
    document = {"as_of": str(r.as_of), "horizon": r.horizon, "reason": r.reason, "winner": r.winner,
                "promoted": r.promoted, "promoted_model_id": r.promoted_id,
                "deflated_sharpe": None if r.deflated is None else r.deflated.__dict__, "params": r.params}
    files = {
        "report.html": render_html(r).encode("utf-8"),
        "comparison.csv": _csv_bytes(r.table),
        "sharpe_matrix.csv": _csv_bytes(r.sharpe_matrix.reset_index()),
        "selection.json": _json_bytes(jsonable(document, "selection")),
    }
    return {name: atomic_write(folder / name, content) for name, content in files.items()}
