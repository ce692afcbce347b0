"""Why a trade: LightGBM's contributions of a traded name's prediction, the top k of them."""

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import Ridge

from ml.trades import REASON_COLUMNS, trade_reasons, unexplained
from ml.training import FittedModel

DAY = pd.Timestamp("2017-11-10")


def _model(booster, features, model_type="lightgbm") -> FittedModel:
    return FittedModel(model_id="m1", model_type=model_type, horizon=5, target="raw", params={"n_jobs": 1},
                       features=tuple(features), train_start=DAY, train_end=DAY, as_of=DAY, n_train=8,
                       data_fingerprint="f", estimator=booster)


def _stump() -> FittedModel:
    """One tree, one split on ``a`` (0 or 1, four rows each), y = 2a: leaves 0 and 2, the expected
    value (the training rows' mean) 1; ``b`` is never used."""
    a = np.repeat([0.0, 1.0], 4)
    X = np.column_stack([a, np.arange(8.0)])
    params = {"objective": "regression", "learning_rate": 1.0, "num_leaves": 2, "min_data_in_leaf": 1,
              "min_data_in_bin": 1, "verbosity": -1, "num_threads": 1, "deterministic": True}
    booster = lgb.train(params, lgb.Dataset(X, 2 * a), num_boost_round=1)
    return _model(booster, ["a", "b"])


def _forest(seed: int = 3) -> tuple[FittedModel, pd.DataFrame]:
    """Several trees over four features, and a date's features frame of six names."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(300, 4))
    y = 3 * X[:, 0] - 2 * X[:, 1] ** 2 + X[:, 2] * X[:, 3] + rng.normal(scale=0.1, size=300)
    params = {"objective": "regression", "num_leaves": 8, "min_data_in_leaf": 5, "verbosity": -1,
              "num_threads": 1, "deterministic": True, "seed": seed}
    booster = lgb.train(params, lgb.Dataset(X, y), num_boost_round=30)
    features = pd.DataFrame(rng.normal(size=(6, 4)), columns=["f1", "f2", "f3", "f4"])
    features.loc[2, "f3"] = np.nan  # LightGBM's missing-value branch
    features.insert(0, "ticker", [f"T{i}" for i in range(6)])
    features["date"] = DAY
    return _model(booster, ["f1", "f2", "f3", "f4"]), features


def _recorded(model: FittedModel, features: pd.DataFrame) -> pd.Series:
    return pd.Series(model.predict(features), index=features["ticker"])


def test_a_stump_splits_its_prediction_into_the_expected_value_and_the_split_feature():
    model = _stump()
    frame = pd.DataFrame({"a": [0.0, 1.0], "b": [5.0, 5.0]})
    assert model.predict(frame) == pytest.approx([0.0, 2.0], abs=1e-12)
    np.testing.assert_allclose(model.contributions(frame), [[-1.0, 0.0, 1.0], [1.0, 0.0, 1.0]], atol=1e-12)


def test_contributions_plus_bias_are_the_raw_prediction():
    model, features = _forest()
    contrib = model.contributions(features)
    assert contrib.shape == (6, 5)
    assert np.ptp(contrib[:, -1]) == 0  # one expected value for every row
    np.testing.assert_allclose(contrib.sum(axis=1), model.predict(features), rtol=0, atol=1e-9)


def test_the_top_k_are_ordered_by_absolute_contribution_and_add_up():
    model, features = _forest()
    orders = pd.DataFrame({"ticker": ["T4", "T0", "T2"], "side": ["SELL", "BUY", "BUY"], "status": "approved"})
    reasons = trade_reasons(model, features, orders, _recorded(model, features), k=2)
    assert list(reasons.columns) == list(REASON_COLUMNS)
    assert reasons["ticker"].tolist() == ["T0", "T0", "T2", "T2", "T4", "T4"]
    assert reasons["rank"].tolist() == [1, 2] * 3
    assert reasons.set_index("ticker")["side"].to_dict() == {"T0": "BUY", "T2": "BUY", "T4": "SELL"}
    contrib = pd.DataFrame(model.contributions(features)[:, :-1], index=features["ticker"], columns=model.features)
    for ticker, rows in reasons.groupby("ticker"):
        expected = contrib.loc[ticker].abs().sort_values(ascending=False, kind="stable").index[:2].tolist()
        assert rows["feature"].tolist() == expected
        assert rows["contribution"].tolist() == contrib.loc[ticker, expected].tolist()
        assert rows["contribution"].abs().is_monotonic_decreasing
        total = rows["bias"].iloc[0] + rows["contribution"].sum() + rows["others"].iloc[0]
        assert total == pytest.approx(rows["prediction"].iloc[0], abs=1e-9)
        values = features.set_index("ticker").loc[ticker, expected].to_numpy(dtype=float)
        np.testing.assert_array_equal(rows["value"].to_numpy(), values.astype(np.float32).astype(float))


def test_k_is_capped_at_the_number_of_features_and_must_be_positive():
    model, features = _forest()
    orders = pd.DataFrame({"ticker": ["T1"], "side": ["BUY"]})
    reasons = trade_reasons(model, features, orders, _recorded(model, features), k=10)
    assert reasons["rank"].tolist() == [1, 2, 3, 4] and reasons["others"].iloc[0] == 0
    with pytest.raises(ValueError, match="k \\(reasons per trade\\) must be an integer >= 1, got 0"):
        trade_reasons(model, features, orders, _recorded(model, features), k=0)


def test_a_traded_name_without_a_prediction_gets_no_rows():
    model, features = _forest()
    orders = pd.DataFrame({"ticker": ["T1", "GONE"], "side": ["BUY", "SELL"]})
    reasons = trade_reasons(model, features, orders, _recorded(model, features), k=1)
    assert reasons["ticker"].tolist() == ["T1"]
    none = trade_reasons(model, features, orders.iloc[1:], _recorded(model, features), k=1)
    assert none.empty and list(none.columns) == list(REASON_COLUMNS)


def test_features_that_changed_after_scoring_are_an_error():
    model, features = _forest()
    recorded = _recorded(model, features)
    changed = features.assign(f1=features["f1"] + 1.0)
    orders = pd.DataFrame({"ticker": ["T3"], "side": ["BUY"]})
    with pytest.raises(ValueError, match="for T3, not the recorded prediction .* changed after it was scored"):
        trade_reasons(model, changed, orders, recorded, k=3)


def test_a_predicted_name_missing_from_the_features_is_an_error():
    model, features = _forest()
    orders = pd.DataFrame({"ticker": ["T3"], "side": ["BUY"]})
    with pytest.raises(ValueError, match=r"no features for \['T3'\]"):
        trade_reasons(model, features[features["ticker"] != "T3"], orders, _recorded(model, features), k=3)


def test_duplicated_tickers_are_an_error():
    model, features = _forest()
    orders = pd.DataFrame({"ticker": ["T3", "T3"], "side": ["BUY", "SELL"]})
    with pytest.raises(ValueError, match=r"duplicate tickers in the orders: \['T3'\]"):
        trade_reasons(model, features, orders, _recorded(model, features), k=3)


def test_other_model_types_are_not_explained():
    X = np.arange(12.0).reshape(6, 2)
    ridge = _model(Ridge().fit(X, X[:, 0]), ["a", "b"], model_type="ridge")
    with pytest.raises(ValueError, match="model m1 is ridge: .* LightGBM models only"):
        ridge.contributions(pd.DataFrame(X, columns=["a", "b"]))
    assert unexplained("lightgbm", "m1") is None
    assert unexplained("ridge", "m1") == ("no feature contributions: the model that scored the day (m1) is ridge; "
                                          "they are computed for LightGBM models only")


def test_a_model_that_normalizes_is_explained_on_the_values_it_read():
    from ml.predictions import score_latest
    from ml.training.normalize import normalize_by_date

    model, features = _forest()
    model.settings = {"normalize": "rank"}
    features["in_universe"] = True
    features.loc[5, "in_universe"] = False  # not scored: not part of the day's normalization
    recorded = score_latest(model, features).set_index("ticker")["yhat"]
    orders = pd.DataFrame({"ticker": ["T0", "T3"], "side": ["BUY", "SELL"]})
    reasons = trade_reasons(model, features, orders, recorded, k=4)  # adds up, or it raises
    scored = features[features["in_universe"]]
    read = normalize_by_date(scored[["f1", "f2", "f3", "f4"]].to_numpy(), scored["date"].to_numpy("datetime64[ns]"),
                             "rank")
    t0 = reasons[reasons["ticker"] == "T0"].set_index("feature")["value"]
    np.testing.assert_allclose(t0.loc[["f1", "f2", "f3", "f4"]], read[0], atol=1e-6)
