"""Tests for ml.reports and the report charts in ml.reports.charts.

The page must be self-contained (no scripts, no external URLs, charts embedded
as base64 PNG), escape every piece of text from data, say clearly whether the
trades were blocked, and still work on a first run with no history. The data
files must be strict JSON / plain CSV and byte-identical when written twice.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from ml.reports import (
    FILES,
    ReportData,
    charts,
    render_report,
    report_folder,
    write_report,
)
from ml.trades import CheckResult

PNG = b"\x89PNG\r\n\x1a\n"
DATE = pd.Timestamp("2024-03-28")
CHART_COUNT = 4  # equity, drawdown, regime timeline, rank IC


def _history(n: int = 120) -> dict[str, Any]:
    idx = pd.bdate_range(end=DATE, periods=n)
    rng = np.random.default_rng(7)
    equity = pd.DataFrame(
        {name: np.cumprod(1 + rng.normal(4e-4, 0.01, n))
         for name in ("strategy", "equal_weight_universe", "^GSPC")}, index=idx)
    equity.iloc[:10, 2] = np.nan  # a benchmark that starts later
    drawdown = equity["strategy"] / equity["strategy"].cummax() - 1
    regimes = pd.Series(np.repeat(["risk_on", "neutral", "risk_off", "risk_on"], n // 4), index=idx)
    ic = pd.DataFrame({"rank_ic": rng.normal(0.02, 0.1, n)}, index=idx)
    ic["rolling_rank_ic"] = ic["rank_ic"].rolling(20).mean()  # NaN for the first 19 days
    return {"equity": equity, "drawdown": drawdown, "regimes": regimes, "ic": ic}


def _monitoring() -> dict[str, object]:
    """Shaped like ml.monitoring.monitoring_log, with NaN/inf/Timestamp left in on purpose."""
    return {
        "as_of": DATE,
        "ic": {"date": DATE, "ic": 0.01, "rank_ic": np.float64(np.nan), "n": 50,
               "rolling_ic": float("inf"), "rolling_rank_ic": -0.02, "n_dates": 120},
        "model_drift": {"review_model": True, "share_below": 0.7, "latest_rolling_ic": -0.02,
                        "days": 126, "reason": "review the model: rolling IC < 0 on 70%"},
        "feature_drift": {
            "counts": {"ok": 5, "warn": 1, "alert": 1, "unknown": 0},
            "top": [{"feature": "ret_21d", "psi": 0.31, "status": "alert", "n_train": 900,
                     "n_today": 50},
                    {"feature": "<script>", "psi": 0.12, "status": "warn", "n_train": 900,
                     "n_today": 50}]},
    }


def _data(checks: list[CheckResult] | None = None, **changes: object) -> ReportData:
    weights = pd.DataFrame({
        "ticker": ["AAA", "<b>X</b>", "CCC"],
        "weight": [0.05, 0.10, 0.07],
        "sector": ["Tech", "Energy", None],
        "score": [0.8, np.nan, 0.6],
        "as_of": pd.to_datetime([DATE] * 3),
    })
    trades = pd.DataFrame({
        "ticker": ["<b>X</b>", "AAA"],
        "side": ["BUY", "SELL"],
        "shares": [10, 3],
        "price": [100.0, 50.5],
        "notional": [1000.0, 151.5],
        "commission_est": [0.1, 0.01515],
        "slippage_est": [0.5, 0.07575],
        "status": ["approved", "approved"],
        "reason": ["all 2 checks passed"] * 2,
        "liquidity_flag": pd.array([False, pd.NA], dtype="boolean"),
    })
    signals = pd.DataFrame({"ticker": ["AAA", "<b>X</b>", "CCC"], "score": [0.8, np.nan, 0.6],
                            "signal": [1, 0, 1], "method": "rank"})
    base = dict(
        date=DATE, **_history(), regime_today="risk_on",
        regime_probs={"prob_risk_on": 0.7, "prob_neutral": 0.2, "prob_risk_off": 0.1},
        weights=weights, trades=trades, signals=signals,
        checks=checks if checks is not None else [CheckResult("max_weight", True, "max 0.10"),
                                                  CheckResult("turnover", True, "turnover 0.01")],
        summary={"cagr": 0.12, "sharpe": 1.1, "max_drawdown": -0.15, "final_equity": 1234.5},
        benchmarks={"^GSPC": {"cagr": 0.08, "sharpe": 0.7, "max_drawdown": np.nan}},
        monitoring=_monitoring(),
        model={"model_id": "lgbm-h5-abc123", "model_type": "lightgbm", "horizon": 5,
               "train_end": pd.Timestamp("2024-01-31"), "cv_rank_ic": 0.031},
        notes=["kill switch not triggered", "ticker <i>Y</i> delisted"],
    )
    return replace(ReportData(**base), **changes)


def _light(**changes: object) -> ReportData:
    """:func:`_data` without history: same tables and checks, cheap "no data yet" charts."""
    return _data(**{"equity": pd.DataFrame(), "drawdown": pd.Series(dtype=float),
                    "regimes": pd.Series(dtype=object), "ic": pd.DataFrame(), **changes})


def _empty(**changes: object) -> ReportData:
    """A first run: no history, no backtest, no monitoring, nothing held or traded yet."""
    base = dict(
        date=DATE, equity=pd.DataFrame(), drawdown=pd.Series(dtype=float),
        regimes=pd.Series(dtype=object), regime_today=None, regime_probs={},
        ic=pd.DataFrame(), weights=pd.DataFrame(), trades=pd.DataFrame(),
        signals=pd.DataFrame(), checks=[], summary={}, benchmarks={}, monitoring={}, model={},
    )
    return replace(ReportData(**base), **changes)


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Path]]:
    folder = tmp_path_factory.mktemp("home") / "reports" / "2024-03-28"  # created by write_report
    return folder, write_report(folder, _data())


def _html(paths: dict[str, Path]) -> str:
    return paths["report"].read_text(encoding="utf-8")


def test_writes_all_five_files(written: tuple[Path, dict[str, Path]]) -> None:
    folder, paths = written
    assert set(paths) == set(FILES)
    assert {p.name for p in paths.values()} == set(FILES.values())
    assert sorted(p.name for p in folder.iterdir()) == sorted(FILES.values())  # no temp files left
    assert all(p.parent == folder and p.stat().st_size > 0 for p in paths.values())


def test_report_folder_is_home_reports_iso_date(tmp_path: Path) -> None:
    assert report_folder(tmp_path, "2024-03-28 00:00") == tmp_path / "reports" / "2024-03-28"


def test_html_is_self_contained(written: tuple[Path, dict[str, Path]]) -> None:
    page = _html(written[1])
    assert "<script" not in page.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.IGNORECASE)
    assert "<link" not in page.lower() and "@import" not in page and "url(" not in page
    images = re.findall(r'<img [^>]*src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == CHART_COUNT
    assert page.count("<img") == CHART_COUNT
    assert all(base64.b64decode(i).startswith(PNG) for i in images)


def test_html_sections_and_values(written: tuple[Path, dict[str, Path]]) -> None:
    page = _html(written[1])
    for heading in ("Performance", "Equity", "Drawdown", "Regime", "Rank IC", "Today's portfolio",
                    "Today's trades", "Safety checks", "Model health", "Notes"):
        assert f"<h2>{heading}</h2>" in page
    assert "2024-03-28" in page and "<b>risk_on</b>" in page and "70.00%" in page
    assert "lgbm-h5-abc123" in page and "2024-01-31" in page
    assert "MODEL REVIEW NEEDED: review the model: rolling IC &lt; 0 on 70%" in page
    assert "review_model: YES" in page
    assert "Top drifted features" in page and "ret_21d" in page and "alert" in page
    assert page.index("ret_21d") < page.index("&lt;script&gt;")  # larger drift first
    assert "share_below" in page and "n_dates" in page  # the rest of the log is shown too
    # performance: the model strategy (named as in trading.backtest_daily) and the benchmark side by
    # side, fractions in percent, ratios with two decimals
    assert "<th>metric</th><th>model</th><th>^GSPC</th>" in page and "12.00%" in page and "-15.00%" in page
    assert "<td>Sharpe</td><td class=\"num\">1.10</td>" in page
    # weights sorted by weight descending, with sector totals (missing sector shown)
    portfolio = page[page.index("<h2>Today's portfolio</h2>"):page.index("<h2>Today's trades")]
    assert portfolio.index("&lt;b&gt;X&lt;/b&gt;") < portfolio.index("CCC") < portfolio.index("AAA")
    assert "Sector totals" in portfolio and "(no sector)" in portfolio and "22.00%" in portfolio


def test_user_text_is_escaped(written: tuple[Path, dict[str, Path]]) -> None:
    page = _html(written[1])
    assert "<b>X</b>" not in page and "&lt;b&gt;X&lt;/b&gt;" in page
    assert "<i>Y</i>" not in page and "&lt;i&gt;Y&lt;/i&gt;" in page
    assert "&lt;script&gt;" in page


def test_blocked_banner_lists_failed_rules(tmp_path: Path) -> None:
    checks = [CheckResult("max_weight", True, "ok"),
              CheckResult("max_sector", False, "over 30.00%: {'<Tech>': 0.41}"),
              CheckResult("daily_loss", False, "last return -0.05")]
    page = _html(write_report(tmp_path, _light(checks=checks)))
    banner = re.search(r'<div class="banner blocked">(.*?)</div>', page)
    assert banner is not None
    assert banner.group(1).startswith("TRADES BLOCKED: ")
    assert "max_sector: over 30.00%: {&#x27;&lt;Tech&gt;&#x27;: 0.41}" in banner.group(1)
    assert "daily_loss: last return -0.05" in banner.group(1)
    assert "max_weight" not in banner.group(1)
    assert "trades approved" not in page
    assert page.count(">FAIL<") == 2 and page.count(">PASS<") == 1


def test_approved_banner_when_all_checks_pass(written: tuple[Path, dict[str, Path]]) -> None:
    page = _html(written[1])
    assert '<div class="banner approved">trades approved' in page
    assert "TRADES BLOCKED" not in page


def test_first_run_with_no_history_writes_a_valid_report(tmp_path: Path) -> None:
    paths = write_report(tmp_path / "new", _empty())
    page = _html(paths)
    assert page.count("data:image/png;base64,") == CHART_COUNT  # "no data yet" charts
    assert "TRADES BLOCKED: no safety check results" in page  # unchecked is never approved
    assert "no regime yet" in page and "no backtest yet" in page and "no trades today" in page
    assert paths["trades"].read_text().startswith("ticker,side,shares,")
    assert paths["portfolio_weights"].read_text() == "ticker,weight,sector,score\n"
    assert json.loads(paths["signals"].read_text()) == {"date": "2024-03-28", "method": None,
                                                         "signals": []}
    assert json.loads(paths["monitoring_log"].read_text()) == {}


def _reject_constant(token: str) -> None:
    raise AssertionError(f"non-standard JSON token {token}")


def test_json_files_are_strict_json_without_nan(written: tuple[Path, dict[str, Path]]) -> None:
    paths = written[1]
    for name in ("signals", "monitoring_log"):
        text = paths[name].read_text(encoding="utf-8")
        assert "NaN" not in text and "Infinity" not in text
        json.loads(text, parse_constant=_reject_constant)
    signals = json.loads(paths["signals"].read_text())
    assert signals["date"] == "2024-03-28" and signals["method"] == "rank"
    assert signals["signals"][1] == {"ticker": "<b>X</b>", "score": None, "signal": 0}
    log = json.loads(paths["monitoring_log"].read_text())
    assert log["ic"]["rank_ic"] is None and log["ic"]["rolling_ic"] is None  # NaN, inf
    assert log["as_of"] == "2024-03-28" and log["ic"]["date"] == "2024-03-28"
    assert log["model_drift"]["review_model"] is True
    assert log["feature_drift"]["top"][1]["feature"] == "<script>"  # JSON keeps raw text


def test_csv_files(written: tuple[Path, dict[str, Path]]) -> None:
    paths = written[1]
    weights = pd.read_csv(paths["portfolio_weights"])
    assert weights["ticker"].tolist() == ["<b>X</b>", "CCC", "AAA"]  # weight descending
    assert weights["as_of"].tolist() == ["2024-03-28"] * 3  # ISO dates, no time
    trades = pd.read_csv(paths["trades"])
    assert list(trades.columns[:3]) == ["ticker", "side", "shares"] and len(trades) == 2
    assert "Unnamed: 0" not in trades.columns  # no index written


def test_writing_twice_is_byte_identical(tmp_path: Path) -> None:
    paths = write_report(tmp_path, _light())  # csv/json do not depend on the history
    before = {name: paths[name].read_bytes() for name in ("trades", "portfolio_weights",
                                                          "signals", "monitoring_log")}
    write_report(tmp_path, _light())
    for name, content in before.items():
        assert paths[name].read_bytes() == content
    assert render_report(_light())["report"] == paths["report"].read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(FILES.values())


@pytest.mark.parametrize(("changes", "message"), [
    ({"weights": pd.DataFrame({"weight": [0.1], "sector": ["Tech"], "score": [1.0]})},
     r"weights is missing columns \['ticker'\]"),
    ({"trades": pd.DataFrame({"ticker": ["A"], "side": ["BUY"]})}, r"trades is missing columns \["),
    ({"signals": pd.DataFrame({"ticker": ["A", "B"], "score": [1.0, 0.5], "signal": [1, 0],
                               "method": ["rank", "zscore"]})},
     r"several methods \['rank', 'zscore'\]"),
    ({"weights": pd.DataFrame({"ticker": ["A", "A"], "weight": [0.1, 0.2], "sector": "T",
                               "score": 1.0})}, r"duplicated tickers \['A'\]"),
    ({"ic": pd.DataFrame({"rank_ic": [0.1]}, index=[DATE])},
     r"ic is missing columns \['rolling_rank_ic'\]"),
    ({"monitoring": {"model": object()}}, r"monitoring\['model'\] is not JSON-serialisable"),
    ({"monitoring": {"review_model": "no"}}, r"monitoring\['review_model'\] must be true/false"),
    ({"monitoring": {"model_drift": {"review_model": 1}}},
     r"monitoring\['model_drift'\]\['review_model'\] must be true/false, got 1"),
    ({"summary": {"cagr": "high"}}, r"summary has non-numeric metrics \{'cagr': 'high'\}"),
    ({"date": pd.NaT}, r"date must be a date"),
    ({"benchmarks": {"model": {"cagr": 0.1}}}, r"benchmark names \['model'\] clash"),
])
def test_invalid_data_raises_before_writing(tmp_path: Path, changes: dict[str, object],
                                            message: str) -> None:
    with pytest.raises(ValueError, match=message):
        write_report(tmp_path / "out", _data(**changes))
    assert not (tmp_path / "out").exists()


def test_flat_monitoring_log_is_understood(tmp_path: Path) -> None:
    monitoring = {"review_model": False, "reason": "ok: IC fine",
                  "feature_drift": {"vol_63d": np.nan, "ret_21d": -0.4, "<u>z</u>": 0.05}}
    page = _html(write_report(tmp_path, _light(monitoring=monitoring)))
    assert "review_model: no (ok: IC fine)" in page and "MODEL REVIEW NEEDED" not in page
    drift = page[page.index("Top drifted features"):]
    assert drift.index("ret_21d") < drift.index("&lt;u&gt;z&lt;/u&gt;") < drift.index("vol_63d")


def test_failed_write_keeps_previous_report(tmp_path: Path) -> None:
    paths = write_report(tmp_path, _empty())
    before = paths["report"].read_bytes()
    with pytest.raises(ValueError):
        write_report(tmp_path, _empty(weights=pd.DataFrame({"weight": [1.0]})))
    assert paths["report"].read_bytes() == before


# --------------------------------------------------------------------------- charts


def test_report_charts_return_png_and_close_figures() -> None:
    history = _history()
    open_before = plt.get_fignums()
    pngs = [
        charts.equity_chart(history["equity"]),
        charts.drawdown_chart(history["drawdown"]),
        charts.drawdown_chart(history["equity"] / history["equity"].cummax() - 1),
        charts.regime_timeline(history["regimes"]),
        charts.regime_timeline(pd.Series(["risk_on", "neutral_1", "neutral_2", "risk_off"],
                                         index=["2024-01-02", "2024-01-03", "2024-01-04",
                                                "2024-01-05"])),
        charts.ic_chart(history["ic"]),
        charts.ic_chart(history["ic"][["rank_ic"]]),
    ]
    assert all(png.startswith(PNG) for png in pngs)
    assert plt.get_fignums() == open_before


@pytest.mark.parametrize("make", [
    lambda: charts.equity_chart(pd.DataFrame()),
    lambda: charts.equity_chart(pd.DataFrame({"strategy": [np.nan]}, index=[DATE])),
    lambda: charts.drawdown_chart(pd.Series(dtype=float)),
    lambda: charts.drawdown_chart(pd.DataFrame()),
    lambda: charts.regime_timeline(pd.Series(dtype=object)),
    lambda: charts.regime_timeline(pd.Series([None], index=[DATE], dtype=object)),
    lambda: charts.ic_chart(pd.DataFrame()),
    lambda: charts.ic_chart(pd.DataFrame(columns=["rank_ic", "rolling_rank_ic"])),
])
def test_report_charts_draw_no_data_yet_for_empty_input(make: Callable[[], bytes]) -> None:
    open_before = plt.get_fignums()
    assert make().startswith(PNG)
    assert plt.get_fignums() == open_before


def test_chart_input_errors_name_the_problem() -> None:
    with pytest.raises(ValueError, match=r"equity columns must be numeric, not \['name'\]"):
        charts.equity_chart(pd.DataFrame({"name": ["a"]}, index=[DATE]))
    with pytest.raises(ValueError, match="indexed by date, got a int64 index"):
        charts.drawdown_chart(pd.Series([-0.1, 0.0]))
    with pytest.raises(ValueError, match=r"needs a 'rank_ic' column, got columns \['ic'\]"):
        charts.ic_chart(pd.DataFrame({"ic": [0.1]}, index=[DATE]))
    assert plt.get_fignums() == []


def test_existing_charts_still_work() -> None:
    history = _history()
    level = history["equity"]["strategy"]
    assert charts.regime_chart(level, history["regimes"]).startswith(PNG)
    assert charts.line_chart(history["ic"], "rank IC").startswith(PNG)


def test_performance_writes_counts_whole_and_leaves_out_what_no_column_has(tmp_path: Path) -> None:
    summary = {"cagr": 0.0707, "sharpe": 0.617, "n_days": 967.0, "blocked_days": 399.0,
               "avg_holding_days": float("nan"), "turnover": 0.0}  # a book that never held a name
    benchmarks = {"gspc": {"cagr": 0.0954, "sharpe": 0.804, "n_days": 967.0, "turnover": 0.0,
                           "blocked_days": None}}  # as read from trading.backtest_summary: NULL
    page = _html(write_report(tmp_path, _light(summary=summary, benchmarks=benchmarks)))
    performance = page[page.index("<h2>Performance</h2>"):page.index("<h2>Equity</h2>")]
    assert "<th>metric</th><th>model</th><th>gspc</th>" in performance
    assert '<td>days blocked</td><td class="num">399</td><td class="num">n/a</td>' in performance
    assert '<td>days</td><td class="num">967</td><td class="num">967</td>' in performance
    assert '<td>Sharpe</td><td class="num">0.62</td><td class="num">0.80</td>' in performance
    assert "holding" not in performance and "399.0" not in performance


def test_champion_dates_are_dates_and_cv_metrics_a_table(tmp_path: Path) -> None:
    cv = {"ic": -0.007983575238276143, "rank_ic": -0.006549630814125784, "rank_icir": -0.04151330781129638,
          "n_dates": 967}
    model = {"model_type": "lightgbm", "model_id": "a220e7d0ee8da045", "horizon": 5,
             "train_start": pd.Timestamp("2014-11-04"), "train_end": pd.Timestamp("2017-11-02"),
             "cv_metrics": json.dumps(cv)}
    page = _html(write_report(tmp_path, _light(model=model)))
    assert "train_start: <b>2014-11-04</b>" in page and "train_end: <b>2017-11-02</b>" in page
    assert "00:00:00" not in page and "&quot;rank_ic&quot;" not in page  # no raw JSON
    champion = page[page.index("<h2>Champion model</h2>"):page.index("<h2>Model health</h2>")]
    assert '<td>rank IC</td><td class="num">-0.0065</td><td class="num">n/a</td><td class="num">-0.042</td>' \
        in champion
    assert '<td>dates scored</td><td class="num">967</td>' in champion


def test_every_table_scrolls_inside_the_page(written: tuple[Path, dict[str, Path]]) -> None:
    page = _html(written[1])
    assert ".table { overflow-x: auto; max-width: 100%;" in page
    tables = re.findall(r"(.{19})<table><thead>", page)
    assert tables and all(before.endswith('<div class="table">') for before in tables)


def _reasons() -> pd.DataFrame:
    """Two reasons of the traded "<b>X</b>" (AAA, also traded, was not predicted today)."""
    return pd.DataFrame({"ticker": ["<b>X</b>"] * 2, "side": "BUY", "model_id": "m1", "rank": [1, 2],
                         "feature": ["mom_12_1", "<i>vol</i>"], "value": [0.25, np.nan],
                         "contribution": [0.00538, -0.000128], "bias": 1.26e-06, "others": 9.83e-05,
                         "prediction": 0.00535})


def _why(page: str) -> str:
    return page[page.index("<h2>Why these trades</h2>"):page.index("<h2>Safety checks</h2>")]


def test_why_these_trades_shows_each_traded_names_top_features_signed(tmp_path: Path) -> None:
    why = _why(_html(write_report(tmp_path, _light(reasons=_reasons()))))
    assert "<th>#1</th><th>#2</th><th>other features</th>" in why
    assert "<td>&lt;b&gt;X&lt;/b&gt;</td><td>BUY</td>" in why
    assert "<td>mom_12_1 +0.00538 (value 0.2500)</td>" in why
    assert "<td>&lt;i&gt;vol&lt;/i&gt; -0.000128 (value n/a)</td>" in why
    assert '<td class="num">+0.00535</td><td class="num">+1.26e-06</td>' in why
    assert "not explained (no prediction today by the model in force): AAA" in why


def test_why_these_trades_says_in_one_line_when_the_model_is_not_lightgbm(tmp_path: Path) -> None:
    line = "no feature contributions: the model that scored the day (m2) is ridge; they are computed for " \
           "LightGBM models only"
    why = _why(_html(write_report(tmp_path, _light(unexplained=line))))
    assert line in why and "<table>" not in why
    assert "no trades today" in _why(_html(write_report(tmp_path, _light(trades=pd.DataFrame()))))


def test_reasons_missing_columns_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"reasons is missing columns \['contribution'"):
        write_report(tmp_path / "out", _light(reasons=_reasons().drop(columns=["contribution", "bias"])))


def _switch_history() -> pd.DataFrame:
    """Two halts: 3 days from 2024-03-15 (re-armed after the cooldown), and one in force since 2024-03-27."""
    dates = pd.bdate_range(end=DATE, periods=12)
    status = ["armed"] * 2 + ["halted"] * 3 + ["armed"] * 5 + ["halted"] * 2
    event = [""] * 2 + ["fired", "", ""] + ["rearmed: sharpe recovered"] + [""] * 4 + ["fired", ""]
    halt_days = [0, 0, 1, 2, 3, 0, 0, 0, 0, 0, 1, 2]
    start = [None] * 2 + [dates[2]] * 3 + [None] * 5 + [dates[10]] * 2
    return pd.DataFrame({"date": dates, "mode": "derisk", "status": status, "halt_days": halt_days, "event": event,
                         "halt_start": start, "detail": ["armed"] * 10 + ["halted day 1", "halted <day> 2"]})


def test_a_derisk_halt_shows_what_it_allowed_and_every_halt(tmp_path: Path) -> None:
    checks = [CheckResult("max_weight", True, "ok"), CheckResult("trailing_sharpe", False, "Sharpe 0.1 vs min 0.5"),
              CheckResult("kill_switch", False, "halted <day> 2")]
    data = _light(checks=checks)
    trades = pd.DataFrame({"ticker": ["AAA", "BBB", "CCC"], "side": ["SELL", "BUY", "BUY"], "shares": [10, 5, 5],
                           "price": [10.0] * 3, "notional": [100.0, 50.0, 50.0], "commission_est": [0.01] * 3,
                           "slippage_est": [0.05] * 3, "status": ["approved", "blocked", "blocked"],
                           "reason": ["de-risking sell", "no new risk", "no new risk"], "liquidity_flag": [False] * 3})
    page = _html(write_report(tmp_path, replace(data, trades=trades, kill_switch=_switch_history())))
    banner = re.search(r'<div class="banner halted">(.*?)</div>', page)
    assert banner is not None and "TRADES BLOCKED" not in page
    assert banner.group(1).startswith("KILL SWITCH HALTED since 2024-03-27 (day 2): no new risk")
    assert "sells approved 1, buys blocked 2" in banner.group(1) and "halted &lt;day&gt; 2" in banner.group(1)
    section = page[page.index("<h2>Kill switch</h2>"):]
    assert "2 halts, 5 halted days, the longest 3 days" in section
    assert "rearmed: sharpe recovered" in section and "in force" in section and "2024-03-15" in section


def test_a_freeze_halt_or_another_failed_rule_is_a_blocked_day(tmp_path: Path) -> None:
    checks = [CheckResult("turnover", False, "turnover 0.9"), CheckResult("kill_switch", False, "halted day 2")]
    page = _html(write_report(tmp_path, replace(_light(checks=checks), kill_switch=_switch_history())))
    assert '<div class="banner blocked">TRADES BLOCKED: ' in page and 'class="banner halted"' not in page
    frozen = _switch_history().assign(mode="freeze")
    page = _html(write_report(tmp_path, replace(_light(checks=checks[1:]), kill_switch=frozen)))
    assert '<div class="banner blocked">TRADES BLOCKED: kill_switch: halted day 2' in page


def test_a_report_without_kill_switch_rows_says_so(tmp_path: Path) -> None:
    page = _html(write_report(tmp_path, _light()))
    assert "no kill-switch state recorded for this date" in page
