"""The model-selection page: wide tables scroll inside the page, numbers by kind, dates as dates."""

import datetime as dt

import numpy as np
import pandas as pd

from ml.comparison.selection_report import SelectionReport, render_html


def _report() -> SelectionReport:
    table = pd.DataFrame({
        "model": ["ridge", "lightgbm"], "optimizer": ["hrp", "equal_weight"], "window": ["validation"] * 2,
        "sharpe": [1.3123, 0.5234], "cagr": [0.1234, 0.05], "max_drawdown": [-0.081, -0.187], "calmar": [1.52, 0.27],
        "turnover": [0.0681, 0.052], "win_rate": [0.53, 0.51], "regime_consistency": [0.4, -0.2],
        "passes": [True, False], "score": [1.0, np.nan], "rank": pd.array([1, None], dtype="Int64"),
        "failed": ["", "sharpe 0.52 < 1.00"], "n_days": [378.0, 378.0]})
    matrix = pd.DataFrame({"hrp": [1.3123], "equal_weight": [0.5234]}, index=["ridge"])
    days = pd.bdate_range("2016-01-04", periods=5)
    return SelectionReport(
        as_of=dt.date(2017, 11, 2), horizon=5, reason="ridge x hrp: score 1.00", winner={"model": "ridge"},
        promoted=None, promoted_id=None, deflated=None, table=table,
        prediction_metrics=pd.DataFrame({"model": ["ridge"], "rank_ic": [0.0123456], "hit_rate": [0.5123],
                                         "n_dates": [378.0]}),
        sharpe_matrix=matrix, final_matrix=matrix, equity=pd.DataFrame({"ridge x hrp": np.linspace(1, 1.1, 5)},
                                                                       index=days),
        benchmarks=pd.DataFrame({"benchmark": ["gspc"], "window": ["validation"], "sharpe": [0.8], "cagr": [0.09]}),
        folds=pd.DataFrame({"fold": [7], "test_start": [pd.Timestamp("2016-01-04")],
                            "test_end": [pd.Timestamp("2016-04-01")]}),
        params={"ridge": {"alpha": 1.0}}, tuning={}, seconds={"ridge": 39.81234, "total": 1234.5},
        validation_start=pd.Timestamp("2015-11-04"), final_start=pd.Timestamp("2017-05-08"))


def test_selection_page_tables_and_values():
    page = render_html(_report())
    assert "body { max-width: 80em; }" in page and ".table { overflow-x: auto;" in page
    assert page.count("<table>") == page.count('<div class="table"><table>') > 0
    rows = page[page.index("<h2>Every candidate x optimizer</h2>"):page.index("<h2>Benchmarks</h2>")]
    ridge = rows[rows.index("<td>ridge</td>"):rows.index("</tr>", rows.index("<td>ridge</td>"))]
    assert ('<td class="num">1.31</td><td class="num">12.34%</td><td class="num">-8.10%</td>'
            '<td class="num">1.52</td><td class="num">6.81%</td><td class="num">53.00%</td>'
            '<td class="num">0.40</td><td>True</td><td class="num">1.00</td><td class="num">1</td>') in ridge
    quality = page[page.index("<h2>Prediction quality</h2>"):page.index("<h2>Folds")]
    assert '<td class="num">0.0123</td><td class="num">51.23%</td><td class="num">378</td>' in quality
    folds = page[page.index("<h2>Folds"):page.index("<h2>Parameters")]
    assert "2016-01-04" in folds and "00:00:00" not in folds
    time = page[page.index("<h2>Time (seconds)</h2>"):]
    assert '<td class="num">39.8</td><td class="num">1,234.5</td>' in time
    assert '<div class="banner approved">ridge x hrp: score 1.00</div>' in page
