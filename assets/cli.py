"""`tradepipe`: a small command line for people without the UI.

    tradepipe summary     where the results are, and what the warehouse holds
"""

import argparse
import os
import sys
from pathlib import Path

import duckdb

CONTRACT_TABLES = [
    "raw.prices",
    "marts.fct_features",
    "marts.fct_labels",
    "marts.fct_training_panel",
    "marts.fct_regime_features",
    "marts.quarantine",
    "marts.dim_instruments",
    "ml.regimes",
    "ml.preds",
    "trading.signals",
    "trading.target_weights",
    "trading.trades",
    "trading.positions",
    "trading.backtest_daily",
]


def _home() -> Path:
    return Path(os.environ.get("TRADEPIPE_HOME", ".tradepipe")).expanduser().resolve()


def summary() -> int:
    """Print the warehouse location, the row count and date span of each table, and quarantine counts."""
    warehouse = _home() / "warehouse.duckdb"
    if not warehouse.exists():
        print(f"no warehouse at {warehouse}: run `make demo` first", file=sys.stderr)
        return 1
    con = duckdb.connect(str(warehouse), read_only=True)
    print(f"warehouse: {warehouse}")
    existing = {f"{s}.{t}" for s, t in con.execute(
        "select table_schema, table_name from information_schema.tables").fetchall()}
    for table in CONTRACT_TABLES:
        if table not in existing:
            print(f"  {table:<30} (missing)")
            continue
        columns = {c for (c,) in con.execute(
            "select column_name from information_schema.columns where table_schema || '.' || table_name = ?",
            [table]).fetchall()}
        span = ", min(date), max(date)" if "date" in columns else ""
        row = con.execute(f"select count(*){span} from {table}").fetchone()
        dates = f"  {row[1]} .. {row[2]}" if span else ""
        print(f"  {table:<30} {row[0]:>10,} rows{dates}")
    if "marts.quarantine" in existing:
        print("quarantined bars by rule:")
        for rule, n in con.execute(
            "select rule, count(*) from marts.quarantine group by rule order by rule").fetchall():
            print(f"  {rule:<30} {n:>10,}")
    if "trading.backtest_summary" in existing:
        print("backtest (net of costs):")
        for name, cagr, sharpe, dd in con.execute(
                "select strategy, cagr, sharpe, max_drawdown from trading.backtest_summary").fetchall():
            print(f"  {name:<30} CAGR {cagr:7.2%}  Sharpe {sharpe:5.2f}  max drawdown {dd:7.2%}")
    if "trading.trades" in existing:
        row = con.execute("select max(date) from trading.trades").fetchone()
        if row[0] is not None:
            status = dict(con.execute("select status, count(*) from trading.trades where date = ? group by 1",
                                      [row[0]]).fetchall())
            print(f"trades on {row[0]}: {status or 'none'}")
            print(f"report:    {_home() / 'reports' / str(row[0])[:10] / 'report.html'}")
    print(f"query it:  duckdb -readonly {warehouse}  (or python: duckdb.connect(path, read_only=True))")
    con.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tradepipe", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("summary", help="where the results are and what the warehouse holds")
    args = parser.parse_args(argv)
    if args.command == "summary":
        return summary()
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
