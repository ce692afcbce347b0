"""Read and check market data files with DuckDB's own readers, for the warehouse's ``raw`` schema.

Three inputs, each a CSV, CSV.gz or Parquet file, or a folder of them:

- prices: ``date,ticker,open,high,low,close,volume[,adj_close]``
- macro: ``date,series,value`` (tidy; an empty value means no observation)
- sectors: ``ticker,sector[,name]``

Every input is staged into a temporary table of the connection and checked there: gzip files
read to their end with their CRC checked (DuckDB's reader checks neither: a truncated file
would load half its rows), required columns, numeric columns that parse as numbers, dates that
parse as dates and are not after the last completed exchange session (a future row is not data). A problem raises
:class:`InputError` naming the file, the column and an example row. Staging writes nothing
to the warehouse: it returns the typed ``select`` over the staged rows, and the warehouse
layer (assets/warehouse/raw.py) swaps all three raw tables in one transaction once every
input has been staged, so one bad input leaves every previous table as it was.

Values that are present but suspect (a zero volume, an inconsistent bar, an empty price) are
*not* rejected here: they load, and the dbt quality rules quarantine them with a reason.

Example
-------
>>> import duckdb
>>> con = duckdb.connect(":memory:")
>>> stage_prices(con, "data/sample/prices.csv.gz").summary["rows"] > 0  # doctest: +SKIP
True
"""

from __future__ import annotations

import gzip
import re
import zlib
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import duckdb

SUPPORTED_SUFFIXES = (".csv", ".csv.gz", ".parquet", ".pq")

# Column names are matched case-insensitively, with spaces as underscores, and these aliases.
ALIASES = {"symbol": "ticker", "adjclose": "adj_close", "adjusted_close": "adj_close"}

# Strings read as "no value" in CSV files (FRED uses "." for a missing observation).
NULL_STRINGS = ["", "NA", "N/A", "NaN", "nan", "null", "NULL", "."]

# The macro series the pipeline reads (dbt's as-of macro join and the regime features, ^GSPC
# for the benchmark): part of the input format, not a setting.
MACRO_SERIES = ("VIXCLS", "DGS2", "DGS10", "BAMLH0A0HYM2", "^GSPC")

# What a ticker may be: 1 to 20 letters, digits or . - _ ^ = / (BRK.B, BF-B, ^GSPC, RDS/A).
TICKER_PATTERN = r"[A-Za-z0-9.\-_^=/]{1,20}"

DATE_FORMATS = ["%Y-%m-%d", "%Y%m%d", "%m/%d/%Y", "%Y/%m/%d"]


class InputError(ValueError):
    """An input file that cannot be loaded: the message names file, column and an example row."""


@dataclass(frozen=True)
class StagedInput:
    """One checked input: the raw table it becomes, the typed ``select`` over its staged rows
    (valid on the connection that staged it), and a summary (rows, dates, files, ...)."""

    table: str
    select: str
    summary: dict[str, Any]


@dataclass(frozen=True)
class TableSpec:
    """What one raw table needs from its files."""

    name: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    numeric: tuple[str, ...]
    text: tuple[str, ...]


PRICES = TableSpec(
    name="prices",
    required=("date", "ticker", "open", "high", "low", "close", "volume"),
    optional=("adj_close",),
    numeric=("open", "high", "low", "close", "volume", "adj_close"),
    text=("ticker",),
)
MACRO = TableSpec(
    name="macro",
    required=("date", "series", "value"),
    optional=(),
    numeric=("value",),
    text=("series",),
)
INSTRUMENTS = TableSpec(
    name="instruments",
    required=("ticker", "sector"),
    optional=("name",),
    numeric=(),
    text=("ticker", "sector", "name"),
)


def resolve_files(path: str | Path) -> list[Path]:
    """The data files a path names: the file itself, or the supported files in a folder.

    Raises
    ------
    InputError
        If the path does not exist, has an unsupported suffix, or is a folder without data files.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and _is_supported(p))
        if not files:
            raise InputError(
                f"{path}: folder has no data files (expected names ending in {', '.join(SUPPORTED_SUFFIXES)})"
            )
        return files
    if not _is_supported(path):
        raise InputError(f"{path}: unsupported file type (expected {', '.join(SUPPORTED_SUFFIXES)})")
    return [path]


def stage_prices(con: duckdb.DuckDBPyConnection, path: str | Path, as_of: object = None) -> StagedInput:
    """Stage and check the price files at ``path`` for ``raw.prices``.

    ``raw.prices`` has every input row (duplicates too) with typed columns, ``adj_close`` (NULL
    when the files have none), ``has_adj_close`` and ``source_file``. The summary holds rows,
    tickers, first_date, last_date, files, has_adj_close.
    """
    files = resolve_files(path)
    columns = _stage(con, PRICES, files, as_of)
    has_adj = "adj_close" in columns
    select = f"""
        select
            {_date_expr('date')} as date,
            trim(ticker) as ticker,
            {', '.join(f'{_number_expr(c)} as {c}' for c in ('open', 'high', 'low', 'close', 'volume'))},
            {_number_expr('adj_close') if has_adj else 'cast(null as double)'} as adj_close,
            {'true' if has_adj else 'false'} as has_adj_close,
            source_file
        from _staged_prices
    """
    first, last, rows, tickers = con.execute(
        f"select min(date), max(date), count(*), count(distinct ticker) from ({select})"
    ).fetchone()
    return StagedInput("raw.prices", select, {
        "rows": rows,
        "tickers": tickers,
        "first_date": str(first),
        "last_date": str(last),
        "files": [str(f) for f in files],
        "has_adj_close": has_adj,
    })


def stage_macro(con: duckdb.DuckDBPyConnection, path: str | Path, as_of: object = None) -> StagedInput:
    """Stage and check the macro files at ``path`` for ``raw.macro`` (date, series, value)."""
    files = resolve_files(path)
    _stage(con, MACRO, files, as_of)
    select = f"""
        select {_date_expr('date')} as date, trim(series) as series,
               {_number_expr('value')} as value, source_file
        from _staged_macro
    """
    first, last, rows = con.execute(f"select min(date), max(date), count(*) from ({select})").fetchone()
    series = [s for (s,) in con.execute(f"select distinct series from ({select}) order by 1").fetchall()]
    return StagedInput("raw.macro", select, {
        "rows": rows, "series": series, "first_date": str(first), "last_date": str(last),
        "files": [str(f) for f in files],
        "missing_series": [s for s in MACRO_SERIES if s not in series],
        "unknown_series": [s for s in series if s not in MACRO_SERIES]})


def stage_instruments(con: duckdb.DuckDBPyConnection, path: str | Path, as_of: object = None) -> StagedInput:
    """Stage and check the sectors files at ``path`` for ``raw.instruments`` (ticker, sector, name)."""
    files = resolve_files(path)
    columns = _stage(con, INSTRUMENTS, files, as_of)
    name = "trim(name)" if "name" in columns else "cast(null as varchar)"
    select = f"""
        select trim(ticker) as ticker, trim(sector) as sector, {name} as name, source_file
        from _staged_instruments
    """
    rows, sectors = con.execute(f"select count(*), count(distinct sector) from ({select})").fetchone()
    return StagedInput("raw.instruments", select, {"rows": rows, "sectors": sectors,
                                                   "files": [str(f) for f in files]})


# --- helpers -------------------------------------------------------------------------------


def _is_supported(path: Path) -> bool:
    return path.name.lower().endswith(SUPPORTED_SUFFIXES)


def _is_parquet(path: Path) -> bool:
    return path.name.lower().endswith((".parquet", ".pq"))


def _quote(path: Path) -> str:
    """A path as a SQL string literal."""
    return "'" + str(path).replace("'", "''") + "'"


def _ident(name: str) -> str:
    """A column name as a quoted SQL identifier (a header may hold any character, quotes too)."""
    return '"' + name.replace('"', '""') + '"'


def _normalize(name: str) -> str:
    key = name.strip().lower().replace(" ", "_")
    return ALIASES.get(key, key)


def _layout_key(file: Path) -> tuple[str, str]:
    """Files with the same key have the same columns and are read together: Parquet files one
    by one, CSV files by their header line (the first line, decompressed)."""
    if _is_parquet(file):
        return "parquet", str(file)
    opener = gzip.open if file.name.lower().endswith(".gz") else open
    try:
        with opener(file, "rb") as stream:
            return "csv", stream.readline().rstrip(b"\r\n").decode("utf-8", "replace")
    except (EOFError, OSError, zlib.error) as exc:
        raise InputError(f"{file}: cannot be read ({exc})") from None


def _groups(files: list[Path]) -> list[list[Path]]:
    """The files in groups of one layout (see :func:`_layout_key`), in file order."""
    groups: dict[tuple[str, str], list[Path]] = {}
    for file in files:
        groups.setdefault(_layout_key(file), []).append(file)
    return list(groups.values())


def _relation(con: duckdb.DuckDBPyConnection, files: list[Path]) -> tuple[str, set[str]]:
    """SQL selecting every column of files of one layout as text, under normalized names, with
    the file each row came from (``source_file``); and those names. One reader for all of them:
    DuckDB reads a list of files in parallel and detects the CSV dialect once."""
    first, listed = files[0], "[" + ", ".join(_quote(f) for f in files) + "]"
    if _is_parquet(first):
        reader = f"read_parquet({listed}, filename = true)"
    else:
        nulls = ", ".join(f"'{s}'" for s in NULL_STRINGS)
        reader = f"read_csv({listed}, header=true, all_varchar=true, nullstr=[{nulls}], filename = true)"
    try:
        described = con.execute(f"describe select * exclude (filename) from {reader}").fetchall()
    except duckdb.Error as exc:
        kind = "Parquet" if _is_parquet(first) else "CSV"
        raise InputError(f"{_names(files)}: cannot be read as {kind}: {exc}") from exc
    names = [row[0] for row in described]
    if names == ["column0"] and not _is_parquet(first):  # DuckDB's name for a headerless single column
        raise InputError(f"{_names(files)}: empty file, or no header row (expected a first line naming the "
                         f"columns, e.g. date,ticker,open,high,low,close,volume)")
    normalized = [_normalize(n) for n in names]
    duplicates = sorted({n for n in normalized if normalized.count(n) > 1})
    if duplicates:
        raise InputError(f"{_names(files)}: columns {duplicates} appear more than once (after lower-casing)")
    columns = ", ".join(
        f"cast({_ident(orig)} as varchar) as {_ident(norm)}" for orig, norm in zip(names, normalized)
    )
    return f"select {columns}, filename as source_file from {reader}", set(normalized)


def _listed(files: list[Path]) -> str:
    shown = ", ".join(map(str, files[:3]))
    return shown if len(files) <= 3 else f"{shown} (and {len(files) - 3} more)"


def _names(files: list[Path]) -> str:
    return str(files[0]) if len(files) == 1 else f"{files[0]} (and {len(files) - 1} more file(s) with its header)"


def ticker_of_file(file: Path) -> str | None:
    """The ticker a per-ticker price file is named for (``AAPL.csv``, ``brk.b.csv.gz`` -> ``BRK.B``),
    or None when the name is not a ticker."""
    name = file.name
    for suffix in sorted(SUPPORTED_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    return name.upper() if re.fullmatch(TICKER_PATTERN, name) else None


def _ticker_from_name(files: list[Path], sql: str, cols: set[str]) -> tuple[str, set[str]]:
    """Price files without a ticker column (one file per ticker, e.g. Yahoo's
    ``Date,Open,High,Low,Close,Adj Close,Volume``): each row's ticker is its file's name."""
    pairs = []
    for file in files:
        ticker = ticker_of_file(file)
        if ticker is None:
            raise InputError(f"{file}: no ticker column, and the file name is not a ticker; accepted layouts: one "
                             f"file (or a folder of files) with a ticker column, or one file per ticker named "
                             f"for it (AAPL.csv with date,open,high,low,close,volume[,adj close])")
        pairs.append(f"({_quote(file)}, {_quote(ticker)})")
    mapping = f"(values {', '.join(pairs)}) as named(file, ticker)"
    return (f"select rows.*, named.ticker from ({sql}) as rows join {mapping} on rows.source_file = named.file",
            cols | {"ticker"})


def latest_allowed_date(as_of: object = None) -> date:
    """The newest date an input row may carry: the last completed NYSE session before ``as_of``
    (default: now). A row dated later cannot be an observation yet."""
    import pandas as pd

    from ml.market_calendar import last_completed_session

    moment = pd.Timestamp.now(tz="UTC") if as_of is None else pd.Timestamp(as_of)
    return last_completed_session(moment).date()


def check_gzip(path: Path) -> None:
    """Read a gzip file to its end, checking its length and CRC; InputError when it is truncated
    or corrupt (DuckDB's reader would load what it could without a word)."""
    try:
        with gzip.open(path, "rb") as stream:
            while stream.read(1 << 22):
                pass
    except (EOFError, OSError, zlib.error) as exc:
        raise InputError(f"{path}: truncated or corrupt gzip file ({exc}); nothing was loaded") from None


def _stage(con: duckdb.DuckDBPyConnection, spec: TableSpec, files: list[Path], as_of: object = None) -> set[str]:
    """Load the files as text into a temp table ``_staged_<name>``, checking every column.

    Returns the set of the spec's columns present (required plus the optional ones found).
    """
    parts = []
    present_optional: set[str] | None = None
    for file in files:
        if file.name.lower().endswith(".gz"):
            check_gzip(file)
    for group in _groups(files):
        file = _names(group)
        sql, cols = _relation(con, group)
        if spec is PRICES and "ticker" not in cols:
            sql, cols = _ticker_from_name(group, sql, cols)
        missing = [c for c in spec.required if c not in cols]
        if missing:
            raise InputError(
                f"{file}: missing required column(s) {missing}; found {sorted(cols)}; "
                f"expected {', '.join(spec.required + tuple(f'[{c}]' for c in spec.optional))}"
            )
        found_optional = {c for c in spec.optional if c in cols}
        if present_optional is None:
            present_optional = found_optional
        elif found_optional != present_optional:
            raise InputError(
                f"{file}: optional columns {sorted(found_optional)} differ from the other files' "
                f"{sorted(present_optional)}; every file of one input must have the same columns"
            )
        keep = spec.required + tuple(sorted(found_optional))
        parts.append(f"select {', '.join(keep)}, source_file from ({sql})")
    table = f"_staged_{spec.name}"
    try:
        con.execute(f"create or replace temp table {table} as {' union all '.join(parts)}")
    except duckdb.Error as exc:
        raise InputError(f"{_listed(files)}: cannot be read: {exc}") from exc
    n_rows = con.execute(f"select count(*) from {table}").fetchone()[0]
    if n_rows == 0:
        raise InputError(f"{_listed(files)}: no data rows")
    columns = set(spec.required) | (present_optional or set())
    _check_values(con, table, spec, columns, latest_allowed_date(as_of))
    return columns


def _date_expr(column: str) -> str:
    formats = ", ".join(f"'{f}'" for f in DATE_FORMATS)
    return (
        f"coalesce(try_cast({column} as date), cast(try_cast({column} as timestamp) as date), "
        f"cast(try_strptime({column}, [{formats}]) as date))"
    )


def _number_expr(column: str) -> str:
    # NaN and infinities count as missing values, which the quality rules quarantine.
    return f"case when isfinite(try_cast({column} as double)) then try_cast({column} as double) end"


def _problems(spec: TableSpec, columns: set[str], latest: date) -> list[tuple[str, str, str]]:
    """(column, condition for a bad value, what is wrong) for every check of this input."""
    checks = []
    if "date" in columns:
        checks.append(("date", f"date is null or {_date_expr('date')} is null",
                       "value(s) that are not dates (expected YYYY-MM-DD)"))
        checks.append(("date", f"{_date_expr('date')} > date '{latest.isoformat()}'",
                       f"value(s) after the last completed NYSE session ({latest}): a future row is not data"))
    for column in spec.numeric:
        if column in columns:
            checks.append((column,
                           f"{column} is not null and try_cast({column} as double) is null "
                           f"and lower(trim({column})) not in ('nan', 'inf', '-inf', 'infinity', '-infinity')",
                           "non-numeric value(s)"))
    for column in spec.text:
        if column in spec.required:
            checks.append((column, f"{column} is null or trim({column}) = ''", "empty value(s)"))
    if "ticker" in columns:
        checks.append(("ticker", f"trim(ticker) <> '' and not regexp_full_match(trim(ticker), '{TICKER_PATTERN}')",
                       "value(s) that are not tickers (1 to 20 letters, digits or . - _ ^ = /)"))
    return checks


def _check_values(con: duckdb.DuckDBPyConnection, table: str, spec: TableSpec, columns: set[str],
                  latest: date) -> None:
    """Count every kind of bad value in one scan; on the first kind found, raise with an example row."""
    checks = _problems(spec, columns, latest)
    counts = con.execute(
        "select " + ", ".join(f"count(*) filter (where {condition})" for _, condition, _ in checks)
        + f" from {table}"
    ).fetchone()
    for (column, condition, problem), n_bad in zip(checks, counts):
        if n_bad:
            file, row = con.execute(
                f"select source_file, to_json(t) from {table} as t where {condition} limit 1"
            ).fetchone()
            raise InputError(f"{file}: column '{column}' has {n_bad} {problem}; example row: {_row_text(row)}")


def _row_text(row_json: str) -> str:
    import json

    row = json.loads(row_json)
    row.pop("source_file", None)
    return ", ".join(f"{k}={v!r}" for k, v in row.items())


def latest_date(files: list[Path]) -> str:
    """The newest ``date`` (ISO) in the given data files, parsed as the ingest parses it; used to
    decide which market date newly landed files are for."""
    with duckdb.connect() as con:
        found = []
        for group in _groups(files):
            relation, columns = _relation(con, group)
            if "date" not in columns:
                raise InputError(f"{_names(group)}: no date column")
            found.append(con.execute(f"select max({_date_expr('date')}) from ({relation})").fetchone()[0])
    dates = [d for d in found if d is not None]
    if not dates:
        raise InputError(f"no parseable date in {[str(f) for f in files]}")
    return str(max(dates))
