"""Model fits on a quiet and on a busy machine, side by side in one run: the thread policy's benchmark.

    python -m bench.loaded WAREHOUSE [--policies old,new] [--busy 2] [--out bench/results/loaded]

The workload is each comparison candidate's fit (``ml.comparison.train_candidates`` with
``default_candidates()``: ridge, random_forest, lightgbm, lightgbm_tuned, mlp) on a fixed slice of
the 5-day training panel of WAREHOUSE: its last 756 + 63 dates, i.e. one walk-forward fold of
756 training days and 63 test days, the tuned LightGBM first searching 4 trials x 3 purged folds
on the training days. Every (policy, condition) runs in its own child process; the loaded
condition starts ``--busy`` background processes that spin (``while True: pass``) for as long as
the child fits, and stops them after.

Policies:

* ``new``: the project's thread policy (:mod:`ml.parallel`).
* ``old``: the previous defaults, switched on here: every fit with ``os.cpu_count()`` threads
  (LightGBM ``num_threads``, random forest ``n_jobs``) and the BLAS pool of scikit-learn fits
  left at its default (as many threads as cores). The OpenMP wait policy is passive in both.

The 1-minute load average is recorded before and after every fit: the machine may be shared, so
"quiet" means without the benchmark's own busy processes, not idle.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

MODELS = ("ridge", "random_forest", "lightgbm", "lightgbm_tuned", "mlp")
TRAIN_DAYS, TEST_DAYS, TUNING_ITER = 756, 63, 4


def _old_policy() -> None:
    """Switch the previous defaults on in this process (see the module docstring)."""
    import ml.comparison.tuning
    import ml.parallel

    ml.parallel.fit_threads = lambda: os.cpu_count() or 1
    ml.parallel.fit_thread_limits = contextlib.nullcontext
    ml.comparison.tuning.fit_thread_limits = contextlib.nullcontext


def child(warehouse: str, policy: str, models: list[str]) -> dict:
    """Fit each model on the slice; seconds and load averages per model."""
    import duckdb
    import numpy as np
    import pandas as pd

    if policy == "old":
        _old_policy()
    from assets.warehouse import marts
    from ml.comparison import default_candidates, train_candidates
    from ml.parallel import fit_threads
    from ml.training import TrainingSpec

    with duckdb.connect(warehouse, read_only=True) as con:
        panel = marts.training_panel(con, 5)
    dates = np.sort(panel["date"].unique())[-(TRAIN_DAYS + TEST_DAYS):]
    panel = panel[panel["date"].isin(dates)].reset_index(drop=True)
    test_from = pd.Timestamp(dates[TRAIN_DAYS])
    spec = TrainingSpec(horizon=5, train_days=TRAIN_DAYS, test_days=TEST_DAYS)
    known = {c.name: c for c in default_candidates()}
    out = {"policy": policy, "fit_threads": fit_threads(), "rows": len(panel), "models": {}}
    for name in models:
        load_before = os.getloadavg()[0]
        start = time.perf_counter()
        train_candidates(panel, [known[name]], spec, test_from=test_from, tuning_iter=TUNING_ITER)
        out["models"][name] = {"seconds": round(time.perf_counter() - start, 2),
                               "load_before": round(load_before, 2), "load_after": round(os.getloadavg()[0], 2)}
        print(f"  {policy} {name}: {out['models'][name]}", file=sys.stderr, flush=True)
    return out


def _run_child(warehouse: str, policy: str, models: list[str], busy: int) -> dict:
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(busy)]
    try:
        if spinners:
            time.sleep(2)  # let them take their share of the CPUs before the first fit
        done = subprocess.run([sys.executable, "-m", "bench.loaded", warehouse, "--child", policy,
                               "--models", ",".join(models)], capture_output=True, text=True, check=False)
    finally:
        for proc in spinners:
            proc.kill()
            proc.wait()
    sys.stderr.write(done.stderr)
    if done.returncode != 0:
        raise RuntimeError(f"child {policy} (busy={busy}) failed with exit code {done.returncode}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _markdown(result: dict) -> str:
    lines = [f"# Model fits, quiet vs loaded ({result['busy']} busy processes)", "",
             f"{result['when']}, {result['machine']}; CPUs available to the process: "
             f"{result['available_cpus']} (os.cpu_count() {result['cpu_count']}). Workload: each "
             f"comparison candidate on the last {TRAIN_DAYS} + {TEST_DAYS} dates of the sample's "
             f"5-day panel ({result['rows']} rows): one walk-forward fold; lightgbm_tuned first "
             f"searches {TUNING_ITER} trials x 3 purged folds. Load: the 1-minute load average "
             "before -> after each fit (the machine is shared: 'quiet' is without the benchmark's "
             "busy processes, not idle).", ""]
    header = "| model | " + " | ".join(
        f"{p} quiet s | {p} loaded s | {p} ratio" for p in result["policies"]) + " | load (quiet / loaded) |"
    lines += [header, "|" + "---|" * (1 + 3 * len(result["policies"]) + 1)]
    for model in result["models"]:
        cells, loads = [], []
        for policy in result["policies"]:
            q = result["runs"][policy]["quiet"]["models"][model]
            b = result["runs"][policy]["loaded"]["models"][model]
            cells.append(f"{q['seconds']:.1f} | {b['seconds']:.1f} | {b['seconds'] / q['seconds']:.1f}x")
            loads.append(f"{policy} {q['load_before']:.1f}->{q['load_after']:.1f} / "
                         f"{b['load_before']:.1f}->{b['load_after']:.1f}")
        lines.append(f"| {model} | " + " | ".join(cells) + " | " + "; ".join(loads) + " |")
    lines.append("")
    for policy in result["policies"]:
        ratios = result["ratios"][policy]
        lines.append(f"- {policy}: LightGBM's loaded/quiet ratio is {ratios['lightgbm'] / ratios['ridge']:.2f}x "
                     f"ridge's ({ratios['lightgbm']:.1f}x vs {ratios['ridge']:.1f}x); tuned LightGBM "
                     f"{ratios['lightgbm_tuned'] / ratios['ridge']:.2f}x.")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("warehouse")
    parser.add_argument("--policies", default="old,new")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--busy", type=int, default=2)
    parser.add_argument("--out", default="bench/results/loaded")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    models = args.models.split(",")
    if args.child:
        print(json.dumps(child(args.warehouse, args.child, models)))
        return 0
    from ml.parallel import available_cpus

    policies = args.policies.split(",")
    runs: dict[str, dict] = {p: {} for p in policies}
    for policy in policies:  # quiet then loaded, back to back for each policy
        for condition, busy in (("quiet", 0), ("loaded", args.busy)):
            print(f"{policy} {condition}:", file=sys.stderr, flush=True)
            runs[policy][condition] = _run_child(args.warehouse, policy, models, busy)
    result = {
        "when": time.strftime("%Y-%m-%d %H:%M"), "machine": f"{platform.machine()} {platform.python_version()}",
        "available_cpus": available_cpus(), "cpu_count": os.cpu_count(), "busy": args.busy,
        "rows": runs[policies[0]]["quiet"]["rows"], "policies": policies, "models": models, "runs": runs,
        "ratios": {p: {m: runs[p]["loaded"]["models"][m]["seconds"] / runs[p]["quiet"]["models"][m]["seconds"]
                       for m in models} for p in policies},
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    text = _markdown(result)
    out.with_suffix(".md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
