"""Fit the market-regime HMM (ml.regimes) on the regime features of a built warehouse.

Fits a RegimeDetector on the history up to a cut-off, prints the filtered (forward-only,
point-in-time) state probabilities of the last days after it, the model's diagnostics, and
shows that a saved and re-loaded model gives exactly the same probabilities.

It reads marts.fct_regime_features from $TRADEPIPE_HOME/warehouse.duckdb (read-only), so build
a warehouse first: `make demo` builds .tradepipe/ on the bundled sample (the ingest and dbt
steps are enough). Settings (states, risk feature, seed, longest forward-filled gap) come from
tradepipe.toml [regimes].

    .venv/bin/python examples/regime_detector.py
    .venv/bin/python examples/regime_detector.py --holdout 126 --days 5
"""

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from assets.warehouse import marts
from assets.warehouse.connection import connect
from ml.config import settings
from ml.regimes import DEFAULT_FEATURES, RegimeDetector, prepare_regime_features


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", default=os.environ.get("TRADEPIPE_HOME", ".tradepipe"),
                        help="folder holding warehouse.duckdb (default: $TRADEPIPE_HOME or .tradepipe)")
    parser.add_argument("--holdout", type=int, default=63,
                        help="trading days after the training span, filtered out of sample (default 63)")
    parser.add_argument("--days", type=int, default=10, help="last days of probabilities to print (default 10)")
    args = parser.parse_args(argv)
    config = settings().regimes
    pd.set_option("display.width", 120)

    with connect(Path(args.home) / "warehouse.duckdb", read_only=True) as con:
        raw = marts.regime_features(con)
    # Drops the warm-up rows and forward-fills short gaps (past values only: no look-ahead).
    features = prepare_regime_features(raw.set_index("date"), DEFAULT_FEATURES, max_ffill=config.max_ffill_days)
    train = features.iloc[:-args.holdout]
    print(f"regime features: {len(features)} dates {features.index[0].date()} .. {features.index[-1].date()}; "
          f"training on {len(train)} dates up to {train.index[-1].date()}")

    detector = RegimeDetector(n_states=config.n_states, features=DEFAULT_FEATURES,
                              risk_feature=config.risk_feature, random_state=config.seed).fit(train)

    # Filtered probabilities: the row of date t uses the rows up to t only (the forward pass).
    probs = detector.predict_regime_probabilities(features)
    regime = detector.predict_regime(features)
    print(f"\nfiltered probabilities, last {args.days} days (after the training span):")
    print(probs.tail(args.days).assign(regime=regime.tail(args.days)).round(4).to_string())
    print(f"rows sum to 1: {bool(np.allclose(probs.sum(axis=1), 1.0))}")
    cut = features.index[-args.days]
    same = np.array_equal(detector.predict_regime_probabilities(features.loc[:cut]).loc[cut], probs.loc[cut])
    print(f"point in time: {cut.date()} filtered without the later rows is identical: {same}")

    diag = detector.diagnostics()
    print(f"\nmodel {detector.model_id}: converged {diag['converged']} after {diag['n_iter']} EM iterations, "
          f"log-likelihood {diag['log_likelihood']:.1f}, AIC {diag['aic']:.1f}, BIC {diag['bic']:.1f}, "
          f"persistence {diag['persistence']:.3f}")
    print("\ntransition matrix (row: state at t-1, column: state at t):")
    print(detector.transition_matrix.round(4).to_string())
    print("\nexpected duration (trading days) and long-run share:")
    print(pd.concat([detector.expected_durations, detector.stationary_distribution], axis=1).round(3).to_string())
    print("\nstate means (original units):")
    print(detector.state_characteristics()[["vix", "gspc_vol_20d", "gspc_ret_60d", "hy_spread"]].round(3).to_string())
    print("\nfeature importance (spread of the state means):")
    print(detector.feature_importance().sort_values(ascending=False).round(3).to_string())

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{detector.model_id}.npz"
        detector.save(path)  # an .npz archive with a JSON header: no pickle
        loaded = RegimeDetector.load(path)
        again = loaded.predict_regime_probabilities(features)
    print(f"\nsaved and loaded {path.name}: model_id {loaded.model_id}, "
          f"identical probabilities: {again.equals(probs)}")


if __name__ == "__main__":
    main()
