"""The training assets on the bundled sample: CV report, OOS history, registry, today's predictions."""

import dagster as dg
import pandas as pd

from tests.helpers import materialize_pipeline, query


def test_contract_columns(sample_home):
    for table, required in {
        "ml.model_registry": ["model_id", "created_at", "model_type", "horizon", "train_start", "train_end",
                              "features", "params", "cv_metrics", "status", "artifact_path",
                              "data_fingerprint", "code_version"],
        "ml.cv_folds": ["model_id", "fold", "train_start", "train_end", "test_start", "test_end",
                        "n_train", "n_test", "ic", "rank_ic"],
        "ml.preds": ["ticker", "date", "horizon", "model_id", "yhat", "yhat_std", "prob_up"],
    }.items():
        found = set(query(sample_home, f"select * from {table} limit 0").columns)
        assert set(required) <= found, table


def test_exactly_one_champion_whose_artifact_exists(sample_home):
    champions = query(sample_home, "select * from ml.model_registry where status = 'champion'")
    assert champions.horizon.tolist() == [5]
    from assets.warehouse.registry import artifact

    stored = champions.artifact_path.iloc[0]
    assert stored.startswith("models/")  # relative to the home: a copied home reads its own models
    assert artifact(sample_home, stored).exists()


def test_every_oos_prediction_comes_from_a_model_trained_before_it(sample_home):
    joined = query(sample_home, """
        select p.date, f.test_start, f.test_end, f.train_end, f.max_train_label_end
        from ml.preds p join ml.cv_folds f on p.model_id = f.fold_model_id
        where p.kind = 'oos'
    """)
    assert len(joined) > 10_000
    assert (joined.max_train_label_end < joined.test_start).all()
    assert (joined.date >= joined.test_start).all() and (joined.date <= joined.test_end).all()


def test_latest_date_scored_with_uncertainty(sample_home):
    live = query(sample_home, "select * from ml.preds where kind = 'live'")
    eligible = query(sample_home, "select count(*) as n from marts.fct_features "
                                  "where in_universe and date = (select max(date) from marts.fct_features)").n.iloc[0]
    assert len(live) == eligible
    assert live.yhat.notna().all() and live.yhat_std.notna().all()
    assert live.prob_up.between(0.01, 0.99).all()


def _materialize(home, selection, run_config=None):
    return materialize_pipeline(home, selection=dg.AssetSelection.assets(*selection), run_config=run_config)


def test_rescoring_a_date_replaces_its_rows(home_copy):
    before = query(home_copy, "select * from ml.preds where kind = 'live' order by ticker")
    _materialize(home_copy, [["ml", "daily_predictions"]])
    after = query(home_copy, "select * from ml.preds where kind = 'live' order by ticker")
    pd.testing.assert_frame_equal(before.drop(columns="created_at"), after.drop(columns="created_at"))


def test_no_retrain_when_no_new_labels(home_copy):
    before = query(home_copy, "select model_id, status from ml.model_registry order by model_id")
    result = _materialize(home_copy, [["ml", "cv_report"], ["ml", "oos_predictions"], ["ml", "champion_model"]])
    materialization = result.asset_materializations_for_node("model_training")[0]
    assert materialization.metadata["retrained"].value is False
    after = query(home_copy, "select model_id, status from ml.model_registry order by model_id")
    pd.testing.assert_frame_equal(before, after)
