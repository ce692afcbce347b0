"""`tradepipe`: a small command line for people without the UI.

    tradepipe summary                  where the results are, and what the warehouse holds
    tradepipe status                   the last Dagster runs, and the state of the data
    tradepipe models [--all]           champion and challenger models with their CV metrics
    tradepipe retrain [--horizon N]    whether a retrain is due, and how to run it
    tradepipe report [--date DATE]     where the daily report is, and its files
    tradepipe comparison               the last model comparison's verdict (`make compare` prints it)
    tradepipe last-date                the last market date in the price files (what `make demo` trades)

Every command reads $TRADEPIPE_HOME (default .tradepipe) and opens the warehouse read-only;
last-date reads only the files TRADEPIPE_PRICES names (default: the bundled sample).
"""

import argparse
import datetime as dt
import json
import math
import os
import shlex
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import duckdb

from assets.warehouse import comparison as comparison_tables
from assets.warehouse import status as state
from assets.warehouse.connection import shell_command, table_exists
from ml.config import settings

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
    with _warehouse() as con:
        return _summary(con, _warehouse_path())


def _summary(con: duckdb.DuckDBPyConnection, warehouse: Path) -> int:
    print(f"warehouse: {warehouse}")
    for table in CONTRACT_TABLES:
        stats = state.table_stats(con, table)
        if stats is None:
            print(f"  {table:<30} (missing)")
            continue
        dates = f"  {stats[1]} .. {stats[2]}" if stats[1] is not None or stats[2] is not None else ""
        print(f"  {table:<30} {stats[0]:>10,} rows{dates}")
    if table_exists(con, "marts.quarantine"):
        print("quarantined bars by rule:")
        for rule, n in state.quarantine_counts(con):
            print(f"  {rule:<30} {n:>10,}")
    if table_exists(con, "trading.backtest_summary"):
        print("backtest (net of costs):")
        for name, cagr, sharpe, dd in state.backtest_rows(con):
            print(f"  {name:<30} CAGR {_number(cagr, '{:7.2%}')}  Sharpe {_number(sharpe, '{:5.2f}')}  "
                  f"max drawdown {_number(dd, '{:7.2%}')}")
    adapted = state.adapted_rows(con)
    if adapted:
        print("settings adapted to the data (ops.adapted_settings):")
        for stage, key, configured, chosen, reason in adapted:
            print(f"  {stage:<10} {key} {configured:g} -> {chosen:g}: {reason}")
    if table_exists(con, "trading.trades"):
        day, status = state.latest_trades(con)
        if day is not None:
            print(f"trades on {day}: {status or 'none'}")
            print(f"report:    {_home() / 'reports' / str(day)[:10] / 'report.html'}")
    published = warehouse.with_name("analytics.duckdb")
    target = published if published.exists() else warehouse
    print(f"query it:  {shell_command(target)}")
    print(f"  or from Python: duckdb.connect({str(target)!r}, read_only=True)")
    return 0


TRAINING_ASSETS = "ml/cv_report,ml/oos_predictions,ml/champion_model"  # dagster's --select: comma-separated
RUNS_SHOWN = 5


class CliError(Exception):
    """A problem the user can fix: printed as one message on stderr, exit code 1 (no traceback)."""


# --------------------------------------------------------------------------- #
# small helpers
# --------------------------------------------------------------------------- #


def _warehouse_path() -> Path:
    return _home() / "warehouse.duckdb"


@contextmanager
def _warehouse() -> Iterator[duckdb.DuckDBPyConnection]:
    """The warehouse, read-only; a CliError when it does not exist or cannot be opened."""
    path = _warehouse_path()
    if not path.exists():
        raise CliError(f"no warehouse at {path}: run `make demo` first "
                       f"(or set TRADEPIPE_HOME to the folder that holds warehouse.duckdb)")
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        raise CliError(f"cannot open {path} read-only ({exc}); if a run is writing to it, "
                       f"try again when it has finished") from None
    try:
        yield con
    finally:
        con.close()


def _require(con: duckdb.DuckDBPyConnection, table: str, asset: str) -> None:
    if not table_exists(con, table):
        raise CliError(f"table {table} is missing from {_warehouse_path()}: "
                       f"materialize {asset} (or run `make demo`)")


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]], right: Sequence[int] = ()) -> list[str]:
    """Rows as aligned text columns (those in ``right`` right-aligned), indented two spaces, header first."""
    cells = [[str(v) for v in row] for row in [headers, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return ["  " + "  ".join(v.rjust(w) if i in right else v.ljust(w)
                             for i, (v, w) in enumerate(zip(row, widths))).rstrip() for row in cells]


def _number(value: object, fmt: str = "{:+.4f}") -> str:
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "-"
    return fmt.format(x) if math.isfinite(x) else "-"


def _day(value: object) -> str:
    return "-" if value is None else str(value)[:10]


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"


def _clock(timestamp: float | None) -> str:
    if timestamp is None:
        return "-"
    return dt.datetime.fromtimestamp(timestamp).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")


# --------------------------------------------------------------------------- #
# status
# --------------------------------------------------------------------------- #


def _dagster_home() -> Path:
    default = _home() / "dagster"
    return Path(os.environ.get("DAGSTER_HOME") or default).expanduser().resolve()


def _run_rows(records) -> list[list[str]]:
    rows = []
    for r in records:
        run = r.dagster_run
        end = r.end_time
        if r.start_time is None:
            took = "-"
        elif end is None:
            took = f"{_duration(dt.datetime.now().timestamp() - r.start_time)} so far"
        else:
            took = _duration(end - r.start_time)
        rows.append([run.run_id[:8], run.job_name, run.status.value, _clock(r.start_time), _clock(end), took])
    return rows


def _print_runs() -> None:
    """The last runs of the Dagster instance at $DAGSTER_HOME (default $TRADEPIPE_HOME/dagster)."""
    home = _dagster_home()
    if not (home / "dagster.yaml").exists():
        print(f"dagster runs: no runs recorded (no Dagster instance at {home}: "
              f"`make demo` or `make ui` create one)")
        return
    import dagster as dg  # slow to import: only here

    try:
        with dg.DagsterInstance.from_config(str(home)) as instance:
            records = instance.get_run_records(limit=RUNS_SHOWN)
    except Exception as exc:  # a broken dagster.yaml or storage: report it, then show the data anyway
        print(f"dagster runs: cannot read the instance at {home} ({type(exc).__name__}: {exc})")
        return
    if not records:
        print(f"dagster runs: no runs recorded in the instance at {home}")
        return
    print(f"dagster runs (last {len(records)}, instance {home}):")
    print("\n".join(_table(["run", "job", "status", "started", "ended", "took"], _run_rows(records))))


def _market_line(con: duckdb.DuckDBPyConnection) -> str:
    return f"latest market date   {_day(state.latest_market_date(con))}"


def _approval_line(con: duckdb.DuckDBPyConnection) -> str:
    row = state.latest_approval(con)
    if row is None:
        return "latest trading date  - (trading.trade_approvals is empty)"
    day, approved, orders, approved_orders, failed, switch = row
    verdict = (f"approved ({approved_orders} of {orders} orders)" if approved
               else f"KILL SWITCH HALTED, sells only ({approved_orders} of {orders} orders approved): {failed}"
               if switch == "halted" and approved_orders else f"BLOCKED ({orders} orders): {failed}")
    return f"latest trading date  {_day(day)}  {verdict}"


def _regime_line(con: duckdb.DuckDBPyConnection) -> str:
    row = state.latest_regime(con)
    return f"regime               {row[1]} on {_day(row[0])}" if row else "regime               - (ml.regimes is empty)"


def _book_line(con: duckdb.DuckDBPyConnection) -> str:
    row = state.latest_book(con)
    if row is None:
        return "paper book           - (trading.paper_book is empty)"
    day, equity, cash, mode = row
    return f"paper book           equity {equity:,.2f} on {_day(day)} (cash {cash:,.2f}, {mode})"


# (label, table, asset that writes it, line printer)
DATA_STATE = [
    ("latest market date", "marts.fct_features", "marts/fct_features", _market_line),
    ("latest trading date", "trading.trade_approvals", "trading/trade_approval", _approval_line),
    ("regime", "ml.regimes", "ml/regimes", _regime_line),
    ("paper book", "trading.paper_book", "trading/positions", _book_line),
]


def status() -> int:
    """The last Dagster runs and their outcome, then the state of the data in the warehouse."""
    _print_runs()
    with _warehouse() as con:
        print(f"data (warehouse {_warehouse_path()}):")
        missing = []
        for label, table, asset, line in DATA_STATE:
            if table_exists(con, table):
                print(f"  {line(con)}")
            elif table == "trading.paper_book" and state.never_approved(con):
                print(f"  {label:<20} none yet: no day approved (the book moves only by approved trades)")
            else:
                print(f"  {label:<20} (missing: {table})")
                missing.append(f"{table} (materialize {asset})")
    if missing:
        raise CliError(f"missing from {_warehouse_path()}: {', '.join(missing)}; or run `make demo`")
    return 0


# --------------------------------------------------------------------------- #
# models
# --------------------------------------------------------------------------- #


def _metrics(raw: object) -> dict:
    if isinstance(raw, str):
        try:
            raw = json.loads(raw) if raw else {}
        except json.JSONDecodeError:
            return {}
    return raw if isinstance(raw, dict) else {}


def models(show_all: bool = False) -> int:
    """Champion and challenger models (and retired ones with ``show_all``), newest first."""
    statuses = ["champion", "challenger", "retired"] if show_all else ["champion", "challenger"]
    with _warehouse() as con:
        _require(con, "ml.model_registry", "ml/champion_model")
        rows = state.registry_rows(con, statuses)
    if not rows:
        print(f"no {' or '.join(statuses)} models in ml.model_registry (materialize {TRAINING_ASSETS})")
        return 0
    champions = sorted({r[2] for r in rows if r[5] == "champion"})
    print(f"champion per horizon: {', '.join(f'{h}d' for h in champions) or 'none'}")
    table = [[m, t, h, _day(s), _day(e), st, opt if isinstance(opt, str) else "-",
              _number(_metrics(cv).get("rank_ic")), _number(_metrics(cv).get("rank_icir")),
              _number(_metrics(cv).get("ic"))]
             for m, t, h, s, e, st, cv, _, _, opt in rows]
    lines = _table(["model_id", "type", "horizon", "train_start", "train_end", "status", "optimizer", "rank_ic",
                    "rank_icir", "ic"], table)
    print(lines[0])
    for line, row in zip(lines[1:], rows):
        print(line)
        if row[7]:
            print(f"      reason: {row[7]}")
    return 0


# --------------------------------------------------------------------------- #
# retrain
# --------------------------------------------------------------------------- #


def _retrain_command(horizon: int, force: bool) -> str:
    """The dagster command that trains ``horizon`` on this home, to paste as printed: absolute
    paths, TRADEPIPE_HOME, and DAGSTER_HOME when that folder exists (dagster refuses one that
    does not; without it the run goes to a temporary instance)."""
    config: dict[str, object] = {}
    if horizon != settings().horizon:  # TrainingConfig's default
        config["horizon"] = horizon
    if force:
        config["force"] = True
    run_config = (f" --config-json {shlex.quote(json.dumps({'ops': {'model_training': {'config': config}}}))}"
                  if config else "")
    dagster = shlex.quote(str(Path(sys.executable).parent / "dagster"))
    instance = f"DAGSTER_HOME={shlex.quote(str(_dagster_home()))} " if _dagster_home().is_dir() else ""
    return (f"{instance}TRADEPIPE_HOME={shlex.quote(str(_home()))} "
            f"{dagster} asset materialize -m assets.definitions --select {TRAINING_ASSETS}{run_config}")


def retrain(horizon: int | None = None) -> int:
    """Whether new labels arrived since the champion of ``horizon`` (default: the config's) was
    trained (exit 0 either way)."""

    # here, not at the top: the training package loads LightGBM, scikit-learn and SciPy, seconds
    # of start-up the other commands do not need
    from assets.warehouse import marts
    from assets.warehouse import registry as registry_table
    from ml.training import registry

    horizon = settings().horizon if horizon is None else horizon
    with _warehouse() as con:
        _require(con, "marts.fct_training_panel", "marts/fct_training_panel")
        ends = marts.label_end_dates(con, horizon)
        if ends.empty:
            known = marts.panel_horizons(con)
            raise CliError(f"no rows for horizon {horizon} in marts.fct_training_panel "
                           f"(horizons there: {', '.join(map(str, known)) or 'none'})")
        reg = registry_table.load(con)
    champion = registry.current_champion(reg, horizon)
    due, why = registry.retrain_due(champion, ends, min_new_rows=1)
    print(f"horizon {horizon}: {'champion ' + champion['model_id'] if champion else 'no champion'}")
    print(f"{'due' if due else 'not due'}: {why}")
    if due:
        print(f"run it:\n  {_retrain_command(horizon, force=False)}")
        print("  or in the UI (`make ui`): launch retrain_job, or materialize ml/champion_model")
    else:
        print(f"a run would skip training; to retrain anyway:\n  {_retrain_command(horizon, force=True)}")
        print("  or in the UI (`make ui`): launch retrain_job with ops.model_training.config.force: true")
    if not _dagster_home().is_dir():
        print(f"  (no Dagster instance at {_dagster_home()}: the run is recorded in a temporary one; "
              f"`make setup` creates it)")
    return 0


# --------------------------------------------------------------------------- #
# report
# --------------------------------------------------------------------------- #


def _report_dates() -> list[str]:
    folder = _home() / "reports"
    return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


def report(day: dt.date | None = None) -> int:
    """The folder of the daily report for ``day`` (default: the latest trading date) and its files."""
    if day is None:
        with _warehouse() as con:
            _require(con, "trading.trades", "trading/trades")
            latest = state.latest_trading_date(con)
        if latest is None:
            raise CliError(f"trading.trades in {_warehouse_path()} is empty: materialize trading/trades")
        day = latest
    else:
        with _warehouse():
            pass  # the same check as every command: the warehouse exists and opens
    folder = _home() / "reports" / day.isoformat()
    if not (folder / "report.html").exists():
        dates = _report_dates()
        exist = f"reports exist for: {', '.join(dates)}" if dates else f"no report exists under {folder.parent} yet"
        raise CliError(f"no report for {day} at {folder}; {exist} "
                       f"(materialize reports/daily_report to write the latest date's)")
    print(f"report for {day}: {folder}")
    files = sorted(p for p in folder.iterdir() if p.is_file())
    print("\n".join(_table(["file", "bytes"], [[p.name, f"{p.stat().st_size:,}"] for p in files], right=[1])))
    print(f"open it:   {folder / 'report.html'}")
    return 0


# --------------------------------------------------------------------------- #
# comparison
# --------------------------------------------------------------------------- #

RANKED_SHOWN = 5


def _verdict(selection: dict, champion: dict | None) -> str:
    """One line: who won, whether it was promoted, or that nothing passed and the champion stays."""
    winner = f"{selection['winner_model']} x {selection['winner_optimizer']}" if selection["winner_model"] else None
    promoted = (f"{selection['promoted_model']} x {selection['promoted_optimizer']}"
                if selection["promoted_model"] else None)
    stays = ("no champion yet" if champion is None else
             f"the champion {champion['model_id']} ({champion['model_type']}) stays, trading with "
             f"{champion.get('optimizer') if isinstance(champion.get('optimizer'), str) else 'its optimizer'}")
    if winner is None:
        return f"no candidate passed the thresholds: {stays}"
    if not isinstance(selection["promoted_model_id"], str):
        why = ("promotion is off ([comparison] promote = false)" if promoted else "it cannot be deployed")
        return f"{winner} won, not promoted ({why}): {stays}"
    if promoted != winner:
        return f"{winner} won; promoted {promoted} instead: champion {selection['promoted_model_id']}"
    return f"{winner} won and was promoted: champion {selection['promoted_model_id']}"


def comparison() -> int:
    """The last model comparison: the verdict and its reason, the Deflated Sharpe Ratio, the best
    validation rows, and where the selection report is."""
    from assets.warehouse import registry as registry_table  # loads the training package: see retrain

    with _warehouse() as con:
        selection = comparison_tables.latest_selection(con)
        if selection is None:
            raise CliError(f"no model comparison in {_warehouse_path()} (ml.model_selection): run `make compare` "
                           f"(or materialize ml/model_comparison, compare_job)")
        ranking = comparison_tables.validation_ranking(con, selection["as_of"])
        champion = registry_table.champion(con, int(selection["horizon"]))
    as_of = _day(selection["as_of"])
    print(f"model comparison of {as_of} (horizon {selection['horizon']}): {selection['n_trials']} candidate x "
          f"optimizer pairs")
    print(f"  chosen on the validation window {_day(selection['validation_start'])} .. before "
          f"{_day(selection['final_start'])}; the final window {_day(selection['final_start'])} .. "
          f"{_day(selection['final_end'])} is reported only")
    print(f"verdict: {_verdict(selection, champion)}")
    print(f"  why: {selection['reason']}")
    dsr = selection["deflated_sharpe"]
    if dsr is not None and math.isfinite(dsr):
        print(f"  deflated Sharpe ratio {dsr:.3f}: " + ("significant at 5%" if dsr >= 0.95 else
                                                       "not significant at 5% (the win may be luck)"))
    if len(ranking):
        print(f"validation window, best {min(RANKED_SHOWN, len(ranking))} of {len(ranking)}:")
        rows = [[r.model, r.optimizer, _number(r.sharpe, "{:.2f}"), _number(r.max_drawdown, "{:.1%}"),
                 _number(r.calmar, "{:.2f}"), _number(r.turnover, "{:.3f}"), "yes" if r.passes else "no",
                 _number(r.score, "{:.2f}"), r.failed or "-"]
                for r in ranking.head(RANKED_SHOWN).itertuples()]
        print("\n".join(_table(["model", "optimizer", "sharpe", "max_dd", "calmar", "turnover/day", "passes",
                                "score", "failed"], rows, right=[2, 3, 4, 5, 7])))
    report_path = _home() / "reports" / "model_selection" / as_of / "report.html"
    print(f"report:  {report_path}" if report_path.exists() else f"report:  (none at {report_path})")
    return 0


# --------------------------------------------------------------------------- #
# entry point
# --------------------------------------------------------------------------- #


def last_date() -> int:
    """Print the newest date in the price files (TRADEPIPE_PRICES, default the bundled sample)."""
    from assets.resources import SAMPLE_DIR
    from ml.ingest import InputError, latest_date, resolve_files

    path = os.environ.get("TRADEPIPE_PRICES") or str(SAMPLE_DIR / "prices.csv.gz")
    try:
        print(latest_date(resolve_files(path)))
    except InputError as exc:
        raise CliError(str(exc)) from None
    return 0


def _iso_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, got {text!r}") from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tradepipe", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("summary", help="where the results are and what the warehouse holds")
    commands.add_parser("status", help="the last Dagster runs and the state of the data")
    models_cmd = commands.add_parser("models", help="champion and challenger models with their CV metrics")
    models_cmd.add_argument("--all", action="store_true", help="retired models too (fold models never)")
    retrain_cmd = commands.add_parser("retrain", help="whether a retrain is due and how to run it")
    retrain_cmd.add_argument("--horizon", type=int, default=None,
                             help="label horizon in trading days (default: horizon in the config, "
                                  f"now {settings().horizon})")
    report_cmd = commands.add_parser("report", help="where the daily report is, and its files")
    report_cmd.add_argument("--date", type=_iso_date, metavar="YYYY-MM-DD",
                            help="market date of the report (default: the latest trading date)")
    commands.add_parser("comparison", help="the last model comparison's verdict (what `make compare` prints)")
    commands.add_parser("last-date", help="the last market date in the price files (what `make demo` trades)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    commands = {
        "summary": summary,
        "status": status,
        "models": lambda: models(show_all=args.all),
        "retrain": lambda: retrain(horizon=args.horizon),
        "report": lambda: report(day=args.date),
        "comparison": comparison,
        "last-date": last_date,
    }
    try:
        return commands[args.command]()
    except CliError as exc:
        print(f"tradepipe {args.command}: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `tradepipe summary | head`: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
