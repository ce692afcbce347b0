"""ml.ingest: schema checks with clear errors, DuckDB readers; staging writes nothing."""

import gzip
from pathlib import Path

import duckdb
import pytest

from ml.ingest import (
    InputError,
    resolve_files,
    stage_instruments,
    stage_macro,
    stage_prices,
)

HEADER = "date,ticker,open,high,low,close,volume"
GOOD_ROWS = [
    "2020-01-02,AAA,10,11,9,10.5,1000",
    "2020-01-03,AAA,10.5,11,10,10.8,1200",
    "2020-01-02,BBB,20,21,19,20.5,500",
]


def write(path: Path, lines: list[str]) -> Path:
    text = "\n".join(lines) + "\n"
    if path.name.endswith(".gz"):
        with gzip.open(path, "wt") as fh:
            fh.write(text)
    else:
        path.write_text(text)
    return path


def _load(con, staged):
    """What the warehouse layer does with a staged input (here without its transaction)."""
    con.execute("create schema if not exists raw")
    con.execute(f"create or replace table {staged.table} as {staged.select}")
    return staged.summary


def load_prices(con, path):
    return _load(con, stage_prices(con, path))


def load_macro(con, path):
    return _load(con, stage_macro(con, path))


def load_instruments(con, path):
    return _load(con, stage_instruments(con, path))


@pytest.fixture
def con():
    connection = duckdb.connect(":memory:")
    yield connection
    connection.close()


def test_loads_csv_and_reports_span(tmp_path, con):
    meta = load_prices(con, write(tmp_path / "p.csv", [HEADER, *GOOD_ROWS]))
    assert meta["rows"] == 3
    assert meta["tickers"] == 2
    assert (meta["first_date"], meta["last_date"]) == ("2020-01-02", "2020-01-03")
    assert meta["has_adj_close"] is False
    assert con.execute("select count(*) from raw.prices where adj_close is null").fetchone()[0] == 3


def test_loads_gzip_parquet_and_folder_of_mixed_files(tmp_path, con):
    folder = tmp_path / "prices"
    folder.mkdir()
    write(folder / "a.csv.gz", [HEADER, GOOD_ROWS[0]])
    con.execute(
        f"copy (select date '2020-01-03' as date, 'AAA' as ticker, 10.5 as open, 11.0 as high, "
        f"10.0 as low, 10.8 as close, 1200 as volume) to '{folder / 'b.parquet'}' (format parquet)"
    )
    (folder / "notes.txt").write_text("ignored: not a data file")
    meta = load_prices(con, folder)
    assert meta["rows"] == 2
    assert len(meta["files"]) == 2


def test_adj_close_and_header_aliases(tmp_path, con):
    path = write(tmp_path / "p.csv", ["Date,Symbol,Open,High,Low,Close,Volume,Adj Close",
                                      "2020-01-02,AAA,10,11,9,10,1000,5"])
    meta = load_prices(con, path)
    assert meta["has_adj_close"] is True
    assert con.execute("select ticker, adj_close, has_adj_close from raw.prices").fetchone() == ("AAA", 5.0, True)


def test_empty_values_load_as_null_for_the_quality_rules(tmp_path, con):
    load_prices(con, write(tmp_path / "p.csv", [HEADER, "2020-01-02,AAA,10,11,9,,1000"]))
    assert con.execute("select close from raw.prices").fetchone() == (None,)


def test_missing_column_names_file_and_column(tmp_path, con):
    path = write(tmp_path / "p.csv", ["date,ticker,open,high,low,close", "2020-01-02,AAA,10,11,9,10"])
    with pytest.raises(InputError, match=r"p\.csv: missing required column\(s\) \['volume'\]"):
        load_prices(con, path)


def test_non_numeric_price_names_column_and_example_row(tmp_path, con):
    path = write(tmp_path / "p.csv", [HEADER, GOOD_ROWS[0], "2020-01-03,AAA,10,eleven,9,10,1000"])
    with pytest.raises(InputError, match=r"p\.csv: column 'high' has 1 non-numeric value.*high='eleven'"):
        load_prices(con, path)


def test_unparseable_date_names_column_and_example_row(tmp_path, con):
    path = write(tmp_path / "p.csv", [HEADER, GOOD_ROWS[0], "03.01.2020?,AAA,10,11,9,10,1000"])
    with pytest.raises(InputError, match=r"column 'date' has 1 value\(s\) that are not dates.*date='03\.01\.2020\?'"):
        load_prices(con, path)


def test_empty_file_and_header_only_file(tmp_path, con):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(InputError, match=r"empty\.csv"):
        load_prices(con, empty)
    with pytest.raises(InputError, match=r"header\.csv: no data rows"):
        load_prices(con, write(tmp_path / "header.csv", [HEADER]))


def test_missing_path_and_unsupported_suffix(tmp_path):
    with pytest.raises(InputError, match=r"nowhere\.csv: no such file or folder"):
        resolve_files(tmp_path / "nowhere.csv")
    (tmp_path / "prices.xlsx").write_text("x")
    with pytest.raises(InputError, match=r"unsupported file type"):
        resolve_files(tmp_path / "prices.xlsx")
    (tmp_path / "empty_folder").mkdir()
    with pytest.raises(InputError, match=r"folder has no data files"):
        resolve_files(tmp_path / "empty_folder")


def test_files_of_one_input_must_agree_on_optional_columns(tmp_path, con):
    folder = tmp_path / "prices"
    folder.mkdir()
    write(folder / "a.csv", [HEADER, GOOD_ROWS[0]])
    write(folder / "b.csv", [HEADER + ",adj_close", "2020-01-03,AAA,10,11,9,10,1000,9"])
    with pytest.raises(InputError, match=r"b\.csv: optional columns \['adj_close'\] differ"):
        load_prices(con, folder)


def test_staging_writes_nothing_to_the_database(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        staged = stage_prices(con, write(tmp_path / "good.csv", [HEADER, *GOOD_ROWS]))
        assert staged.table == "raw.prices" and staged.summary["rows"] == 3
        with pytest.raises(InputError):
            stage_prices(con, write(tmp_path / "bad.csv", [HEADER, "2020-01-05,AAA,x,11,9,10,1"]))
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select count(*) from duckdb_tables()").fetchone()[0] == 0


def test_a_quote_in_a_header_is_a_column_name_like_any_other(tmp_path, con):
    path = write(tmp_path / "s.csv", ['ticker,sector,"no""te"', 'AAA,Energy,x'])
    assert load_instruments(con, path)["rows"] == 1
    with pytest.raises(InputError, match=r"s2\.csv: missing required column\(s\) \['ticker'\]"):
        stage_instruments(con, write(tmp_path / "s2.csv", ['"tic""ker",sector', 'AAA,Energy']))


def test_macro_value_may_be_empty_or_dot_but_not_text(tmp_path, con):
    path = write(tmp_path / "m.csv", ["date,series,value", "2020-01-02,VIXCLS,13.1",
                                      "2020-01-03,VIXCLS,", "2020-01-06,DGS2,."])
    meta = load_macro(con, path)
    assert meta["rows"] == 3
    assert con.execute("select count(*) from raw.macro where value is null").fetchone()[0] == 2
    with pytest.raises(InputError, match=r"column 'value' has 1 non-numeric.*value='high'"):
        load_macro(con, write(tmp_path / "bad.csv", ["date,series,value", "2020-01-02,VIXCLS,high"]))


def test_instruments_name_is_optional_and_ticker_required(tmp_path, con):
    meta = load_instruments(con, write(tmp_path / "s.csv", ["ticker,sector", "AAA,Energy"]))
    assert meta == {"rows": 1, "sectors": 1, "files": [str(tmp_path / "s.csv")]}
    with pytest.raises(InputError, match=r"column 'ticker' has 1 empty value"):
        load_instruments(con, write(tmp_path / "t.csv", ["ticker,sector", ",Energy"]))


def test_a_truncated_gzip_is_an_error_not_half_the_rows(tmp_path, con):
    path = write(tmp_path / "p.csv.gz", [HEADER, *GOOD_ROWS * 200])
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"p\.csv\.gz: truncated or corrupt gzip file"):
        stage_prices(con, path)


def test_a_flipped_bit_in_a_gzip_fails_its_crc(tmp_path, con):
    path = write(tmp_path / "p.csv.gz", [HEADER, *GOOD_ROWS])
    data = bytearray(path.read_bytes())
    data[-6] ^= 0x01  # inside the CRC-32 trailer
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match=r"truncated or corrupt gzip file \(CRC check failed"):
        stage_prices(con, path)


def test_a_row_dated_after_the_last_completed_session_is_rejected(tmp_path, con):
    path = write(tmp_path / "p.csv", [HEADER, *GOOD_ROWS, "2031-01-02,AAA,10,11,9,10.5,1000"])
    with pytest.raises(InputError, match=r"column 'date' has 1 value\(s\) after the last completed NYSE session "
                                         r"\(2020-01-03\).*date='2031-01-02', ticker='AAA'"):
        stage_prices(con, path, as_of="2020-01-04 12:00")
    today = write(tmp_path / "today.csv", [HEADER, *GOOD_ROWS])  # dated on the session that just closed
    assert stage_prices(con, today, as_of="2020-01-03 22:00").summary["last_date"] == "2020-01-03"
    with pytest.raises(InputError, match=r"after the last completed NYSE session \(2020-01-02\)"):
        stage_prices(con, today, as_of="2020-01-03 20:00")  # before that session's close
    with pytest.raises(InputError, match=r"m\.csv: column 'date' has 1 value\(s\) after the last completed"):
        stage_macro(con, write(tmp_path / "m.csv", ["date,series,value", "2031-01-02,VIXCLS,13.1"]))


def test_tickers_follow_the_documented_pattern(tmp_path, con):
    ok = write(tmp_path / "ok.csv", [HEADER, "2020-01-02,BRK.B,1,1,1,1,1", "2020-01-02,BF-B,1,1,1,1,1",
                                     "2020-01-02,^GSPC,1,1,1,1,1", "2020-01-02,RDS/A,1,1,1,1,1"])
    assert load_prices(con, ok)["tickers"] == 4
    bad = write(tmp_path / "bad.csv", [HEADER, "2020-01-02,<img src=x onerror=alert(1)>,1,1,1,1,1"])
    with pytest.raises(InputError, match=r"bad\.csv: column 'ticker' has 1 value\(s\) that are not tickers"):
        load_prices(con, bad)
    with pytest.raises(InputError, match=r"s\.csv: column 'ticker' has 1 value\(s\) that are not tickers"):
        load_instruments(con, write(tmp_path / "s.csv", ["ticker,sector", "A B,Energy"]))


def test_an_empty_file_says_so(tmp_path, con):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(InputError, match=r"empty\.csv: empty file, or no header row"):
        stage_prices(con, empty)


def test_a_folder_of_per_ticker_files_in_yahoos_layout(tmp_path, con):
    folder = tmp_path / "yahoo"
    folder.mkdir()
    header = "Date,Open,High,Low,Close,Adj Close,Volume"
    write(folder / "AAPL.csv", [header, "2020-01-02,74.06,75.15,73.80,75.09,73.15,135480400"])
    write(folder / "brk.b.csv.gz", [header, "2020-01-02,228.5,229.9,227.8,228.4,228.4,3764000"])
    meta = load_prices(con, folder)
    assert meta["tickers"] == 2 and meta["has_adj_close"] is True
    rows = con.execute("select ticker, adj_close from raw.prices order by ticker").fetchall()
    assert rows == [("AAPL", 73.15), ("BRK.B", 228.4)]
    write(folder / "my prices (1).csv", [header, "2020-01-02,1,1,1,1,1,1"])
    with pytest.raises(InputError, match=r"my prices \(1\)\.csv: no ticker column, and the file name is not a "
                                         r"ticker; accepted layouts"):
        stage_prices(con, folder)
