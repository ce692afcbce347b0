"""The daily decision tables: a date's decision is replaced as a whole, stage by stage."""

import duckdb
import pandas as pd
import pytest

from assets.warehouse import trading
from assets.warehouse.connection import transaction
from ml.trades import KillSwitchState

DAY = pd.Timestamp("2020-01-02")
OTHER = pd.Timestamp("2020-01-03")


def _switch(state: KillSwitchState, halt_start=None) -> pd.DataFrame:
    return pd.DataFrame([{"mode": "derisk", **state.record(), "halt_start": halt_start, "detail": ""}])


def _decide(con, day, tickers, switch: KillSwitchState = KillSwitchState()):
    rows = pd.DataFrame({"ticker": tickers})
    with transaction(con):
        trading.write_stage(con, "signals", day, {"trading.signals": rows.assign(score=1.0, signal=1, method="rank")})
        trading.write_stage(con, "weights", day, {"trading.target_weights": rows.assign(weight=0.1, optimizer="ew"),
                                                  "trading.portfolios": pd.DataFrame([{"valid": True}])})
        trading.write_stage(con, "trades", day, {"trading.trades": rows.assign(side="BUY", status="approved"),
                                                 "trading.safety_checks": pd.DataFrame([{"check": "x", "passed": True}]),
                                                 "trading.kill_switch": _switch(switch, day if switch.halted else None),
                                                 "trading.trade_reasons": rows.assign(side="BUY", rank=1, feature="f",
                                                                                      contribution=0.1)})
        trading.write_stage(con, "approval", day, {"trading.trade_approvals": pd.DataFrame([{"approved": True}])})
        trading.write_stage(con, "positions", day, {"trading.positions": rows.assign(shares=10),
                                                    "trading.paper_book": pd.DataFrame([{"cash": 1.0, "equity": 2.0}])})


def _count(con, table, day):
    return con.execute(f"select count(*) from {table} where date = ?", [day.date()]).fetchone()[0]


def test_a_rerun_of_a_stage_clears_the_later_stages_of_that_date_only():
    con = duckdb.connect()
    _decide(con, DAY, ["A", "B"])
    _decide(con, OTHER, ["A"])
    with transaction(con):  # the date re-decided up to the trades, then blocked before the book moves
        trading.write_stage(con, "trades", DAY, {"trading.trades": pd.DataFrame({"ticker": ["C"], "side": ["BUY"],
                                                                                 "status": ["blocked"]}),
                                                 "trading.safety_checks": pd.DataFrame([{"check": "x", "passed": False}]),
                                                 "trading.trade_reasons": pd.DataFrame({"ticker": ["C"], "rank": [1]})})
    assert _count(con, "trading.signals", DAY) == 2 and _count(con, "trading.target_weights", DAY) == 2
    for table in ("trading.trades", "trading.trade_reasons"):  # the blocked orders keep their reasons
        assert con.execute(f"select list(ticker) from {table} where date = ?", [DAY.date()]).fetchone()[0] == ["C"]
    assert _count(con, "trading.trade_reasons", OTHER) == 1
    for table in ("trading.trade_approvals", "trading.positions", "trading.paper_book"):
        assert _count(con, table, DAY) == 0, table
        assert _count(con, table, OTHER) > 0, table  # other dates untouched


def test_a_failed_write_leaves_the_previous_decision():
    con = duckdb.connect()
    _decide(con, DAY, ["A", "B"])
    with pytest.raises(ValueError, match="stage signals writes"):
        with transaction(con):
            trading.write_stage(con, "signals", DAY, {"trading.signals": pd.DataFrame({"ticker": ["Z"]})})
            trading.write_stage(con, "signals", DAY, {"trading.positions": pd.DataFrame({"ticker": ["Z"]})})
    assert con.execute("select list(ticker order by ticker) from trading.signals").fetchone()[0] == ["A", "B"]
    assert _count(con, "trading.positions", DAY) == 2


def test_clear_decisions_from_signals_empties_the_date():
    con = duckdb.connect()
    _decide(con, DAY, ["A"])
    with transaction(con):
        trading.clear_decisions(con, DAY)
    for tables in trading.STAGES.values():
        for table in tables:
            assert _count(con, table, DAY) == 0


def test_the_book_before_a_date_is_the_latest_earlier_one():
    con = duckdb.connect()
    _decide(con, DAY, ["A", "B"])
    book, last = trading.book_before(con, OTHER, capital=100.0)
    assert last == DAY and book.cash == 1.0 and book.shares.to_dict() == {"A": 10, "B": 10}
    empty, none = trading.book_before(con, DAY, capital=100.0)
    assert none is None and empty.cash == 100.0 and empty.shares.empty


def test_the_kill_switch_a_date_starts_from_is_the_latest_earlier_one_and_a_rerun_replaces_it():
    con = duckdb.connect()
    assert trading.kill_switch_before(con, DAY) == (KillSwitchState(), None)  # no table yet: armed
    fired = KillSwitchState(True, 1, 0, "fired", -0.05, None)
    _decide(con, DAY, ["A"], fired)
    assert trading.kill_switch_before(con, DAY) == (KillSwitchState(), None)  # only earlier dates count
    assert trading.kill_switch_before(con, OTHER) == (fired, DAY)
    _decide(con, OTHER, ["A"], KillSwitchState(True, 2, 0, "", 0.01, 0.3))
    with transaction(con):  # OTHER re-decided: its row replaced, DAY's untouched, the start state the same
        trading.write_stage(con, "trades", OTHER, {"trading.kill_switch": _switch(KillSwitchState(True, 2, 0, ""), DAY)})
    assert trading.kill_switch_before(con, OTHER) == (fired, DAY)
    rows = trading.kill_switch_history(con, OTHER)
    assert rows["status"].tolist() == ["halted", "halted"] and rows["halt_days"].tolist() == [1, 2]
    assert _count(con, "trading.kill_switch", OTHER) == 1


def test_a_column_a_newer_version_writes_is_added_to_an_older_table():
    con = duckdb.connect()
    with transaction(con):
        trading.write_stage(con, "approval", DAY, {"trading.trade_approvals": pd.DataFrame([{"approved": True}])})
        trading.write_stage(con, "approval", OTHER, {"trading.trade_approvals": pd.DataFrame(
            [{"approved": False, "kill_switch": "halted"}])})
    rows = con.execute("select date, approved, kill_switch from trading.trade_approvals order by date").fetchall()
    assert rows == [(DAY.date(), True, None), (OTHER.date(), False, "halted")]
