"""The published analytics copy: leftovers of a crashed publication go; paths with quotes work."""

import duckdb

from assets.warehouse.publish import publish_analytics


def _warehouse(path):
    with duckdb.connect(str(path)) as con:
        con.execute("create schema ml; create table ml.preds as select 1 as x; "
                    "create schema trading; create table trading.\"we'ird\" as select 2 as y")


def test_a_crashed_publication_leaves_nothing_behind_after_the_next(tmp_path):
    _warehouse(tmp_path / "warehouse.duckdb")
    leftover = tmp_path / ".analytics.duckdb.0123abcd.tmp"
    leftover.write_bytes(b"half a database")
    (tmp_path / ".analytics.duckdb.0123abcd.tmp.wal").write_bytes(b"wal")
    counts = publish_analytics(tmp_path / "warehouse.duckdb", tmp_path / "analytics.duckdb")
    assert counts == {"ml.preds": 1, "trading.we'ird": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["analytics.duckdb", "warehouse.duckdb"]


def test_a_home_path_with_a_space_and_a_quote(tmp_path):
    home = tmp_path / "my \"odd' home"
    home.mkdir()
    _warehouse(home / "warehouse.duckdb")
    publish_analytics(home / "warehouse.duckdb", home / "analytics.duckdb")
    with duckdb.connect(str(home / "analytics.duckdb"), read_only=True) as con:
        assert con.execute("select x from ml.preds").fetchone() == (1,)
