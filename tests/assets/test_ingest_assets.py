"""The ingest assets: synthetic source selectable by config, metadata on the materializations."""

import dagster as dg

from assets.ingest import raw_tables
from assets.resources import TradepipeSettings
from tests.helpers import query


def test_synthetic_source_fills_the_raw_tables(tmp_path):
    result = dg.materialize(
        [raw_tables],
        resources={"settings": TradepipeSettings(home=str(tmp_path))},
        run_config={"ops": {"raw_tables": {"config": {
            "source": "synthetic", "synthetic_tickers": 12, "synthetic_years": 1.0, "synthetic_seed": 3}}}},
    )
    assert result.success
    counts = query(tmp_path, "select count(*) as n, count(distinct ticker) as t from raw.prices").iloc[0]
    assert (counts.n, counts.t) == (12 * 252, 12)
    series = set(query(tmp_path, "select distinct series from raw.macro").series)
    assert series == {"VIXCLS", "DGS2", "DGS10", "BAMLH0A0HYM2", "^GSPC"}
    materialization = result.asset_materializations_for_node("raw_tables")[0]
    assert materialization.metadata["dagster/row_count"].value == 12 * 252


def test_a_bad_macro_file_leaves_every_raw_table_as_it_was(tmp_path):
    """Ingest checks all three inputs before it writes: new prices and a broken macro file
    replace nothing."""
    from tests.helpers import tiny_market

    home = tmp_path / "home"
    good = tiny_market(tmp_path / "good")
    settings = TradepipeSettings(home=str(home), **{k: str(v) for k, v in good.items()})
    assert dg.materialize([raw_tables], resources={"settings": settings}).success
    before = {t: query(home, f"select * from raw.{t} order by all") for t in ("prices", "macro", "instruments")}

    newer = tiny_market(tmp_path / "newer")
    prices = newer["prices"].read_text().splitlines()
    newer["prices"].write_text("\n".join(prices[: len(prices) // 2]) + "\n")  # a different price history
    newer["macro"].write_text(newer["macro"].read_text().replace("\n2019-12-03,VIXCLS,", "\n2019-12-03,VIXCLS,x"))
    settings = TradepipeSettings(home=str(home), **{k: str(v) for k, v in newer.items()})
    result = dg.materialize([raw_tables], resources={"settings": settings}, raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE)
    assert "column 'value' has 1 non-numeric value(s)" in failure.event_specific_data.error.to_string()
    for table, frame in before.items():
        after = query(home, f"select * from raw.{table} order by all")
        assert after.equals(frame), table


def test_a_home_with_a_space_and_quotes_builds_and_publishes(tmp_path):
    """Paths meet SQL (DuckDB readers, ATTACH) and dbt's profile: quoted everywhere."""
    from assets.warehouse.publish import publish_analytics
    from tests.helpers import WAREHOUSE_ONLY, materialize_pipeline, tiny_market

    home = tmp_path / "it's a \"home\""
    paths = tiny_market(tmp_path / "in 'put'")
    assert materialize_pipeline(home, **paths, selection=WAREHOUSE_ONLY).success
    assert query(home, "select count(distinct ticker) as n from marts.fct_features").n[0] == 4
    counts = publish_analytics(home / "warehouse.duckdb", home / "analytics.duckdb")
    assert counts["marts.fct_features"] > 0


def test_a_quote_in_a_csv_header_gets_the_ingests_own_error(tmp_path):
    from tests.helpers import tiny_market

    paths = tiny_market(tmp_path / "input")
    text = paths["sectors"].read_text().replace("ticker", 'tic"ker', 1)
    paths["sectors"].write_text(text)
    settings = TradepipeSettings(home=str(tmp_path / "home"), **{k: str(v) for k, v in paths.items()})
    result = dg.materialize([raw_tables], resources={"settings": settings}, raise_on_error=False)
    failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE)
    message = failure.event_specific_data.error.to_string()
    assert "InputError" in message and "sectors.csv: missing required column(s) ['ticker']" in message
    assert "Parser Error" not in message


def test_a_missing_macro_series_fails_a_check_and_unknown_ones_are_listed(tmp_path):
    from tests.helpers import tiny_market

    paths = tiny_market(tmp_path / "input")
    lines = paths["macro"].read_text().splitlines()
    kept = [line for line in lines if ",BAMLH0A0HYM2," not in line] + ["2020-01-02,FOO,1.0"]
    paths["macro"].write_text("\n".join(kept) + "\n")
    (tmp_path / "input" / "sectors.csv").write_text("ticker,sector\nA,Energy\nB,Energy\n")  # C and BAD lack one
    from assets.checks import every_ticker_has_a_sector, macro_series_present

    settings = TradepipeSettings(home=str(tmp_path / "home"), **{k: str(v) for k, v in paths.items()})
    result = dg.materialize([raw_tables, macro_series_present, every_ticker_has_a_sector],
                            resources={"settings": settings}, raise_on_error=False)
    checks = {e.asset_check_key.name: e for e in result.get_asset_check_evaluations()}
    macro = checks["macro_series_present"]
    assert not macro.passed and macro.severity == dg.AssetCheckSeverity.ERROR
    assert macro.metadata["missing"].value == ["BAMLH0A0HYM2"] and macro.metadata["unknown"].value == ["FOO"]
    sectors = checks["every_ticker_has_a_sector"]
    assert not sectors.passed and sectors.metadata["examples"].value == ["BAD", "C"]
