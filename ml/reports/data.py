"""The daily report's inputs (:class:`ReportData`), their checks, and the formatting helpers shared by the outputs."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ml.backtest import STRATEGY
from ml.common import iso, jsonable
from ml.trades import CheckResult

WEIGHT_COLUMNS: tuple[str, ...] = ("ticker", "weight", "sector", "score")


TRADE_COLUMNS: tuple[str, ...] = (
    "ticker", "side", "shares", "price", "notional", "commission_est", "slippage_est",
    "status", "reason", "liquidity_flag",
)


SIGNAL_COLUMNS: tuple[str, ...] = ("ticker", "score", "signal", "method")


REASON_COLUMNS: tuple[str, ...] = (
    "ticker", "side", "rank", "feature", "value", "contribution", "bias", "others", "prediction",
)


IC_COLUMNS: tuple[str, ...] = ("rank_ic", "rolling_rank_ic")


KILL_SWITCH_COLUMNS: tuple[str, ...] = ("date", "mode", "status", "halt_days", "event", "halt_start", "detail")


TOP_DRIFTED_FEATURES = 10


@dataclass(frozen=True)
class ReportData:
    """Everything the daily report shows; history fields may be empty on a first run.

    Attributes
    ----------
    date
        The market date the report is for.
    equity
        Date x curve equity (e.g. ``model``, ``equal_weight_universe``,
        ``gspc``: the backtest's strategies); may be empty.
    drawdown
        The model strategy's drawdown by date (fractions, <= 0); may be empty.
    regimes
        Date -> regime label (``risk_on`` / ``neutral`` / ``risk_off``); may be empty.
    regime_today
        Today's regime label, or None when there is no regime model yet.
    regime_probs
        Today's filtered probabilities, e.g. ``prob_risk_on``, ``prob_neutral``,
        ``prob_risk_off``.
    ic
        Date-indexed ``rank_ic`` and ``rolling_rank_ic``; may be empty.
    weights
        Today's target portfolio: ``ticker``, ``weight``, ``sector``, ``score``
        and any extra columns (kept in the CSV and the table).
    trades
        Today's trades: ``ticker``, ``side``, ``shares``, ``price``,
        ``notional``, ``commission_est``, ``slippage_est``, ``status``,
        ``reason``, ``liquidity_flag`` (+ extra columns).
    signals
        Today's signals: ``ticker``, ``score``, ``signal``, ``method`` (one method).
    checks
        Safety results (:class:`ml.trades.CheckResult`). Any failed rule blocks
        every trade; no results at all also counts as blocked (unchecked
        trades are never approved, as in :func:`ml.trades.apply_gate`).
    summary
        Backtest metrics of the model strategy (``ml.backtest.STRATEGY``: the champion's
        predictions traded by the daily run's code): ``cagr``, ``sharpe``, ``max_drawdown``, ...;
        a metric a strategy does not have is None or NaN.
    benchmarks
        The same metrics per benchmark name.
    monitoring
        JSON-serialisable monitoring log, normally
        :func:`ml.monitoring.monitoring_log`: the page picks out
        ``model_drift.review_model`` / ``model_drift.reason`` and the
        ``feature_drift.top`` records (highest PSI first). A flat log with
        ``review_model`` / ``reason`` at the top level, or ``feature_drift`` as
        a feature -> score mapping, is understood too; every other key is
        shown as it is.
    model
        The champion model (``model_id``, ``model_type``, ``horizon``,
        ``train_start``, ``train_end``, ...), shown as key/value pairs; its
        ``cv_metrics`` (a mapping, or its JSON text) as a table.
    notes
        Anything the reader must know (e.g. "kill switch triggered: ...").
    reasons
        Why today's trades (``trading.trade_reasons``): per traded name its top features by
        absolute contribution to its prediction: ``ticker``, ``side``, ``rank``, ``feature``,
        ``value``, ``contribution``, ``bias``, ``others`` (the other features' summed
        contribution), ``prediction``.
    unexplained
        One line saying why the trades have no reasons (the model that scored the day is not
        LightGBM), or None.
    kill_switch
        The kill switch's state by date up to the report's date (``trading.kill_switch``):
        ``date``, ``mode``, ``status`` ('armed' / 'halted'), ``halt_days``, ``event``,
        ``halt_start``, ``detail``; may be empty. The page shows today's state, what it allowed
        and every halt (when it fired, for how long, how it ended).

    Empty ``weights`` / ``trades`` / ``signals`` / ``reasons`` may be given as a bare
    ``pd.DataFrame()``; a frame *with* columns must have all the listed ones.
    """

    date: pd.Timestamp
    equity: pd.DataFrame
    drawdown: pd.Series
    regimes: pd.Series
    regime_today: str | None
    regime_probs: Mapping[str, float]
    ic: pd.DataFrame
    weights: pd.DataFrame
    trades: pd.DataFrame
    signals: pd.DataFrame
    checks: Sequence[CheckResult]
    summary: Mapping[str, float]
    benchmarks: Mapping[str, Mapping[str, float]]
    monitoring: Mapping[str, Any]
    model: Mapping[str, Any]
    notes: Sequence[str] = ()
    reasons: pd.DataFrame = field(default_factory=pd.DataFrame)
    unexplained: str | None = None
    kill_switch: pd.DataFrame = field(default_factory=pd.DataFrame)


# --------------------------------------------------------------------------- validation
def _market_date(value: object) -> pd.Timestamp:
    try:
        date = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"date must be a date, got {value!r}") from exc
    if pd.isna(date):
        raise ValueError(f"date must be a date, got {value!r}")
    return date


def _frame(frame: object, required: Sequence[str], what: str) -> pd.DataFrame:
    """``frame`` checked for ``required`` columns; a bare empty frame gets them, empty."""
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"{what} must be a pandas DataFrame, got {type(frame).__name__}")
    if frame.empty and len(frame.columns) == 0:
        return pd.DataFrame(columns=list(required))
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} is missing columns {missing} "
                         f"(has {[str(c) for c in frame.columns]})")
    duplicated = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
    if duplicated:
        raise ValueError(f"{what} has duplicated columns {duplicated}")
    return frame.reset_index(drop=True)


def _sorted_weights(weights: pd.DataFrame) -> pd.DataFrame:
    """Weights by weight descending, ties by ticker; numeric weights, unique tickers."""
    if len(weights) == 0:
        return weights
    if not pd.api.types.is_numeric_dtype(weights["weight"]):
        raise ValueError(f"weights 'weight' must be numeric, got dtype {weights['weight'].dtype}")
    dup = sorted({str(t) for t in weights.loc[weights["ticker"].duplicated(), "ticker"]})
    if dup:
        raise ValueError(f"weights has duplicated tickers {dup}")
    order = np.lexsort((weights["ticker"].astype(str).to_numpy(),
                        -weights["weight"].astype(float).fillna(-np.inf).to_numpy()))
    return weights.iloc[order].reset_index(drop=True)


def _check_inputs(data: ReportData) -> None:
    """Types and shapes of everything but the three tables (see :func:`_frame`)."""
    expected: dict[str, tuple[type, ...]] = {
        "equity": (pd.DataFrame,), "drawdown": (pd.Series, pd.DataFrame),
        "regimes": (pd.Series,), "ic": (pd.DataFrame,)}
    for name, kinds in expected.items():
        value = getattr(data, name)
        if not isinstance(value, kinds):
            raise ValueError(f"{name} must be a pandas {' or '.join(k.__name__ for k in kinds)}, "
                             f"got {type(value).__name__}")
    if len(data.ic):
        missing = [c for c in IC_COLUMNS if c not in data.ic.columns]
        if missing:
            raise ValueError(f"ic is missing columns {missing} "
                             f"(has {[str(c) for c in data.ic.columns]})")
    if data.regime_today is not None and not isinstance(data.regime_today, str):
        raise ValueError(f"regime_today must be a label or None, got {data.regime_today!r}")
    for key, value in data.regime_probs.items():
        if not _is_number(value):
            raise ValueError(f"regime_probs[{key!r}] must be a number, got {value!r}")
    clash = sorted({"metric", STRATEGY} & {str(b) for b in data.benchmarks})
    if clash:
        raise ValueError(f"benchmark names {clash} clash with the performance table's columns")
    for name, metrics in [("summary", data.summary),
                          *((f"benchmarks[{b!r}]", m) for b, m in data.benchmarks.items())]:
        if not isinstance(metrics, Mapping):
            raise ValueError(f"{name} must be a mapping of metric -> number, got {metrics!r}")
        bad = {k: v for k, v in metrics.items() if not (_is_number(v) or v is None or v is pd.NA)}
        if bad:
            raise ValueError(f"{name} has non-numeric metrics {bad}")
    if not isinstance(data.monitoring, Mapping):
        raise ValueError(f"monitoring must be a mapping, got {type(data.monitoring).__name__}")
    flag, _, where = _review(data.monitoring)
    if flag is not None and not isinstance(flag, (bool, np.bool_)):
        raise ValueError(f"{where} must be true/false, got {flag!r}")
    if not isinstance(data.model, Mapping):
        raise ValueError(f"model must be a mapping, got {type(data.model).__name__}")
    if isinstance(data.notes, str):
        raise ValueError("notes must be a sequence of strings, not one string")
    if len(data.kill_switch):
        missing = [c for c in KILL_SWITCH_COLUMNS if c not in data.kill_switch.columns]
        if missing:
            raise ValueError(f"kill_switch is missing columns {missing}")
    if data.unexplained is not None and not isinstance(data.unexplained, str):
        raise ValueError(f"unexplained must be one line of text or None, got {data.unexplained!r}")


def _checks(checks: Sequence[CheckResult]) -> list[CheckResult]:
    out = []
    for i, check in enumerate(checks):
        if not all(hasattr(check, a) for a in ("name", "passed", "detail")):
            raise ValueError(f"checks[{i}] is not a CheckResult (name, passed, detail): {check!r}")
        out.append(CheckResult(str(check.name), bool(check.passed), str(check.detail)))
    return out


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


# --------------------------------------------------------------------------- CSV / JSON
def _iso_dates(frame: pd.DataFrame) -> pd.DataFrame:
    """Date/time columns (typed or as objects) replaced by ISO strings."""
    out = frame.copy()
    for column in out.columns:
        col = out[column]
        if pd.api.types.is_datetime64_any_dtype(col) or (
            col.dtype == object and col.map(
                lambda v: isinstance(v, (dt.date, np.datetime64))).any()):
            out[column] = col.map(iso).astype(object)
    return out


def _csv_bytes(frame: pd.DataFrame) -> bytes:
    return _iso_dates(frame).to_csv(index=False, lineterminator="\n").encode("utf-8")


def _json_bytes(document: Any) -> bytes:
    text = json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False)
    return (text + "\n").encode("utf-8")


def _signals_document(date: pd.Timestamp, signals: pd.DataFrame) -> dict[str, Any]:
    methods = sorted({str(m) for m in signals["method"].dropna()})
    if len(methods) > 1:
        raise ValueError(f"signals mix several methods {methods}: one report has one method")
    records = signals[["ticker", "score", "signal"]].to_dict(orient="records")
    return {
        "date": date.strftime("%Y-%m-%d"),
        "method": methods[0] if methods else None,
        "signals": jsonable(records, "signals"),
    }


def _review(monitoring: Mapping[str, Any]) -> tuple[Any, str, str]:
    """``(review_model, reason, where)`` from ``model_drift`` or, failing that, the top level."""
    drift = monitoring.get("model_drift")
    source, where = (drift, "monitoring['model_drift']") if isinstance(drift, Mapping) \
        and "review_model" in drift else (monitoring, "monitoring")
    reason = source.get("reason", source.get("review_reason"))
    return source.get("review_model"), "" if reason is None else str(reason), \
        f"{where}['review_model']"
