"""The trading assets on the bundled sample: contract tables, the report folder, idempotent
re-runs, and a blocked day (the gate's checks stop the paper book; the report is still written)."""

import json
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
import pytest

from assets.backtest import champion_oos
from assets.resources import TradingSettings
from assets.trades import explain
from ml.backtest import run_backtest
from ml.config import settings
from ml.reports import formatting as fmt
from ml.trades import REASON_COLUMNS
from tests.helpers import SAMPLE_LAST_DATE, materialize_pipeline, query

CONTRACT = {
    "trading.signals": ["date", "ticker", "score", "signal", "method"],
    "trading.target_weights": ["date", "ticker", "weight", "optimizer"],
    "trading.trades": ["date", "ticker", "side", "shares", "price", "notional", "commission_est",
                       "slippage_est", "status", "reason"],
    "trading.positions": ["date", "ticker", "shares"],
    "trading.backtest_daily": ["date", "strategy", "gross_return", "net_return", "turnover", "equity"],
}
DAILY = dg.AssetSelection.assets(
    ["trading", "signals"], ["trading", "target_weights"], ["trading", "trades"], ["trading", "trade_approval"],
    ["trading", "positions"], ["reports", "daily_report"])


@pytest.mark.parametrize("table", sorted(CONTRACT))
def test_trading_tables_of_the_contract_are_filled(sample_home, table):
    schema, name = table.split(".")
    cols = set(query(sample_home, f"select column_name from information_schema.columns "
                                  f"where table_schema = '{schema}' and table_name = '{name}'").column_name)
    assert set(CONTRACT[table]) <= cols
    assert query(sample_home, f"select count(*) as n from {table}").n[0] > 0


def test_latest_date_is_traded_within_the_limits(sample_home):
    day = query(sample_home, "select max(date) as d from ml.preds where kind = 'live'").d[0]
    weights = query(sample_home, f"select * from trading.target_weights where date = '{day}'")
    assert 10 <= len(weights) <= 20
    assert weights.weight.max() <= 0.10 + 1e-9 and weights.weight.sum() <= 1 + 1e-9
    assert weights.groupby("sector").weight.sum().max() <= 0.30 + 1e-9
    trades = query(sample_home, f"select * from trading.trades where date = '{day}'")
    assert set(trades.status) == {"approved"} and set(trades.side) <= {"BUY", "SELL"}
    book = query(sample_home, f"select * from trading.paper_book where date = '{day}'").iloc[0]
    assert book.cash >= 0
    held = query(sample_home, f"select ticker, shares from trading.positions where date = '{day}'")
    bought = trades[trades.side == "BUY"].set_index("ticker").shares
    assert held.set_index("ticker").shares.sort_index().equals(bought.sort_index())


def test_backtest_has_the_model_and_both_benchmarks(sample_home):
    summary = query(sample_home, "select * from trading.backtest_summary").set_index("strategy")
    assert set(summary.index) == {"model", "equal_weight_universe", "gspc"}
    for column in ("cagr", "volatility", "sharpe", "sortino", "max_drawdown", "calmar", "turnover", "hit_rate",
                   "avg_holding_days", "cost_drag"):
        assert column in summary.columns
    regimes = query(sample_home, "select * from trading.backtest_regimes")
    assert {"regime", "days", "sharpe", "win_rate", "mean_ic"} <= set(regimes.columns)


def test_report_folder_for_the_latest_date(sample_home):
    day = str(query(sample_home, "select max(date) as d from ml.preds where kind = 'live'").d[0])[:10]
    folder = sample_home / "reports" / day
    names = {p.name for p in folder.iterdir()}
    assert {"report.html", "trades.csv", "portfolio_weights.csv", "signals.json", "monitoring_log.json"} <= names
    html = (folder / "report.html").read_text()
    assert "data:image/png;base64" in html and "trades approved" in html.lower()


def _snapshot(home: Path) -> dict[str, pd.DataFrame]:
    return {t: query(home, f"select * exclude ({drop}) from {t} order by all") for t, drop in [
        ("trading.signals", "regime"), ("trading.target_weights", "regime"), ("trading.trades", "reason"),
        ("trading.positions", "price"), ("trading.paper_book", "mode"), ("trading.safety_checks", "detail"),
        ("trading.trade_reasons", "model_id")]}


def test_rerunning_the_day_is_idempotent(home_copy):
    before = _snapshot(home_copy)
    materialize_pipeline(home_copy, selection=DAILY)
    after = _snapshot(home_copy)
    for table, frame in before.items():
        pd.testing.assert_frame_equal(frame, after[table], obj=table)


def test_a_blocked_day_keeps_the_book_and_still_writes_the_report(home_copy):
    result = materialize_pipeline(home_copy, selection=DAILY, raise_on_error=False,
                                  trading=TradingSettings(max_trades=0))
    materialized = {tuple(e.asset_key.path) for e in result.get_asset_materialization_events()}
    assert ("trading", "trades") in materialized and ("reports", "daily_report") in materialized
    assert ("trading", "positions") not in materialized
    evaluations = result.get_asset_check_evaluations()
    failed = {e.asset_check_key.name for e in evaluations if not e.passed}
    assert failed == {"trades_within_limits"}
    assert {e.metadata["date"].value for e in evaluations if e.asset_check_key.name in
            ("portfolio_within_limits", "trades_within_limits", "kill_switch_clear")} == {"2017-11-10"}
    day = query(home_copy, "select max(date) as d from trading.trades").d[0]
    trades = query(home_copy, f"select status, reason from trading.trades where date = '{day}'")
    assert set(trades.status) == {"blocked"} and trades.reason.str.contains("max_trades").all()
    reasons = query(home_copy, f"select distinct ticker from trading.trade_reasons where date = '{day}'")
    assert sorted(reasons.ticker) == sorted(query(home_copy, f"select ticker from trading.trades where date = '{day}'").ticker)
    html = (home_copy / "reports" / str(day)[:10] / "report.html").read_text()
    assert "TRADES BLOCKED" in html
    # the blocked re-decision leaves nothing of the date's earlier, approved one
    for table in ("trading.positions", "trading.paper_book"):
        assert query(home_copy, f"select count(*) as n from {table} where date = '{day}'").n[0] == 0, table
    approval = query(home_copy, f"select approved from trading.trade_approvals where date = '{day}'")
    assert approval.approved.tolist() == [False]


def _seed_halted_book(home: Path, day: str) -> tuple[str, list[str], list[str]]:
    """The decision of an earlier date (a day before ``day``): a book holding three names the date's
    target portfolio does not hold -- two with a score on the date (swapped out) and one without
    (out of the universe: a forced exit) -- and the kill switch halted for 3 days since three days before."""
    with duckdb.connect(str(home / "warehouse.duckdb")) as con:
        swapped = [t for (t,) in con.execute(
            "select ticker from trading.signals where date = ? and score is not null and ticker not in "
            "(select ticker from trading.target_weights where date = ?) order by ticker limit 2", [day, day]).fetchall()]
        forced = [t for (t,) in con.execute(
            "select ticker from marts.fct_prices where date = ? and close > 0 and ticker not in "
            "(select ticker from trading.signals where date = ? and score is not null) order by ticker limit 1",
            [day, day]).fetchall()]
        assert len(swapped) == 2 and len(forced) == 1
        held = sorted(swapped + forced)
        before = str((pd.Timestamp(day) - pd.Timedelta(days=1)).date())
        start = str((pd.Timestamp(day) - pd.Timedelta(days=3)).date())
        con.execute("insert into trading.positions by name select ?::date as date, unnest(?) as ticker, "
                    "100::bigint as shares", [before, held])
        con.execute("insert into trading.paper_book by name select ?::date as date, 900000.0 as cash, "
                    "1000000.0 as equity, 0.0 as daily_return", [before])
        con.execute("insert into trading.kill_switch by name select ?::date as date, 'derisk' as mode, 'halted' as status, "
                    "true as halted, 3::bigint as halt_days, 0::bigint as grace_days_left, '' as event, "
                    "-0.01 as last_return, 0.1 as trailing_sharpe, ?::date as halt_start, 'halted day 3' as detail",
                    [before, start])
    return start, held, forced


def test_a_halted_kill_switch_persists_a_forced_exit_de_risks_the_book_and_buys_and_swaps_are_blocked(home_copy):
    """The state a date starts from is the latest earlier date's (trading.kill_switch): still halted
    (day 4 < the cooldown), the exit of the name without a score is approved and moves the book, the
    buys and the exits of the names swapped out are blocked; kill_switch_clear warns (positions
    still run); the report shows the halt; a re-run is the same."""
    day = SAMPLE_LAST_DATE
    start, held, forced = _seed_halted_book(home_copy, day)
    for _ in range(2):  # the second run re-decides the date from the same earlier state
        result = materialize_pipeline(home_copy, selection=DAILY, raise_on_error=False)
        assert result.success
        check = next(e for e in result.get_asset_check_evaluations() if e.asset_check_key.name == "kill_switch_clear")
        assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
        switch = query(home_copy, f"select * from trading.kill_switch where date = '{day}'").iloc[0]
        assert (switch.status, switch.halt_days, str(switch.halt_start)[:10]) == ("halted", 4, start)
        trades = query(home_copy, f"select ticker, side, status, reason from trading.trades where date = '{day}'")
        sells, buys = trades[trades.side == "SELL"], trades[trades.side == "BUY"]
        # the date's portfolio (decided on the seeded book) may keep a swapped name: the others are exits
        assert set(sells.ticker) <= set(held) and forced[0] in set(sells.ticker)
        assert sells.set_index("ticker").status.to_dict() == {t: "approved" if t in forced else "blocked"
                                                                for t in sells.ticker}
        assert len(buys) and set(buys.status) == {"blocked"}
        assert buys.reason.str.startswith("no new risk while halted (buys, and the exits of names swapped out): ").all()
        assert buys.reason.str.contains("kill_switch: halted day 4: buys and swaps blocked, trims and forced exits allowed").all()
        kept = query(home_copy, f"select ticker, shares from trading.positions where date = '{day}' order by ticker")
        assert kept.values.tolist() == [[t, 100] for t in held if t not in forced]
        book = query(home_copy, f"select cash from trading.paper_book where date = '{day}'").cash[0]
        assert book > 900_000  # the proceeds stay cash
        approval = query(home_copy, f"select approved, kill_switch from trading.trade_approvals where date = '{day}'")
        assert approval.values.tolist() == [[False, "halted"]]
    html = (home_copy / "reports" / day / "report.html").read_text()
    assert f"KILL SWITCH HALTED since {start} (day 4)" in html and "TRADES BLOCKED" not in html


def test_a_backfill_of_past_dates_trades_like_the_backtest(home_copy):
    """Replaying three consecutive past market dates (models and data as of each date) into a
    warehouse with no earlier paper book gives the weights of the backtest run over the same dates:
    both start from an empty book and carry it from date to date (with the default settings the
    dropout buffer binds from the second date: the book decides what is kept)."""
    trading = TradingSettings()
    dates = ["2016-03-01", "2016-03-02", "2016-03-03"]
    daily = DAILY - dg.AssetSelection.assets(["reports", "daily_report"])
    for day in dates:
        materialize_pipeline(home_copy, selection=daily | dg.AssetSelection.assets(["ml", "daily_predictions"]),
                             trading=trading, partition_key=day)
    in_force = query(home_copy, "select date, source from ml.predictions_in_force where date < '2017-01-01'")
    assert set(in_force.source) == {"walk_forward"} and len(in_force) == 3

    with duckdb.connect(str(home_copy / "warehouse.duckdb"), read_only=True) as con:
        _, preds = champion_oos(con, 5)
        prices = con.execute("select ticker, date, open, close, adv_20d_shares from marts.fct_prices").df()
        regimes = con.execute("select date, regime from ml.regimes").df().set_index("date")["regime"]
        sectors = con.execute("select ticker, sector from marts.dim_instruments").df().set_index("ticker")["sector"]
    preds = preds[pd.to_datetime(preds["date"]).isin(pd.to_datetime(dates))]
    backtest = run_backtest(preds[["date", "ticker", "yhat", "yhat_std", "prob_up"]], prices, regimes, sectors,
                            trading.spec()).weights
    for day in dates:
        replayed = query(home_copy, f"select ticker, weight from trading.target_weights where date = '{day}' "
                                    f"order by ticker")
        expected = backtest[backtest["date"] == pd.Timestamp(day)][["ticker", "weight"]].reset_index(drop=True)
        assert len(replayed) >= 10
        pd.testing.assert_frame_equal(replayed, expected, obj=day, check_dtype=False)


def test_a_past_report_shows_nothing_after_its_date(sample_home):
    from assets.reports import history_as_of

    day = pd.Timestamp("2016-03-01")
    with duckdb.connect(str(sample_home / "warehouse.duckdb"), read_only=True) as con:
        daily, summary, regimes = history_as_of(con, day)
        ends = con.execute("select max(return_end_date) from trading.backtest_daily "
                           "where date in (select date from trading.backtest_daily where date <= ?)",
                           [day.date()]).fetchone()[0]
    assert len(daily) > 0 and pd.to_datetime(daily["date"]).max() < day
    assert pd.to_datetime(regimes["date"]).max() == day
    assert set(summary["strategy"]) == {"model", "equal_weight_universe", "gspc"}
    assert summary.set_index("strategy").loc["model", "n_days"] == (daily["strategy"] == "model").sum()
    assert pd.Timestamp(ends) > day  # the latest decisions before the day had not ended yet: left out


def test_the_latest_trades_have_their_reasons(sample_home):
    """Every name traded on the last date has its top features from the champion that scored it,
    adding up to the prediction it was decided on; the published database and the report have them."""
    day = SAMPLE_LAST_DATE
    k = settings().trades.reasons_per_trade
    trades = query(sample_home, f"select ticker, side from trading.trades where date = '{day}' order by ticker")
    reasons = query(sample_home, f"select * from trading.trade_reasons where date = '{day}' order by ticker, rank")
    assert len(trades) and reasons.ticker.unique().tolist() == trades.ticker.tolist()
    assert reasons.groupby("ticker")["rank"].apply(list).map(lambda r: r == list(range(1, k + 1))).all()
    assert reasons.drop_duplicates("ticker").set_index("ticker").side.equals(trades.set_index("ticker").side)
    champion = query(sample_home, "select model_id, features from ml.model_registry where status = 'champion'").iloc[0]
    assert set(reasons.model_id) == {champion.model_id} and set(reasons.feature) <= set(json.loads(champion.features))
    preds = query(sample_home, f"select ticker, yhat from ml.preds_in_force where date = '{day}'").set_index("ticker")
    first = reasons.groupby("ticker").agg(bias=("bias", "first"), others=("others", "first"),
                                          top=("contribution", "sum"), prediction=("prediction", "first"))
    assert np.allclose(first.bias + first.top + first.others, preds.yhat[first.index], rtol=0, atol=1e-9)
    assert (first.prediction == preds.yhat[first.index]).all()
    with duckdb.connect(str(sample_home / "analytics.duckdb"), read_only=True) as con:
        assert con.execute(f"select count(*) from trading.trade_reasons where date = '{day}'").fetchone()[0] == len(reasons)
    why = (sample_home / "reports" / day / "report.html").read_text()
    why = why[why.index("<h2>Why these trades</h2>"):why.index("<h2>Safety checks</h2>")]
    row = reasons.iloc[0]
    assert f"<td>{row.ticker}</td>" in why and f"{row.feature} {fmt.signed(row.contribution)}" in why


def test_a_day_scored_by_another_model_type_gets_no_reasons_and_says_why(tmp_path):
    orders = pd.DataFrame({"ticker": ["AAA"], "side": ["BUY"]})
    preds = pd.DataFrame({"ticker": ["AAA"], "yhat": [0.1]})
    reasons, why = explain(tmp_path, "m2", {"model_type": "ridge", "artifact_path": "models/m2/m2"},
                           pd.DataFrame(), preds, orders, 3)
    assert reasons.empty and list(reasons.columns) == list(REASON_COLUMNS)
    assert why == "no feature contributions: the model that scored the day (m2) is ridge; they are computed " \
                  "for LightGBM models only"
    with pytest.raises(ValueError, match="model m2, in force on the date .* is not in ml.model_registry"):
        explain(tmp_path, "m2", None, pd.DataFrame(), preds, orders, 3)
