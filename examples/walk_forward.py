"""Walk-forward training and out-of-sample scoring (ml.training) on the training panel of a warehouse.

Trains one model per fold on a rolling window (purged of labels that end in the test window,
embargoed after earlier test windows), scores each test window with the model trained before
it, and prints every fold's IC and rank IC, then the figures over all out-of-sample predictions
(the cv_metrics the model registry keeps) and a few of the latest predictions.

It reads marts.fct_training_panel from $TRADEPIPE_HOME/warehouse.duckdb (read-only), so build a
warehouse first: `make demo` builds .tradepipe/ on the bundled sample (the ingest and dbt steps
are enough). Horizon, target and windows come from tradepipe.toml (horizon, [training]).

    .venv/bin/python examples/walk_forward.py                          # every fold, LightGBM
    .venv/bin/python examples/walk_forward.py --threads 1              # the same, on a busy machine
    .venv/bin/python examples/walk_forward.py --model ridge --test-from 2017-01-01
"""

import argparse
import os
from pathlib import Path

import numpy as np
import pandas as pd

from assets.warehouse import marts
from assets.warehouse.connection import connect
from ml.config import settings
from ml.training import TrainingSpec, available_models, default_params, walk_forward


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", default=os.environ.get("TRADEPIPE_HOME", ".tradepipe"),
                        help="folder holding warehouse.duckdb (default: $TRADEPIPE_HOME or .tradepipe)")
    parser.add_argument("--model", default="lightgbm", choices=available_models(),
                        help="model type (default lightgbm, the pipeline's default)")
    parser.add_argument("--threads", type=int,
                        help="threads of LightGBM or the random forest (default: every core; 1 is much faster "
                             "on a machine busy with other work, with the same results)")
    parser.add_argument("--test-from", metavar="YYYY-MM-DD",
                        help="only the folds whose test window ends on or after this date (fewer folds, "
                             "the same windows); default: every fold")
    args = parser.parse_args(argv)
    config = settings()
    pd.set_option("display.width", 140)

    threads = {"n_jobs": args.threads} if args.threads and "n_jobs" in default_params(args.model) else {}
    spec = TrainingSpec(horizon=config.horizon, target=config.training.target, model_type=args.model, params=threads,
                        train_days=config.training.train_days, test_days=config.training.test_days)
    with connect(Path(args.home) / "warehouse.duckdb", read_only=True) as con:
        panel = marts.training_panel(con, spec.horizon)
    print(f"training panel, horizon {spec.horizon}: {len(panel):,} rows, {panel['ticker'].nunique()} tickers, "
          f"{panel['date'].min():%Y-%m-%d} .. {panel['date'].max():%Y-%m-%d}")
    print(f"{spec.model_type} on the per-date {spec.target} of fwd_excess_return; windows: train "
          f"{spec.train_days}, test {spec.test_days} trading days, embargo {spec.effective_embargo_days}")

    result = walk_forward(panel, spec, test_from=args.test_from)

    folds = result.folds.assign(**{c: result.folds[c].dt.strftime("%Y-%m-%d")
                                   for c in ("train_start", "train_end", "test_start", "test_end")})
    print(f"\n{len(folds)} folds (IC and rank IC: mean over the test window's dates):")
    print(folds[["fold", "train_start", "train_end", "test_start", "test_end", "n_train", "n_test",
                 "ic", "rank_ic"]].round(4).to_string(index=False))

    s = result.summary
    print(f"\nout of sample, {s['n_predictions']:,} predictions on {s['n_dates']} labelled dates:")
    print(f"  mean IC {s['ic']:+.4f}   mean rank IC {s['rank_ic']:+.4f}   rank ICIR {s['rank_icir']:+.3f}   "
          f"t-stat {s['rank_ic_t_stat']:+.2f}   dates with rank IC > 0: {s['rank_ic_hit_rate']:.1%}")
    print(f"  top-minus-bottom decile fwd_excess_return per date: {s['spread_top_bottom']:+.5f}")
    print(f"  prob_up Brier score {s['prob_up_brier']:.4f} on {s['n_prob_up']:,} calibrated predictions")
    positive = int(np.sum(result.folds["rank_ic"] > 0))
    print(f"  folds with a positive rank IC: {positive} of {len(folds)}")

    latest = result.predictions[result.predictions["date"] == result.predictions["date"].max()]
    print(f"\nout-of-sample predictions on {latest['date'].iloc[0]:%Y-%m-%d} (fold {latest['fold'].iloc[0]}), "
          f"highest yhat first:")
    print(latest.nlargest(5, "yhat")[["ticker", "yhat", "yhat_std", "prob_up", "fwd_excess_return"]]
          .round(4).to_string(index=False))


if __name__ == "__main__":
    main()
