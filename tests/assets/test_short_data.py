"""Data shorter and narrower than the defaults (20 tickers x under 3 years), with no settings: the
run adapts by the documented rules (ml.adapt), says so, and decides the last date."""

import json

from tests.helpers import SAMPLE_LAST_DATE, materialize_pipeline, query, sample_slice

TICKERS = ["AVB", "PXD", "SLG", "C", "AMZN", "CVX", "DUK", "HD", "MMM", "NFLX", "PEP", "AEP",
           "MCD", "QCOM", "UPS", "ORCL", "WFC", "UNH", "FDX", "NKE"]


def test_twenty_tickers_over_three_years_decide_the_last_date(tmp_path):
    paths = sample_slice(tmp_path / "input", TICKERS, "2015-01-01", SAMPLE_LAST_DATE)
    assert materialize_pipeline(tmp_path, **paths).success

    adapted = query(tmp_path, "select stage, key, configured, chosen from ops.adapted_settings order by key")
    chosen = dict(zip(adapted["key"], adapted["chosen"]))
    assert adapted.set_index("key")["configured"].to_dict()["training.train_days"] == 756
    assert chosen["training.train_days"] < 756
    # the sample's index and macro series go back to 2010: the regime model has its full window
    assert "regimes.min_train_days" not in chosen

    day = f"date = '{SAMPLE_LAST_DATE}'"
    scored = query(tmp_path, f"select count(*) as n, sum(signal) as buys from trading.signals where {day}").iloc[0]
    assert scored["buys"] >= min(10, scored["n"] // 2)  # the buy list holds min_names, not 20% of 20
    book = query(tmp_path, f"select valid, n_names, notes from trading.portfolios where {day}").iloc[0]
    assert book["valid"] and book["n_names"] >= 5, json.loads(book["notes"])
    approval = query(tmp_path, f"select * from trading.trade_approvals where {day}")
    assert len(approval) == 1
    report = (tmp_path / "reports" / SAMPLE_LAST_DATE / "report.html").read_text()
    assert "adapted to the data (training): training.train_days 756 -&gt; " in report or \
        "adapted to the data (training): training.train_days 756 -> " in report
