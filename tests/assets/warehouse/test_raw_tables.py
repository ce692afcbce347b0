"""The raw tables are swapped together, or not at all."""

import duckdb
import pytest

from assets.warehouse import raw
from ml.ingest import InputError, stage_instruments, stage_macro, stage_prices


def _inputs(folder, value="13.1"):
    folder.mkdir(exist_ok=True)
    (folder / "p.csv").write_text("date,ticker,open,high,low,close,volume\n2020-01-02,AAA,10,11,9,10.5,1000\n")
    (folder / "m.csv").write_text(f"date,series,value\n2020-01-02,VIXCLS,{value}\n")
    (folder / "s.csv").write_text("ticker,sector\nAAA,Energy\n")
    return folder


def _stage_all(con, folder):
    return [stage_prices(con, folder / "p.csv"), stage_macro(con, folder / "m.csv"),
            stage_instruments(con, folder / "s.csv")]


def test_a_bad_input_of_any_kind_leaves_every_raw_table(tmp_path):
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        raw.swap(con, _stage_all(con, _inputs(tmp_path / "good")))
        before = {t: con.execute(f"select * from {t} order by all").fetchall() for t in raw.RAW_TABLES}
        bad = _inputs(tmp_path / "bad", value="high")
        (bad / "p.csv").write_text("date,ticker,open,high,low,close,volume\n2021-01-04,ZZZ,1,1,1,1,1\n")
        with pytest.raises(InputError, match="m.csv: column 'value' has 1 non-numeric"):
            raw.swap(con, _stage_all(con, bad))
        assert {t: con.execute(f"select * from {t} order by all").fetchall() for t in raw.RAW_TABLES} == before


def test_a_failure_inside_the_swap_rolls_every_table_back(tmp_path):
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        raw.swap(con, _stage_all(con, _inputs(tmp_path / "good")))
        staged = _stage_all(con, _inputs(tmp_path / "next", value="14.2"))
        broken = staged[:2] + [type(staged[2])("raw.instruments", "select * from no_such_table", {})]
        with pytest.raises(duckdb.Error):
            raw.swap(con, broken)
        assert con.execute("select value from raw.macro").fetchall() == [(13.1,)]
        with pytest.raises(ValueError, match="not raw tables"):
            raw.swap(con, [type(staged[0])("ml.preds", "select 1", {})])
