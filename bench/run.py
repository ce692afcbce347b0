"""Benchmark the pipeline: ingest and ``dbt build`` at four scales, plus pandas against SQL.

Usage::

    python -m bench.run [--quick] [--cases sample,shared,synthetic500,synthetic2000] [--keep]

For each case, in a fresh temporary warehouse, every stage runs as its own child process and is
measured from outside: wall time (``time.perf_counter`` around the child) and the child's peak
resident memory (``ru_maxrss`` from ``os.wait4`` on that one child, so no other process is
mixed in). See ``bench/README.md`` for what each figure means. Results are printed as markdown
and written to ``bench/results/latest.md`` and ``bench/results/latest.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SAMPLE_DATA = REPO / "data" / "sample"
RESULTS = REPO / "bench" / "results"
PYTHON = sys.executable
DBT = str(Path(sys.executable).parent / "dbt")

CASES: tuple[str, ...] = ("sample", "shared", "synthetic500", "synthetic2000")
SYNTHETIC_TICKERS = {"synthetic500": 500, "synthetic2000": 2000}
SYNTHETIC_YEARS = 10.0
SYNTHETIC_SEED = 0
# The model that the fixed-overhead run builds: one small table (the distinct dates).
OVERHEAD_MODEL = "int_trading_days_numbered"
TOP_NODES = 5

INGEST_CODE = """
import json, sys, time, duckdb
from assets.warehouse import raw
from ml import ingest
warehouse, prices, macro, sectors, out = sys.argv[1:6]
start = time.perf_counter()
with duckdb.connect(warehouse) as con:
    staged = [ingest.stage_prices(con, prices), ingest.stage_macro(con, macro), ingest.stage_instruments(con, sectors)]
    raw.swap(con, staged)
    meta = dict(zip(("prices", "macro", "instruments"), (s.summary for s in staged)))
meta["inner_s"] = time.perf_counter() - start
open(out, "w").write(json.dumps(meta))
"""

GENERATE_CODE = """
import sys
from pathlib import Path
from ml.ingest import synthetic
n_tickers, n_years, seed, folder = sys.argv[1:5]
market = synthetic.generate_market(int(n_tickers), float(n_years), seed=int(seed))
synthetic.write_market(market, Path(folder))
"""


@dataclass
class ChildRun:
    """One child process: wall time, its peak RSS, its exit code and where its output went."""

    wall_s: float
    peak_rss_mb: float
    returncode: int
    log: Path


@dataclass
class Stage:
    """One row of the results table."""

    case: str
    stage: str
    wall_s: float
    peak_rss_mb: float
    rows: int | None
    rows_per_s: float | None
    ok: bool = True
    note: str = ""


@dataclass
class CaseResult:
    """Everything measured for one case."""

    case: str
    skipped: str | None = None
    loadavg_at_start: tuple[float, float, float] | None = None
    inputs: dict[str, str] = field(default_factory=dict)
    stages: list[Stage] = field(default_factory=list)
    dbt_build: dict[str, Any] | None = None
    dbt_overhead: dict[str, Any] | None = None
    pandas_vs_sql: dict[str, Any] | None = None
    models: dict[str, Any] | None = None


# The model stages (regime history, walk-forward CV) run on real data only: the synthetic cases
# measure the SQL at scale.
MODEL_CASES = ("sample", "shared")


def _model_note(name: str, f: dict[str, Any]) -> str:
    if name == "regime":
        return f"{f['seconds']:.1f}s in-child; {f['dates']} dates, {f['models']} models"
    if name == "backtest":
        parts = []
        for opt, r in f.items():
            if isinstance(r, dict) and "summary" in r:
                m = r["summary"]["model"]
                parts.append(f"{opt} {r['seconds']:.1f}s: net Sharpe {m['sharpe']:.2f}, CAGR {m['cagr']:.2%}, "
                             f"max DD {m['max_drawdown']:.1%}, turnover {m['turnover']:.3f}/day")
        first = next(r for r in f.values() if isinstance(r, dict) and "summary" in r)
        bench = "; ".join(f"{k} Sharpe {v['sharpe']:.2f}, CAGR {v['cagr']:.2%}, max DD {v['max_drawdown']:.1%}"
                          for k, v in first["summary"].items() if k != "model")
        return f"{first['days']} days; " + "; ".join(parts) + f"; benchmarks: {bench}"
    return (f"walk-forward {f['walk_forward_s']:.1f}s ({f['folds']} folds, {f['oos_rows']:,} OOS rows); "
            f"final {f['train_final_s']:.1f}s; score {f['scored_tickers']} tickers {f['score_latest_s'] * 1000:.0f}ms; "
            f"OOS rank IC {f['oos_mean_rank_ic']:.4f}, rank ICIR {f['rank_icir']:.3f}, "
            f"top-bottom decile {f['top_minus_bottom_decile']:.5f}")


def run_child(argv: list[str], log: Path, cwd: Path = REPO, env: dict[str, str] | None = None) -> ChildRun:
    """Run ``argv`` to completion with output to ``log``; measure wall time and peak RSS.

    ``os.wait4`` returns the resource usage of exactly this child (including any of its own
    children it waited for), unlike ``getrusage(RUSAGE_CHILDREN)``, which is the maximum over
    every child the benchmark has ever reaped. On Linux ``ru_maxrss`` is in KiB.
    """
    with open(log, "wb") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return ChildRun(wall, usage.ru_maxrss / 1024, proc.returncode, log)


def dbt_child(args: list[str], project: Path, warehouse: Path, target: Path, log: Path) -> ChildRun:
    """Run one dbt command on ``warehouse`` with its own target and log folders."""
    env = dict(os.environ, TRADEPIPE_WAREHOUSE=str(warehouse),
               DBT_SEND_ANONYMOUS_USAGE_STATS="false", DO_NOT_TRACK="1",
               DBT_USE_COLORS="false")
    argv = [DBT, *args, "--profiles-dir", ".", "--target-path", str(target),
            "--log-path", str(target.parent / f"{target.name}_logs")]
    return run_child(argv, log, cwd=project, env=env)


def tail(path: Path, lines: int = 15) -> str:
    """The last ``lines`` lines of a text file."""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def case_inputs(case: str, work: Path) -> tuple[dict[str, Path] | None, ChildRun | None, str]:
    """Input paths of a case, the synthetic generation run (if any), and a skip reason ('' if none)."""
    if case == "sample":
        return {k: SAMPLE_DATA / f"{k}.csv.gz" for k in ("prices", "macro", "sectors")}, None, ""
    if case == "shared":
        paths = {"prices": SHARED_DATA / "equities_sp500_stooq_daily.csv.gz",
                 "macro": SHARED_DATA / "macro_daily.csv.gz",
                 "sectors": SHARED_DATA / "sectors_sp500_2018-04-02.csv.gz"}
        missing = [str(p) for p in paths.values() if not p.exists()]
        return (None, None, f"shared data absent: {', '.join(missing)}") if missing else (paths, None, "")
    folder = work / "input"
    folder.mkdir()
    argv = [PYTHON, "-c", GENERATE_CODE, str(SYNTHETIC_TICKERS[case]), str(SYNTHETIC_YEARS),
            str(SYNTHETIC_SEED), str(folder)]
    run = run_child(argv, work / "generate.log")
    if run.returncode != 0:
        return None, run, f"generation failed (rc={run.returncode}):\n{tail(run.log)}"
    return {k: folder / f"{k}.parquet" for k in ("prices", "macro", "sectors")}, run, ""


def read_run_results(target: Path) -> dict[str, Any]:
    """Summary of dbt's run_results.json: statuses, elapsed time, time by node type, slowest nodes."""
    path = target / "run_results.json"
    if not path.exists():
        return {"error": f"{path} not written"}
    results = json.loads(path.read_text())
    nodes = [
        {"node": r["unique_id"].split(".", 2)[-1] if r["unique_id"].startswith("test.")
         else r["unique_id"].rsplit(".", 1)[-1],
         "type": r["unique_id"].split(".", 1)[0], "seconds": r["execution_time"], "status": r["status"]}
        for r in results["results"]
    ]
    statuses: dict[str, int] = {}
    by_type: dict[str, float] = {}
    for n in nodes:
        statuses[n["status"]] = statuses.get(n["status"], 0) + 1
        by_type[n["type"]] = by_type.get(n["type"], 0.0) + n["seconds"]
    return {
        "elapsed_s": results.get("elapsed_time"),
        "statuses": statuses,
        "seconds_by_type": by_type,
        "top_nodes": sorted(nodes, key=lambda n: n["seconds"], reverse=True)[:TOP_NODES],
        "nodes": nodes,
    }


def run_case(case: str, work: Path, project: Path, repeat: int) -> CaseResult:
    """Measure generation (synthetic), ingest, dbt build, dbt overhead and pandas vs SQL."""
    result = CaseResult(case, loadavg_at_start=os.getloadavg())
    print(f"\n== {case} (load average {fmt_load(result.loadavg_at_start)})", flush=True)
    paths, generation, skip = case_inputs(case, work)
    if paths is None:
        result.skipped = skip
        print(f"   skipped: {skip}", flush=True)
        return result
    result.inputs = {k: str(v) for k, v in paths.items()}
    warehouse = work / "warehouse.duckdb"

    meta_path = work / "ingest.json"
    ingest = run_child([PYTHON, "-c", INGEST_CODE, str(warehouse), str(paths["prices"]),
                        str(paths["macro"]), str(paths["sectors"]), str(meta_path)], work / "ingest.log")
    if ingest.returncode != 0:
        result.skipped = f"ingest failed (rc={ingest.returncode}):\n{tail(ingest.log)}"
        print(f"   {result.skipped}", flush=True)
        return result
    meta = json.loads(meta_path.read_text())
    rows = int(meta["prices"]["rows"])
    if generation is not None:
        result.stages.append(stage(case, "generate (not in ingest)", generation, rows))
        report(result.stages[-1])
    result.stages.append(stage(case, "ingest", ingest, rows,
                               note=f"{meta['prices']['tickers']} tickers; in-child {meta['inner_s']:.2f}s"))
    report(result.stages[-1])

    # As `make setup` does: parse once against this warehouse (timed separately, below), so the
    # build starts from a warm partial parse like a pipeline run.
    target = work / "target"
    dbt_child(["parse"], project, warehouse, target, work / "dbt_setup_parse.log")
    build = dbt_child(["build"], project, warehouse, target, work / "dbt_build.log")
    summary = read_run_results(target)
    result.dbt_build = summary
    statuses = ", ".join(f"{n} {s}" for s, n in sorted(summary.get("statuses", {}).items()))
    failed = [n["node"] for n in summary.get("nodes", []) if n["status"] in ("error", "fail")]
    result.stages.append(stage(case, "dbt build", build, rows, ok=build.returncode == 0,
                               note=f"rc={build.returncode}; {statuses}"
                               + (f"; failed: {', '.join(failed)}" if failed else "")))
    report(result.stages[-1])
    if build.returncode != 0:
        print(tail(build.log), flush=True)

    # Fixed overhead: (1) start-up + full project parse, no data touched; (2) start-up + partial
    # parse (warm, the build's target) + connection + one small model, minus that model's time.
    parse = dbt_child(["parse", "--no-partial-parse"], project, warehouse, work / "target_parse",
                      work / "dbt_parse.log")
    one = dbt_child(["run", "--select", OVERHEAD_MODEL], project, warehouse, target, work / "dbt_one.log")
    one_summary = read_run_results(target)
    node_s = sum(n["seconds"] for n in one_summary.get("nodes", []))
    result.dbt_overhead = {
        "parse_cold_s": parse.wall_s, "parse_ok": parse.returncode == 0,
        "parse_peak_rss_mb": parse.peak_rss_mb,
        "one_model": OVERHEAD_MODEL, "one_model_wall_s": one.wall_s, "one_model_node_s": node_s,
        "one_model_overhead_s": one.wall_s - node_s, "one_model_ok": one.returncode == 0,
        "one_model_peak_rss_mb": one.peak_rss_mb,
    }
    print(f"   dbt parse (cold) {parse.wall_s:.2f}s; dbt run 1 model {one.wall_s:.2f}s "
          f"(node {node_s:.2f}s)", flush=True)

    # marts.fct_alpha158, which the build above leaves out (feature_set base): built alone from
    # the build's int_prices_validated, as a build with feature_set alpha158 or all runs it.
    target_a158 = work / "target_alpha158"
    a158 = dbt_child(["run", "--select", "fct_alpha158", "--full-refresh", "--vars", json.dumps({"alpha158": True})],
                     project, warehouse, target_a158, work / "dbt_alpha158.log")
    a158_node_s = sum(n["seconds"] for n in read_run_results(target_a158).get("nodes", []))
    result.stages.append(stage(case, "fct_alpha158 full build", a158, rows, ok=a158.returncode == 0,
                               note=f"rc={a158.returncode}; node {a158_node_s:.1f}s (the rest: dbt start-up and "
                                    "parse with var alpha158 on)"))
    report(result.stages[-1])
    if a158.returncode != 0:
        print(tail(a158.log), flush=True)

    if case in MODEL_CASES:
        result.models = {}
        for name in ("regime", "lightgbm", "ridge", "backtest"):
            out_json = work / f"model_{name}.json"
            run = run_child([PYTHON, "-m", "bench.models", str(warehouse), name, str(out_json)],
                            work / f"model_{name}.log")
            if run.returncode == 0:
                figures = json.loads(out_json.read_text())
                result.models[name] = figures
                label = {"regime": "regime walk-forward", "backtest": "backtest, each optimizer"}.get(
                    name, f"{name} walk-forward + final + score")
                result.stages.append(stage(case, label, run, rows, note=_model_note(name, figures)))
            else:
                result.models[name] = {"error": tail(run.log)}
                result.stages.append(stage(case, name, run, rows, ok=False, note="failed"))
                print(tail(run.log), flush=True)
            report(result.stages[-1])
        # The Dagster pipeline in-process: everything once on the prices before the last day, then
        # the last day arrives and the daily job runs (no retraining, incremental dbt build).
        out_json = work / "daily.json"
        run = run_child([PYTHON, "-m", "bench.daily", str(work / "home"), str(paths["prices"]),
                         str(paths["macro"]), str(paths["sectors"]), str(out_json)], work / "daily.log")
        if run.returncode == 0:
            f = json.loads(out_json.read_text())
            result.models["daily"] = f
            for name in ("full", "daily_job"):
                top = ", ".join(f"{k} {v:.1f}s" for k, v in list(f[name]["steps"].items())[:6])
                note = f"{f[name]['seconds']:.1f}s in-process, success={f[name]['success']}; {top}"
                if name == "daily_job":
                    note += f"; dbt build {f['dbt_builds'][-1]['mode']}"
                label = (f"Dagster: every asset (training included), prices to {f['previous_date']}"
                         if name == "full" else
                         f"Dagster: daily_job for {f['market_date']}, its prices new (no retraining)")
                seconds = f[name]["seconds"]  # in-process time of that job; peak RSS is the child's
                result.stages.append(Stage(case, label, seconds, run.peak_rss_mb, rows, rows / seconds,
                                           ok=f[name]["success"], note=note))
                report(result.stages[-1])
        else:
            result.models["daily"] = {"error": tail(run.log)}
            result.stages.append(stage(case, "Dagster pipeline", run, rows, ok=False, note="failed"))
            print(tail(run.log), flush=True)
        if run.returncode == 0:
            # The model comparison on the same home: every candidate x optimizer (default config).
            out_json = work / "compare.json"
            run = run_child([PYTHON, "-m", "bench.compare", str(work / "home"), str(paths["prices"]),
                             str(paths["macro"]), str(paths["sectors"]), str(out_json)], work / "compare.log")
            f = json.loads(out_json.read_text()) if run.returncode == 0 else {"success": False}
            result.models["compare"] = f
            note = (f"{f['seconds']:.1f}s in-process; winner {f['winner']}, DSR {f['deflated_sharpe']}; "
                    + ", ".join(f"{k} {v}s" for k, v in f["stage_seconds"].items())) if f.get("success") else "failed"
            result.stages.append(Stage(case, "Dagster: model comparison (compare_job)", f.get("seconds", run.wall_s),
                                       run.peak_rss_mb, rows, rows / max(f.get("seconds", run.wall_s), 1e-9),
                                       ok=bool(f.get("success")), note=note))
            report(result.stages[-1])

    out = work / "pandas_vs_sql.json"
    cmp = run_child([PYTHON, "-m", "bench.pandas_reference", str(warehouse), str(out),
                     "--repeat", str(repeat)], work / "pandas_vs_sql.log")
    if cmp.returncode == 0:
        result.pandas_vs_sql = json.loads(out.read_text())
        result.pandas_vs_sql["child_wall_s"] = cmp.wall_s
        result.pandas_vs_sql["child_peak_rss_mb"] = cmp.peak_rss_mb
        p = result.pandas_vs_sql
        print(f"   pandas {p['pandas_s']:.2f}s vs SQL {p['sql_s']:.2f}s "
              f"(x{p['pandas_over_sql']:.1f}); max diff {worst_diff(p['pandas_vs_sql'])}", flush=True)
    else:
        result.pandas_vs_sql = {"error": f"rc={cmp.returncode}:\n{tail(cmp.log)}"}
        print(f"   pandas vs SQL failed: {result.pandas_vs_sql['error']}", flush=True)
    return result


def stage(case: str, name: str, run: ChildRun, rows: int, ok: bool | None = None, note: str = "") -> Stage:
    """A results row from a child run."""
    return Stage(case, name, run.wall_s, run.peak_rss_mb, rows, rows / run.wall_s if run.wall_s else None,
                 ok=run.returncode == 0 if ok is None else ok, note=note)


def report(s: Stage) -> None:
    """Print one stage as it finishes."""
    print(f"   {s.stage}: {s.wall_s:.2f}s, peak RSS {s.peak_rss_mb:.0f} MB, {s.rows:,} rows "
          f"({s.rows_per_s:,.0f}/s) {s.note}", flush=True)


def worst_diff(diffs: dict[str, Any] | None) -> str:
    """'column=value' of the largest max-abs difference, plus NULL mismatches if any."""
    if not diffs:
        return "n/a"
    cols = {k: v for k, v in diffs.items() if not k.startswith("_")}
    col = max(cols, key=lambda c: cols[c]["max_abs_diff"] or 0.0)
    worst = cols[col]["max_abs_diff"] or 0.0
    nulls = sum(v["null_mismatch"] for v in cols.values())
    where = f"{worst:.2e} ({col})" if worst else "0 (every column)"
    return f"{where}; NULL mismatches {nulls}; {diffs['_joined_rows']['rows']:,} rows joined"


def fmt_load(load: tuple[float, float, float] | None) -> str:
    """Load averages as '1.23 / 1.10 / 0.90' (1, 5, 15 minutes)."""
    return " / ".join(f"{x:.2f}" for x in load) if load else "n/a"


def machine_info() -> dict[str, Any]:
    """CPU count, memory, versions, date, load average and the state of the dbt sources."""
    import duckdb
    import pandas

    mem_kb = next((int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal:")), 0) if Path("/proc/meminfo").exists() else 0
    git = lambda *a: subprocess.run(["git", *a], cwd=REPO, capture_output=True, text=True).stdout.strip()  # noqa: E731
    return {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "pandas": pandas.__version__,
        "dbt_core": metadata.version("dbt-core"),
        "dbt_duckdb": metadata.version("dbt-duckdb"),
        "git_head": git("rev-parse", "--short", "HEAD"),
        "dbt_project_uncommitted": git("status", "--porcelain", "--", "dbt_project").splitlines(),
        "loadavg_at_start": os.getloadavg(),
    }


def to_markdown(machine: dict[str, Any], cases: list[CaseResult]) -> str:
    """The results as a markdown document."""
    m = machine
    out = [
        f"# tradepipe benchmark, {m['date']}",
        "",
        f"{m['cpu_count']} CPUs, {m['memory_gb']} GB, {m['platform']}; Python {m['python']}, "
        f"DuckDB {m['duckdb']}, pandas {m['pandas']}, dbt-core {m['dbt_core']}, dbt-duckdb {m['dbt_duckdb']}; "
        f"git {m['git_head']}" + (f" (+{len(m['dbt_project_uncommitted'])} uncommitted dbt files)"
                                  if m["dbt_project_uncommitted"] else ""),
        "",
        f"Load average (1/5/15 min) at start: {fmt_load(m['loadavg_at_start'])}; "
        f"at end: {fmt_load(m.get('loadavg_at_end'))}. The machine is shared: treat walls as indicative.",
        "",
        "## Stages",
        "",
        "| case | stage | wall_s | peak_rss_mb | rows | rows_per_s | note |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for c in cases:
        if c.skipped:
            out.append(f"| {c.case} | skipped | | | | | {c.skipped.splitlines()[0]} |")
        for s in c.stages:
            flag = "" if s.ok else "**FAILED** "
            out.append(f"| {s.case} | {s.stage} | {s.wall_s:.2f} | {s.peak_rss_mb:.0f} | {s.rows:,} | "
                       f"{s.rows_per_s:,.0f} | {flag}{s.note} |")
    out += ["", "Load average at the start of each case: " + "; ".join(
        f"{c.case} {fmt_load(c.loadavg_at_start)}" for c in cases), ""]

    out += ["## dbt fixed overhead", "",
            "`dbt parse --no-partial-parse` (start-up + full parse, no SQL run) and "
            f"`dbt run --select {OVERHEAD_MODEL}` (start-up + warm partial parse + connection + one "
            "small model; overhead = wall - the node's own time).", "",
            "| case | parse cold s | 1-model run wall s | node s | overhead s | dbt build wall s | "
            "build elapsed (run_results) s |",
            "|---|---:|---:|---:|---:|---:|---:|"]
    for c in cases:
        if c.dbt_overhead and c.dbt_build:
            o, b = c.dbt_overhead, c.dbt_build
            build_wall = next(s.wall_s for s in c.stages if s.stage == "dbt build")
            out.append(f"| {c.case} | {o['parse_cold_s']:.2f} | {o['one_model_wall_s']:.2f} | "
                       f"{o['one_model_node_s']:.2f} | {o['one_model_overhead_s']:.2f} | {build_wall:.2f} | "
                       f"{b.get('elapsed_s') or 0:.2f} |")

    for c in cases:
        f = c.models.get("compare") if c.models else None
        if f and f.get("success"):
            out += ["", f"## Model comparison, {c.case}: Sharpe (net) per model x optimizer", "",
                    f"Validation from {f['validation_start']}, final window from {f['final_start']}. "
                    f"Winner: {f['winner']}; Deflated Sharpe {f['deflated_sharpe']} over {f['n_trials']} trials. "
                    f"{f['reason']}", ""]
            for window in ("validation", "final"):
                matrix = f[f"sharpe_{window}"]
                models = sorted(next(iter(matrix.values())))
                out += [f"{window}:", "", "| model | " + " | ".join(matrix) + " |",
                        "|---|" + "---:|" * len(matrix)]
                out += [f"| {m} | " + " | ".join(f"{matrix[o].get(m)}" for o in matrix) + " |" for m in models]
                out.append("")

    out += ["", f"## Slowest dbt build nodes (top {TOP_NODES} by execution time; 2 dbt threads)", "",
            "| case | node | type | seconds | status |", "|---|---|---|---:|---|"]
    for c in cases:
        if c.dbt_build and "top_nodes" in c.dbt_build:
            for n in c.dbt_build["top_nodes"]:
                out.append(f"| {c.case} | {n['node']} | {n['type']} | {n['seconds']:.2f} | {n['status']} |")
            by_type = ", ".join(f"{t} {s:.1f}s" for t, s in c.dbt_build["seconds_by_type"].items())
            out.append(f"| {c.case} | *sum by type* | | | {by_type} |")

    out += ["", "## pandas vs SQL: 10 features (ret_1d, ret_5d, ret_20d, mom_12_1, vol_20d, close_to_ma20, "
            "rsi_14, volume_ratio_20d, dist_high_252d, atr_14d_ratio)", "",
            "| case | rows | load to pandas s | pandas s | SQL s (DuckDB threads) | pandas/SQL | "
            "max abs diff pandas vs SQL | max abs diff SQL vs dbt fct_features |",
            "|---|---:|---:|---:|---:|---:|---|---|"]
    for c in cases:
        p = c.pandas_vs_sql
        if p and "error" not in p:
            out.append(f"| {c.case} | {p['rows']:,} | {p['load_s']:.2f} | {p['pandas_s']:.2f} | "
                       f"{p['sql_s']:.2f} ({p['duckdb_threads']}) | {p['pandas_over_sql']:.1f} | "
                       f"{worst_diff(p['pandas_vs_sql'])} | {worst_diff(p['sql_vs_dbt_fct_features'])} |")
        elif p:
            out.append(f"| {c.case} | | | | | | failed: {p['error'].splitlines()[0]} | |")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="only the bundled sample")
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma-separated subset of {','.join(CASES)}")
    parser.add_argument("--repeat", type=int, default=2, help="pandas/SQL runs each (best kept)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (warehouses, logs)")
    args = parser.parse_args(argv)
    cases = ["sample"] if args.quick else [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = sorted(set(cases) - set(CASES))
    if unknown:
        parser.error(f"unknown case(s) {unknown}; choose from {', '.join(CASES)}")

    machine = machine_info()
    print(f"tradepipe benchmark: cases {', '.join(cases)}; {machine['cpu_count']} CPUs; "
          f"load average at start {fmt_load(machine['loadavg_at_start'])}", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="tradepipe-bench-"))
    # One snapshot of the dbt project for every case, so concurrent edits cannot mix versions.
    project = tmp / "dbt_project"
    shutil.copytree(REPO / "dbt_project", project, ignore=shutil.ignore_patterns("target", "logs"))
    results: list[CaseResult] = []
    try:
        for case in cases:
            work = tmp / case
            work.mkdir()
            results.append(run_case(case, work, project, args.repeat))
            if not args.keep:
                shutil.rmtree(work, ignore_errors=True)
    finally:
        machine["loadavg_at_end"] = os.getloadavg()
        if args.keep:
            print(f"\nkept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    markdown = to_markdown(machine, results)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = "latest" if set(cases) == set(CASES) else "latest-" + "-".join(cases)
    (RESULTS / f"{stem}.md").write_text(markdown)
    payload = {
        "machine": machine,
        "stages": [asdict(s) for c in results for s in c.stages],
        "cases": [asdict(c) for c in results],
    }
    (RESULTS / f"{stem}.json").write_text(json.dumps(payload, indent=2, default=str))
    print("\n" + markdown)
    print(f"wrote {RESULTS / (stem + '.md')} and {RESULTS / (stem + '.json')}")


if __name__ == "__main__":
    main()
