"""Cut the bundled sample in this folder from the full shared dataset.

Run from the repository root:  python data/sample/make_sample.py /path/to/shared/data

Rows are copied verbatim as strings (DuckDB ``all_varchar``), only filtered by
ticker and date, so the sample keeps the source's real glitches.
"""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb

START, END = "2010-01-01", "2017-11-10"
TICKERS_PER_SECTOR_SHARE = 0.2  # about 100 of the 505 names
# Names with decimal-shift glitches inside the span (see README.md in this folder),
# and late starters that exercise the history filter.
FORCED = ["ARE", "AVB", "BEN", "PCG", "PXD", "SLG", "FB", "PYPL", "C"]


def main(shared: Path, out: Path) -> None:
    con = duckdb.connect()
    prices = shared / "equities_sp500_stooq_daily.csv.gz"
    sectors = shared / "sectors_sp500_2018-04-02.csv.gz"
    macro = shared / "macro_daily.csv.gz"
    con.execute(
        f"create table sectors as select * from read_csv('{sectors}', all_varchar=true)"
    )
    # Per sector: the forced names, then names in a fixed pseudo-random order (md5 of the ticker).
    picked = con.execute(
        f"""
        with ranked as (
            select ticker, sector,
                   row_number() over (
                       partition by sector
                       order by ticker in ({", ".join(f"'{t}'" for t in FORCED)}) desc, md5(ticker)
                   ) as rn,
                   count(*) over (partition by sector) as n
            from sectors
        )
        select ticker from ranked
        where rn <= greatest(1, round(n * {TICKERS_PER_SECTOR_SHARE}))
           or ticker in ({", ".join(f"'{t}'" for t in FORCED)})
        order by ticker
        """
    ).fetchall()
    tickers = [t for (t,) in picked]
    in_list = ", ".join(f"'{t}'" for t in tickers)
    out.mkdir(parents=True, exist_ok=True)
    con.execute(
        f"""
        copy (
            select * from read_csv('{prices}', all_varchar=true)
            where ticker in ({in_list}) and date between '{START}' and '{END}'
            order by ticker, date
        ) to '{out / "prices.csv.gz"}' (header, compression gzip)
        """
    )
    # Macro keeps one extra year before the start as warm-up for 252-day windows.
    con.execute(
        f"""
        copy (
            select * from read_csv('{macro}', all_varchar=true)
            where date between '2009-01-01' and '{END}'
            order by series, date
        ) to '{out / "macro.csv.gz"}' (header, compression gzip)
        """
    )
    con.execute(
        f"""
        copy (select * from sectors where ticker in ({in_list}) order by ticker)
        to '{out / "sectors.csv.gz"}' (header, compression gzip)
        """
    )
    flags = shared / "equities_sp500_stooq_flags.csv.gz"
    con.execute(
        f"""
        copy (
            select * from read_csv('{flags}', all_varchar=true)
            where ticker in ({in_list}) and date between '{START}' and '{END}'
            order by ticker, date, flag
        ) to '{out / "flags.csv.gz"}' (header, compression gzip)
        """
    )
    print(f"{len(tickers)} tickers written to {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(__file__).parent)
