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
