"""HTML rendering of the daily report: one self-contained page (inline CSS, embedded PNG charts)."""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ml.backtest import STRATEGY
from ml.common import jsonable
from ml.reports import charts
from ml.reports import formatting as fmt
from ml.reports.data import (
    TOP_DRIFTED_FEATURES,
    ReportData,
    _is_number,
    _review,
)
from ml.trades import KILL_SWITCH_RULES, CheckResult

# --------------------------------------------------------------------------- HTML
_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 1.5em auto;
       max-width: 60em; color: #222; line-height: 1.4; padding: 0 1em; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; }
h2 { font-size: 1.15em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 1.6em; }
.table { overflow-x: auto; max-width: 100%; margin: 0.5em 0; }
table { border-collapse: collapse; font-size: 0.85em; }
th, td { border: 1px solid #ddd; padding: 0.2em 0.6em; text-align: left; vertical-align: top; }
td { max-width: 32em; overflow-wrap: anywhere; }
td.num, th { white-space: nowrap; }
th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.banner { padding: 0.6em 1em; margin: 0.8em 0; font-weight: bold; border-radius: 4px; }
.blocked { background: #b00020; color: #fff; }
.approved { background: #e3f4e3; color: #1b5e20; border: 1px solid #a5d6a7; }
.review { background: #fff4d6; color: #7a4f00; border: 1px solid #f0c36d; }
.halted { background: #e65100; color: #fff; }
.pass { color: #1b5e20; font-weight: bold; }
.fail { color: #b00020; font-weight: bold; }
.muted { color: #777; }
.meta span { margin-right: 1.2em; }
figure { margin: 0.5em 0; }
img { max-width: 100%; height: auto; }
"""


_NA = fmt.NA
_fmt = fmt.text
_money = fmt.money
_pct = fmt.percent


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _table(
    frame: pd.DataFrame,
    formats: Mapping[str, Callable[[object], str]] | None = None,
    cell_class: Mapping[str, Callable[[object], str]] | None = None,
    right: Sequence[str] = (),
) -> str:
    """``frame`` (without its index) as an HTML table; every header and cell escaped.

    ``formats`` maps a column to its cell formatter (default :func:`_fmt`),
    ``cell_class`` to a function giving a CSS class per value; numbers and the
    ``right`` columns are right-aligned.
    """
    formats = formats or {}
    cell_class = cell_class or {}
    numeric = {str(c) for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])
               and not pd.api.types.is_bool_dtype(frame[c])} | set(right)
    head = "".join(f"<th>{_e(c)}</th>" for c in frame.columns)
    rows = []
    for values in frame.itertuples(index=False, name=None):
        cells = []
        for column, value in zip(frame.columns, values, strict=True):
            text = formats.get(str(column), _fmt)(value)
            is_num = str(column) in numeric or (_is_number(value) and not math.isnan(value))
            classes = ["num"] if is_num else []
            if str(column) in cell_class:
                classes.append(cell_class[str(column)](value))
            attr = f' class="{_e(" ".join(classes))}"' if classes else ""
            cells.append(f"<td{attr}>{_e(text)}</td>")
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return (f'<div class="table"><table><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
            "</div>")


def _img(png: bytes, alt: str) -> str:
    encoded = base64.b64encode(png).decode("ascii")
    return f'<figure><img alt="{_e(alt)}" src="data:image/png;base64,{encoded}"></figure>'


def _today_switch(data: ReportData) -> Mapping[str, Any] | None:
    """The kill switch's row of the report's date, or None."""
    ks = data.kill_switch
    if len(ks) == 0:
        return None
    today = ks[pd.to_datetime(ks["date"]) == data.date]
    return None if today.empty else today.iloc[-1].to_dict()


def _allowed(trades: pd.DataFrame) -> str:
    """What the gate let through, by side: 'sells approved 3, buys blocked 2'."""
    if len(trades) == 0:
        return "no orders"
    parts = []
    for side, status in (("SELL", "approved"), ("SELL", "blocked"), ("BUY", "approved"), ("BUY", "blocked")):
        n = int(((trades["side"] == side) & (trades["status"] == status)).sum())
        if n:
            parts.append(f"{side.lower()}s {status} {n}")
    return ", ".join(parts)


def _banner(checks: Sequence[CheckResult], trades: pd.DataFrame | None = None,
            switch: Mapping[str, Any] | None = None) -> str:
    failed = [c for c in checks if not c.passed]
    if not checks:
        return ('<div class="banner blocked">TRADES BLOCKED: no safety check results '
                "(unchecked trades are never approved)</div>")
    if (failed and switch is not None and switch.get("status") == "halted" and switch.get("mode") == "derisk"
            and all(c.name in KILL_SWITCH_RULES for c in failed)):
        since = _day(switch.get("halt_start"))
        return (f'<div class="banner halted">KILL SWITCH HALTED since {_e(since)} (day {_e(switch.get("halt_days"))}):'
                f" no new risk, the book may only de-risk &mdash; {_e(_allowed(trades if trades is not None else pd.DataFrame()))}."
                f" {_e(switch.get('detail'))}</div>")
    if failed:
        reasons = "; ".join(f"{c.name}: {c.detail}" for c in failed)
        return f'<div class="banner blocked">TRADES BLOCKED: {_e(reasons)}</div>'
    return (f'<div class="banner approved">trades approved: all {len(checks)} '
            "safety checks passed</div>")


def _day(value: Any) -> str:
    return "-" if value is None or fmt.missing(value) else pd.Timestamp(value).strftime("%Y-%m-%d")


def _halts(history: pd.DataFrame) -> pd.DataFrame:
    """One row per halt in ``history`` (trading.kill_switch by date): when it fired, its last
    halted date, its length in days and how it ended (the event of the next date; 'in force')."""
    h = history.assign(date=pd.to_datetime(history["date"])).sort_values("date").reset_index(drop=True)
    halted = h["status"] == "halted"
    run = (halted & ~halted.shift(1, fill_value=False)).cumsum().where(halted)
    rows = []
    for _, days in h[halted].groupby(run[halted], sort=True):
        after = h.loc[days.index[-1] + 1:].head(1)
        ended = after["event"].iloc[0] if len(after) else "in force"
        rows.append({"fired": _day(days["date"].iloc[0]), "last halted day": _day(days["date"].iloc[-1]),
                     "days": len(days), "mode": days["mode"].iloc[-1],
                     "ended": ended if isinstance(ended, str) and ended else "rule cleared"})
    return pd.DataFrame(rows)


def _kill_switch_section(data: ReportData, trades: pd.DataFrame) -> str:
    today = _today_switch(data)
    if today is None:
        return '<p class="muted">no kill-switch state recorded for this date</p>'
    state = (f"<b>{_e(today['status'])}</b> ({_e(today['mode'])})"
             + (f", event today: <b>{_e(today['event'])}</b>" if today.get("event") else "")
             + (f", halted since {_e(_day(today['halt_start']))}, day {_e(today['halt_days'])}"
                if today["status"] == "halted" else ""))
    text = f"<p>Today: {state}. {_e(today.get('detail'))}. Orders: {_e(_allowed(trades))}.</p>"
    halts = _halts(data.kill_switch)
    if halts.empty:
        return text + '<p class="muted">no halt recorded up to this date</p>'
    return (text + f"<p>{len(halts)} halts, {int(halts['days'].sum())} halted days, the longest "
            f"{int(halts['days'].max())} days:</p>" + _table(halts.iloc[::-1], right=["days"]))


def _regime_line(data: ReportData) -> str:
    if data.regime_today is None:
        return '<span class="muted">no regime yet</span>'
    probs = ", ".join(f"{_e(str(k).removeprefix('prob_'))} {_e(_pct(v))}"
                      for k, v in data.regime_probs.items())
    return f"<b>{_e(data.regime_today)}</b>" + (f" ({probs})" if probs else "")


def _model_line(model: Mapping[str, Any]) -> str:
    """The champion in one line: type, id, horizon, training span (its CV metrics are a table)."""
    if not model:
        return '<span class="muted">no champion model yet</span>'
    shown = {k: v for k, v in model.items() if k != "cv_metrics"}
    return " &middot; ".join(f"{_e(k)}: <b>{_e(_fmt(v))}</b>" for k, v in shown.items())


def _champion(model: Mapping[str, Any]) -> str:
    """The champion's walk-forward CV metrics as tables (nothing when there are none)."""
    try:
        ic, other = fmt.cv_metrics(model.get("cv_metrics"))
    except (ValueError, TypeError):  # not JSON: shown as it is
        return f"<p>CV metrics: {_e(model.get('cv_metrics'))}</p>"
    if ic.empty and other.empty:
        return '<p class="muted">no CV metrics recorded</p>'
    return ("<p>Walk-forward cross-validation, out of sample: daily correlation of the predictions "
            "with the forward excess returns.</p>" + (_table(ic, right=list(ic.columns[1:])) if len(ic) else "")
            + (_table(other, right=["value"]) if len(other) else ""))


def _performance(data: ReportData) -> str:
    columns = {STRATEGY: data.summary, **data.benchmarks}
    metrics: list[str] = []
    for values in columns.values():
        metrics.extend(str(k) for k in values if str(k) not in metrics)
    # a metric no column has (the holding period of a book that never held a name) is left out
    metrics = [m for m in metrics if any(not fmt.missing(values.get(m)) for values in columns.values())]
    if not metrics:
        return '<p class="muted">no backtest yet</p>'
    table = pd.DataFrame({"metric": [fmt.label(m) for m in metrics]} | {
        name: [fmt.metric(m, values.get(m)) for m in metrics] for name, values in columns.items()})
    return (f"<p>The backtest of the champion's out-of-sample predictions traded by the daily run's code "
            f"(<b>{_e(STRATEGY)}</b>, net of costs) beside the benchmarks (no costs).</p>"
            + _table(table, right=list(columns)))


def _portfolio(weights: pd.DataFrame) -> str:
    if len(weights) == 0:
        return '<p class="muted">no target portfolio today</p>'
    sector = weights["sector"].astype(object).where(weights["sector"].notna(), "(no sector)")
    w = weights["weight"].astype(float)
    totals = (pd.DataFrame({"sector": sector.astype(str), "weight": w})
              .groupby("sector", sort=False)
              .agg(names=("weight", "size"), weight=("weight", "sum"))
              .reset_index())
    totals = totals.iloc[np.lexsort((totals["sector"].to_numpy(), -totals["weight"].to_numpy()))]
    invested = float(w.sum())
    return (f"<p>{len(weights)} names, invested {_e(_pct(invested))}, "
            f"cash {_e(_pct(1.0 - invested))}.</p>"
            + _table(weights, formats={"weight": _pct})
            + "<h3>Sector totals</h3>"
            + _table(totals[["sector", "names", "weight"]], formats={"weight": _pct}))


def _trades_section(trades: pd.DataFrame) -> str:
    if len(trades) == 0:
        return '<p class="muted">no trades today</p>'
    notional = pd.to_numeric(trades["notional"], errors="coerce")
    side = trades["side"].astype(str)
    cost = pd.to_numeric(trades["commission_est"], errors="coerce").sum() + \
        pd.to_numeric(trades["slippage_est"], errors="coerce").sum()
    buys, sells = float(notional[side == "BUY"].sum()), float(notional[side == "SELL"].sum())
    summary = (f"<p>{len(trades)} orders: buys {_e(_money(buys))}, sells {_e(_money(sells))}, "
               f"estimated costs {_e(_money(float(cost)))}.</p>")
    formats = {c: _money for c in ("price", "notional", "commission_est", "slippage_est")}
    formats |= {"weight_change": _pct, "shares": fmt.count}
    return summary + _table(trades, formats=formats, cell_class={"status": _status_class})


def _reason(feature: object, contribution: object, value: object) -> str:
    return f"{feature} {fmt.signed(contribution)} (value {_fmt(value)})"


def _reasons_section(trades: pd.DataFrame, reasons: pd.DataFrame, unexplained: str | None) -> str:
    """Per traded name, the features that moved its prediction most, signed, with their values."""
    if len(trades) == 0:
        return '<p class="muted">no trades today</p>'
    if unexplained:
        return f'<p class="muted">{_e(unexplained)}</p>'
    missing = sorted(set(trades["ticker"].astype(str)) - set(reasons["ticker"].astype(str)))
    note = (f'<p class="muted">not explained (no prediction today by the model in force): '
            f'{_e(", ".join(missing))}</p>' if missing else "")
    if len(reasons) == 0:
        return note
    k = int(reasons["rank"].max())
    table = (reasons.sort_values(["ticker", "rank"], kind="stable")
             .assign(reason=lambda f: [_reason(*r) for r in zip(f["feature"], f["contribution"], f["value"],
                                                                 strict=True)])
             .pivot(index=["ticker", "side", "prediction", "bias", "others"], columns="rank", values="reason")
             .reset_index())
    table = table.rename(columns={"bias": "expected value", "others": "other features",
                                  **{r: f"#{r}" for r in range(1, k + 1)}})
    table = table[["ticker", "side", "prediction", "expected value", *(f"#{r}" for r in range(1, k + 1)),
                   "other features"]].fillna("")
    return (f"<p>Each traded name's prediction is the model's expected value plus one contribution per "
            f"feature (LightGBM's SHAP values): its {k} largest by size, signed (+ pushed the prediction "
            f"up), with the feature's value, and the other features' sum.</p>"
            + _table(table, formats={c: fmt.signed for c in ("prediction", "expected value", "other features")},
                     right=["prediction", "expected value", "other features"])
            + note)


def _status_class(status: object) -> str:
    return "pass" if status == "approved" else "fail"


def _checks_section(checks: Sequence[CheckResult]) -> str:
    if not checks:
        return '<p class="fail">no safety checks were run</p>'
    table = pd.DataFrame({"rule": [c.name for c in checks],
                          "result": ["PASS" if c.passed else "FAIL" for c in checks],
                          "detail": [c.detail for c in checks]})
    return _table(table, cell_class={"result": lambda r: "pass" if r == "PASS" else "fail"})


def _value_html(value: Any) -> str:
    """Any JSON-like value as escaped HTML: mappings as key/value tables, record lists as tables."""
    if isinstance(value, Mapping):
        if not value:
            return '<span class="muted">(empty)</span>'
        rows = "".join(f"<tr><th>{_e(k)}</th><td>{_value_html(v)}</td></tr>"
                       for k, v in value.items())
        return f"<table>{rows}</table>"
    if isinstance(value, (list, tuple)):
        if value and all(isinstance(v, Mapping) for v in value):
            keys: list[str] = []
            for record in value:
                keys.extend(str(k) for k in record if str(k) not in keys)
            return _table(pd.DataFrame([{k: r.get(k) for k in keys} for r in value], columns=keys))
        if not value:
            return '<span class="muted">(none)</span>'
        return _e(", ".join(_fmt(v) for v in value))
    return _e(_fmt(value))


def _top_drift(drift: Any) -> pd.DataFrame | None:
    """The most drifted features as a table, or None if ``drift`` has no known shape.

    ``{"top": [records]}`` (:func:`ml.monitoring.monitoring_log`, already
    ranked) is shown as given; ``{feature: score}`` is ranked by ``|score|``
    descending, missing scores last.
    """
    if isinstance(drift, Mapping) and isinstance(drift.get("top"), list) \
            and all(isinstance(r, Mapping) for r in drift["top"]):
        records = drift["top"][:TOP_DRIFTED_FEATURES]
        keys: list[str] = []
        for record in records:
            keys.extend(str(k) for k in record if str(k) not in keys)
        return pd.DataFrame([[r.get(k) for k in keys] for r in records], columns=keys)
    if isinstance(drift, Mapping) and drift and all(
            v is None or _is_number(v) for v in drift.values()):
        def size(item: tuple[Any, Any]) -> tuple[float, str]:
            v = item[1]
            return (math.inf if v is None else -abs(float(v)), str(item[0]))

        ranked = sorted(drift.items(), key=size)[:TOP_DRIFTED_FEATURES]
        return pd.DataFrame(ranked, columns=["feature", "drift"])
    return None


def _without_shown(log: dict[str, Any], shown_top: bool) -> dict[str, Any]:
    """``log`` minus what the model-health section already shows above it."""
    rest = dict(log)
    drift = rest.get("model_drift")
    if isinstance(drift, dict) and "review_model" in drift:
        rest["model_drift"] = {k: v for k, v in drift.items()
                               if k not in ("review_model", "reason")}
    else:
        for key in ("review_model", "review_reason", "reason"):
            rest.pop(key, None)
    feature = rest.get("feature_drift")
    if shown_top and isinstance(feature, dict) and "top" in feature:
        rest["feature_drift"] = {k: v for k, v in feature.items() if k != "top"}
    elif shown_top:
        rest.pop("feature_drift", None)
    return {k: v for k, v in rest.items() if v not in ({}, [])}


def _model_health(monitoring: Mapping[str, Any]) -> str:
    if not monitoring:
        return '<p class="muted">no monitoring yet</p>'
    flag, reason, _ = _review(monitoring)
    if flag is None:
        head = '<p class="muted">review_model: not reported</p>'
    elif flag:
        head = f'<p class="fail">review_model: YES{": " + _e(reason) if reason else ""}</p>'
    else:
        head = f'<p class="pass">review_model: no{" (" + _e(reason) + ")" if reason else ""}</p>'
    log = jsonable(monitoring, "monitoring")
    top = _top_drift(log.get("feature_drift"))
    top_html = f"<h3>Top drifted features</h3>{_table(top)}" if top is not None and len(top) else ""
    rest = _without_shown(log, shown_top=top is not None)
    return head + top_html + ("<h3>Monitoring log</h3>" + _value_html(rest) if rest else "")


def _render_html(
    data: ReportData,
    date: pd.Timestamp,
    weights: pd.DataFrame,
    trades: pd.DataFrame,
    checks: Sequence[CheckResult],
    reasons: pd.DataFrame,
) -> str:
    day = date.strftime("%Y-%m-%d")
    flag, reason, _ = _review(data.monitoring)
    review = (f'<div class="banner review">MODEL REVIEW NEEDED'
              f'{": " + _e(reason) if reason else ""}</div>'
              if flag else "")
    notes = ("<ul>" + "".join(f"<li>{_e(n)}</li>" for n in data.notes) + "</ul>") if data.notes \
        else '<p class="muted">none</p>'
    sections = [
        f"<h1>tradepipe daily report &mdash; {_e(day)}</h1>",
        '<div class="meta">',
        f"<p><span>Regime today: {_regime_line(data)}</span></p>",
        f"<p><span>Champion model: {_model_line(data.model)}</span></p>",
        "</div>",
        _banner(checks, trades, _today_switch(data)),
        review,
        "<h2>Performance</h2>", _performance(data),
        "<h2>Equity</h2>", _img(charts.equity_chart(data.equity), "equity curves"),
        "<h2>Drawdown</h2>", _img(charts.drawdown_chart(data.drawdown, f"Drawdown: {STRATEGY}"),
                                  f"{STRATEGY} drawdown"),
        "<h2>Regime</h2>", _img(charts.regime_timeline(data.regimes), "regime timeline"),
        "<h2>Rank IC</h2>", _img(charts.ic_chart(data.ic), "daily rank IC and rolling mean"),
        "<h2>Today's portfolio</h2>", _portfolio(weights),
        "<h2>Today's trades</h2>", _trades_section(trades),
        "<h2>Why these trades</h2>", _reasons_section(trades, reasons, data.unexplained),
        "<h2>Safety checks</h2>", _checks_section(checks),
        "<h2>Kill switch</h2>", _kill_switch_section(data, trades),
        "<h2>Champion model</h2>", _champion(data.model),
        "<h2>Model health</h2>", _model_health(data.monitoring),
        "<h2>Notes</h2>", notes,
    ]
    body = "\n".join(s for s in sections if s)
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>tradepipe report {_e(day)}</title>\n<style>{_CSS}</style>\n</head>\n"
            f"<body>\n{body}\n</body>\n</html>\n")
