"""Forecast quality of training recipes on a built warehouse: out-of-sample rank IC, ICIR and the
top-minus-bottom decile spread, scored against the close-to-close label (close t+1 -> close
t+1+h, ``fwd_excess_return_close``) whatever label a recipe is fitted on.

    python -m bench.forecast WAREHOUSE [--recipes a,b,...] [--test] [--out FILE.md]

Two windows, fixed before any recipe was tried:

* the **choosing window** (2009-01-01 .. 2013-12-31): every recipe is reported here, and only
  here a recipe may be chosen;
* the **test window** (2014-01-02 .. 2017-10-31): reported with ``--test`` for the configured
  recipe alone (tradepipe.toml [training], what the pipeline runs), never per candidate recipe,
  so the test window cannot take part in the choice. A recipe scored on the choosing window only
  is trained on the dates up to its end: the folds are anchored at the data start, so they are
  the same folds as on the whole history, at half the cost.

Each recipe runs the full walk-forward (ml.training.walk_forward, the pipeline's code) in its own
child process: wall time and peak memory are that process's (os.wait4). Figures are as
measured; a window the data does not cover is reported as such.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import pandas as pd

CHOOSING = ("2009-01-01", "2013-12-31")
TEST = ("2014-01-02", "2017-10-31")
HORIZON = 5
QLIB_PARAMS = {"learning_rate": 0.2, "num_leaves": 210, "max_depth": 8, "colsample_bytree": 0.8879,
               "subsample": 0.8789, "reg_alpha": 205.6999, "reg_lambda": 580.9768}

# Recipes over the configured spec (tradepipe.toml [training]); "configured" is the spec itself.
RECIPES: dict[str, dict] = {
    "configured": {},
    "close_label": {"label_price": "close"},
    "rank_norm": {"normalize": "rank"},
    "robust_z": {"normalize": "robust_zscore"},
    "rank_norm_close": {"normalize": "rank", "label_price": "close"},
    "mi_20": {"feature_selection": "mutual_info", "max_features": 20},
    "gain_20": {"feature_selection": "lightgbm", "max_features": 20},
    "expanding": {"expanding": True},
    # every 2nd / 5th date of each training window (the labels of neighbouring dates overlap)
    "stride_2": {"date_stride": 2},
    "stride_5": {"date_stride": 5},
    "ridge": {"model_type": "ridge"},
    "ridge_stride_5": {"model_type": "ridge", "date_stride": 5},
    # needs marts.fct_alpha158 in the warehouse (a build with [training] feature_set alpha158 or all)
    "all_features_close": {"feature_set": "all", "label_price": "close"},
    "all_features_close_mi_40": {"feature_set": "all", "label_price": "close", "feature_selection": "mutual_info",
                                 "max_features": 40},
    "alpha158_close": {"feature_set": "alpha158", "label_price": "close"},
    # Qlib's published LightGBM benchmark parameters for Alpha158 (workflow_config_lightgbm_Alpha158.yaml)
    # with its per-date robust z-score of the features
    "qlib_recipe": {"feature_set": "alpha158", "label_price": "close", "normalize": "robust_zscore",
                    "params": QLIB_PARAMS},
    "all_features_qlib_params": {"feature_set": "all", "label_price": "close", "normalize": "robust_zscore",
                                 "params": QLIB_PARAMS},
}


def configured_spec(**overrides):
    from ml import training
    from ml.config import value

    keys = ("target", "label_price", "normalize", "feature_selection", "max_features", "expanding",
            "date_stride", "train_days", "test_days")
    settings = {k: value(f"training.{k}") for k in keys}
    model_type = value("training.model_type")
    params = value("training.params")
    params = json.loads(params) if isinstance(params, str) else dict(params)
    if "model_type" in overrides:  # another model: the configured parameters are not its own
        params = {}
    params |= overrides.pop("params", {})
    model_type = overrides.pop("model_type", "lightgbm" if model_type == "champion" else model_type)
    return training.TrainingSpec(horizon=HORIZON, model_type=model_type, params=params, **{**settings, **overrides})


def score(predictions: pd.DataFrame, labels: pd.DataFrame, window: tuple[str, str]) -> dict:
    from ml import metrics as mt

    rows = predictions.merge(labels, on=["ticker", "date"], how="inner")
    rows = rows[(rows["date"] >= pd.Timestamp(window[0])) & (rows["date"] <= pd.Timestamp(window[1]))]
    rows = rows.dropna(subset=["yhat", "label"])
    if rows.empty:
        return {"window": list(window), "dates": 0, "note": "no out-of-sample prediction in the window"}
    daily = mt.daily_ic(rows, "yhat", "label", method="spearman")
    summary = mt.ic_summary(daily)
    spread, _ = mt.quantile_spread(rows, "yhat", "label", 10)
    return {"window": list(window), "first": str(rows["date"].min().date()), "last": str(rows["date"].max().date()),
            "dates": int(summary["n_dates"]), "rank_ic": float(summary["mean"]), "rank_icir": float(summary["icir"]),
            "rank_ic_t": float(summary["t_stat"]), "decile_spread": float(spread)}


def run_one(warehouse: str, recipe: str, test: bool) -> dict:
    from assets.warehouse import marts
    from ml import training

    from ml.config import value

    overrides = dict(RECIPES[recipe])
    feature_set = overrides.pop("feature_set", value("training.feature_set"))
    spec = configured_spec(**overrides)
    with duckdb.connect(warehouse, read_only=True) as con:
        panel = marts.training_panel(con, HORIZON, spec.features, feature_set=feature_set, label_price=spec.label_price)
        labels = con.execute("select ticker, date, fwd_excess_return_close as label from marts.fct_labels "
                             "where horizon = ?", [HORIZON]).df()
    labels["date"] = pd.to_datetime(labels["date"])
    if not test:  # folds are anchored at the data start: the choosing window's folds are the same without later dates
        panel = panel[pd.to_datetime(panel["date"]) <= pd.Timestamp(CHOOSING[1])]
    started = time.perf_counter()
    result = training.walk_forward(panel, spec)
    seconds = time.perf_counter() - started
    preds = result.predictions[["ticker", "date", "yhat"]].assign(date=lambda f: pd.to_datetime(f["date"]))
    out = {"recipe": recipe, "feature_set": feature_set,
           "spec": {k: v for k, v in spec.__dict__.items() if k != "params"} | {"params": spec.params},
           "panel_rows": len(panel), "features": len(result.models[0].features) if result.models else 0,
           "folds": len(result.folds), "walk_forward_s": seconds, "choosing": score(preds, labels, CHOOSING)}
    if test:
        out["test"] = score(preds, labels, TEST)
    return out


def measure(warehouse: str, recipe: str, test: bool) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "out.json"
        started = time.perf_counter()
        child = subprocess.Popen([sys.executable, "-m", "bench.forecast", warehouse, "--one", recipe,
                                  "--json", str(out)] + (["--test"] if test else []))
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        if os.waitstatus_to_exitcode(status) != 0:
            return {"recipe": recipe, "error": f"exit code {os.waitstatus_to_exitcode(status)}", "wall_s": wall}
        result = json.loads(out.read_text())
    return result | {"wall_s": wall, "peak_rss_mb": usage.ru_maxrss / 1024, "load_1m": os.getloadavg()[0]}


def table(results: list[dict], window: str) -> str:
    head = "| recipe | features | folds | dates | rank IC | rank ICIR | t | decile spread | walk-forward s | wall s | peak MB | load |"
    lines = [head, "|---|" + "---:|" * 11]
    for r in results:
        if "error" in r:
            lines.append(f"| {r['recipe']} | {r['error']} |" + " |" * 10)
            continue
        s = r.get(window, {})
        if not s.get("dates"):
            lines.append(f"| {r['recipe']} | {r['features']} | {r['folds']} | 0 | {s.get('note', '-')} |" + " |" * 7)
            continue
        lines.append(f"| {r['recipe']} | {r['features']} | {r['folds']} | {s['dates']} | {s['rank_ic']:.4f} | "
                     f"{s['rank_icir']:.3f} | {s['rank_ic_t']:.2f} | {s['decile_spread']:.5f} | "
                     f"{r['walk_forward_s']:.0f} | {r['wall_s']:.0f} | {r['peak_rss_mb']:.0f} | {r['load_1m']:.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("warehouse")
    parser.add_argument("--recipes", default=",".join(RECIPES))
    parser.add_argument("--test", action="store_true", help="also score the test window (configured recipe only)")
    parser.add_argument("--out", help="write the tables (markdown) and the figures (.json beside it)")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--json", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        Path(args.json).write_text(json.dumps(run_one(args.warehouse, args.one, args.test), default=float))
        return
    names = [n.strip() for n in args.recipes.split(",") if n.strip()]
    unknown = sorted(set(names) - set(RECIPES))
    if unknown:
        parser.error(f"unknown recipes {unknown}; known: {', '.join(RECIPES)}")
    results = []
    for name in names:
        results.append(measure(args.warehouse, name, args.test and name == "configured"))
        print(f"{name}: {json.dumps(results[-1].get('choosing', results[-1]), default=float)}", flush=True)
    text = (f"# Forecast quality ({args.warehouse})\n\nLabel scored: close(t+1) -> close(t+{HORIZON + 1}) "
            f"excess return, horizon {HORIZON}.\n\n## Choosing window {CHOOSING[0]} .. {CHOOSING[1]}\n\n"
            + table(results, "choosing"))
    if args.test:
        text += (f"\n\n## Test window {TEST[0]} .. {TEST[1]} (the configured recipe only)\n\n"
                 + table([r for r in results if "test" in r], "test"))
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
        Path(args.out).with_suffix(".json").write_text(json.dumps(results, indent=2, default=float))


if __name__ == "__main__":
    main()
