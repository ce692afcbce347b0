"""Incremental dbt builds: a warehouse grown day by day equals one built from scratch, and anything
but new dates (a restated bar, a late bar, an edited model, a failed build) forces a full refresh."""

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from assets.dbt import DBT_PROJECT_DIR, DBT_RUNS_KEPT, PARTIAL_PARSE, _build_folder
from assets.warehouse import builds as dbt_builds
from assets.warehouse.publish import publish_analytics
from tests.helpers import WAREHOUSE_ONLY, materialize_pipeline, query, sample_slice

TICKERS = ["AEP", "AMZN", "BHF", "C", "CSRA", "CVX", "DUK", "FB", "CTAS", "CRM", "DE", "BMY"]
# Every table the incremental models write, with its key.
TABLES = {
    "intermediate.int_prices_flagged": ["ticker", "date"],
    "intermediate.int_trading_days_numbered": ["date"],
    "intermediate.int_prices_validated": ["ticker", "date"],
    "intermediate.int_returns_windowed": ["ticker", "date"],
    "intermediate.int_prices_windowed": ["ticker", "date"],
    "intermediate.int_market_returns_averaged": ["date"],
    "intermediate.int_returns_regressed": ["ticker", "date"],
    "marts.fct_features": ["ticker", "date"],
    "marts.fct_labels": ["ticker", "date", "horizon"],
    "marts.fct_prices": ["ticker", "date"],
    "marts.quarantine": ["ticker", "date", "rule"],
}


def _prices_through(source: Path, target: Path, last_date: str) -> Path:
    frame = pd.read_csv(source, dtype=str)
    frame[frame["date"] <= last_date].to_csv(target, index=False)
    return target


def _builds(home: Path) -> pd.DataFrame:
    return query(home, "select * from ops.dbt_builds order by build_id")


def _assert_tables_equal(grown: Path, scratch: Path) -> None:
    for table, keys in TABLES.items():
        a = query(grown, f"select * from {table}").sort_values(keys).reset_index(drop=True)
        b = query(scratch, f"select * from {table}").sort_values(keys).reset_index(drop=True)
        assert list(a.columns) == list(b.columns), table
        assert len(a) == len(b), table
        for column in a.columns:
            if pd.api.types.is_float_dtype(b[column]):
                # window sums may add in another order: equal to the last bits, not bit for bit
                np.testing.assert_allclose(a[column], b[column], rtol=1e-9, atol=1e-12, err_msg=f"{table}.{column}")
            else:
                pd.testing.assert_series_equal(a[column], b[column], check_names=False, obj=f"{table}.{column}")


@pytest.fixture(scope="module")
def slice_paths(tmp_path_factory) -> dict[str, Path]:
    """Two and a half years of a dozen tickers, with a glitch and a gap right after the first cut."""
    folder = tmp_path_factory.mktemp("incremental_input")
    paths = sample_slice(folder, TICKERS, "2015-05-01", "2017-11-10")
    prices = pd.read_csv(paths["prices"], dtype=str)
    shifted = (prices.ticker == "AMZN") & (prices.date == "2017-11-02")  # a decimal shift: quarantined
    for column in ("open", "high", "low", "close"):
        prices.loc[shifted, column] = (prices.loc[shifted, column].astype(float) * 0.01).astype(str)
    gap = (prices.ticker == "CVX") & prices.date.isin(["2017-11-02", "2017-11-03"])  # two missing bars
    prices[~gap].to_csv(paths["prices"], index=False)
    return paths


def test_grown_day_by_day_equals_built_from_scratch(tmp_path, slice_paths):
    grown, scratch = tmp_path / "grown", tmp_path / "scratch"
    inputs = {k: v for k, v in slice_paths.items() if k != "prices"}
    models = WAREHOUSE_ONLY.without_checks()  # the dbt tests run elsewhere; here only the tables count
    published = []
    for last_date in ("2017-11-01", "2017-11-10"):  # nine new days, a glitch and a gap among them
        prices = _prices_through(slice_paths["prices"], tmp_path / f"prices_{last_date}.csv", last_date)
        materialize_pipeline(grown, prices=prices, **inputs, selection=models)
        publish_analytics(grown / "warehouse.duckdb", grown / "analytics.duckdb")
        with duckdb.connect(str(grown / "analytics.duckdb"), read_only=True) as con:
            published.append(con.execute("select mode from ops.published").fetchone()[0])
    materialize_pipeline(scratch, **slice_paths, selection=models)

    builds = _builds(grown)
    assert builds["mode"].tolist() == ["full", "incremental"]
    assert builds["status"].tolist() == ["succeeded"] * 2
    assert str(builds["prices_through"].iloc[-1].date()) == "2017-11-10"
    assert "new price rows after 2017-11-01" in builds["reason"].iloc[-1]
    assert _builds(scratch)["mode"].tolist() == ["full"]
    # each build's dbt artifacts sit in the home; the second build reused the first one's parse
    assert sorted(p.name for p in (grown / "dbt").glob("build-*")) == ["build-1", "build-2"]
    assert "Unable to do partial parsing" not in (grown / "dbt" / "build-2" / "dbt.log").read_text()
    assert query(grown, "select count(*) as n from marts.quarantine where ticker = 'AMZN' and date = '2017-11-02'").n[0] == 1
    _assert_tables_equal(grown, scratch)

    # the publication after an incremental build refreshes only recent dates: same tables
    assert published == ["full", "incremental"]
    with duckdb.connect(str(grown / "analytics.duckdb"), read_only=True) as con:
        for table, keys in TABLES.items():
            if table.startswith("marts."):
                order = ", ".join(keys)
                copy = con.execute(f"select * from {table} order by {order}").df()
                pd.testing.assert_frame_equal(copy, query(grown, f"select * from {table} order by {order}"), obj=table)


def _warehouse_with_build(path: Path, prices: pd.DataFrame) -> duckdb.DuckDBPyConnection:
    """A warehouse with raw tables and one finished build, as the dbt asset leaves it."""
    con = duckdb.connect(str(path))
    con.execute("create schema raw; create schema marts")
    con.register("p", prices)
    con.execute("create table raw.prices as select * from p")
    con.execute("create table raw.instruments as select 'A' as ticker, 'Energy' as sector")
    con.execute("create table marts.fct_features as select 1 as x")
    inputs = dbt_builds.inputs_digest(con, DBT_PROJECT_DIR, {})
    build = dbt_builds.record_start(con, dbt_builds.BuildPlan("full", "first"), inputs)
    dbt_builds.record_end(con, build, "succeeded")
    return con


def _bars(dates: list[str], ticker: str = "A") -> pd.DataFrame:
    n = len(dates)
    return pd.DataFrame({"date": pd.to_datetime(dates), "ticker": ticker, "open": 10.0, "high": 11.0, "low": 9.0,
                         "close": np.linspace(10, 10.5, n), "volume": 1e6, "adj_close": np.nan,
                         "has_adj_close": False, "source_file": "a.csv"})


@pytest.mark.parametrize("change, expected", [
    ("new_day", "incremental"),
    ("restated_bar", "price rows dated on or before 2024-01-03 changed"),
    ("late_bar", "price rows dated on or before 2024-01-03 changed"),
    ("new_ticker_history", "price rows dated on or before 2024-01-03 changed"),
    ("sectors", "raw.instruments changed"),
    ("vars", "their vars"),
    ("failed_build", "did not finish (failed)"),
    ("forced", "a full refresh was asked for"),
    ("renamed_file", "incremental"),
    ("adj_close_flag", "price rows dated on or before 2024-01-03 changed"),
])
def test_plan_names_the_reason_for_a_full_refresh(tmp_path, change, expected):
    con = _warehouse_with_build(tmp_path / "w.duckdb", _bars(["2024-01-02", "2024-01-03"]))
    dbt_vars = {}
    if change == "new_day":
        con.register("n", _bars(["2024-01-04"]))
        con.execute("insert into raw.prices select * from n")
    elif change == "restated_bar":
        con.execute("update raw.prices set close = 99 where date = '2024-01-02'")
    elif change == "late_bar":
        con.register("n", _bars(["2024-01-03"], ticker="B"))
        con.execute("insert into raw.prices select * from n")
    elif change == "new_ticker_history":
        con.register("n", _bars(["2024-01-02", "2024-01-03", "2024-01-04"], ticker="C"))
        con.execute("insert into raw.prices select * from n")
    elif change == "sectors":
        con.execute("update raw.instruments set sector = 'Utilities'")
    elif change == "vars":
        dbt_vars = {"label_horizons": [1]}
    elif change == "failed_build":
        build = dbt_builds.record_start(con, dbt_builds.BuildPlan("incremental", "x"),
                                        dbt_builds.inputs_digest(con, DBT_PROJECT_DIR, {}))
        dbt_builds.record_end(con, build, "failed")
    elif change == "adj_close_flag":
        con.execute("update raw.prices set has_adj_close = true where date = '2024-01-02'")
    elif change == "renamed_file":
        con.execute("update raw.prices set source_file = 'b.csv'")
    inputs = dbt_builds.inputs_digest(con, DBT_PROJECT_DIR, dbt_vars)
    plan = dbt_builds.plan_build(con, inputs, full_refresh=change == "forced")
    if expected == "incremental":
        assert plan.mode == "incremental", plan.reason
    else:
        assert plan.mode == "full"
        assert expected in plan.reason
    con.close()


def test_first_build_is_full(tmp_path):
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        plan = dbt_builds.plan_build(con, "digest")
    assert (plan.mode, plan.reason) == ("full", "first build of this warehouse")


def test_a_build_folder_starts_from_the_homes_last_parse_and_old_folders_go(tmp_path):
    runs = tmp_path / "dbt"
    for i in range(1, 8):
        (runs / f"build-{i}").mkdir(parents=True)
    (runs / "build-notes").mkdir()  # not a build folder: left alone
    (runs / PARTIAL_PARSE).write_bytes(b"parse of build 7")
    folder = _build_folder(tmp_path, 8)
    assert folder == runs / "build-8" and (folder / PARTIAL_PARSE).read_bytes() == b"parse of build 7"
    assert {p.name for p in runs.glob("build-*")} == {"build-notes"} | {
        f"build-{i}" for i in range(8 - DBT_RUNS_KEPT + 1, 9)}
    (runs / "build-9").mkdir()
    (runs / "build-9" / "stale").write_text("a leftover of a deleted warehouse")
    assert list(_build_folder(tmp_path, 9).iterdir()) == [runs / "build-9" / PARTIAL_PARSE]
