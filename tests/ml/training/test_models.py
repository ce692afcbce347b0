"""Tests for ml.training.models: registry, defaults, determinism, validation errors."""

from __future__ import annotations

import numpy as np
import pytest
from lightgbm import LGBMRegressor
from sklearn.ensemble import RandomForestRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.impute import SimpleImputer
from sklearn.linear_model import ElasticNet, Lasso, Ridge
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from ml.parallel import fit_threads
from ml.training import ModelConfig, available_models, default_params, get_model
from ml.training.impute import MedianImputer

ALL_TYPES = ["elastic_net", "lasso", "lightgbm", "mlp", "random_forest", "ridge"]

EXPECTED = {
    "ridge": (Ridge, ["impute", "scale", "model"]),
    "lasso": (Lasso, ["impute", "scale", "model"]),
    "elastic_net": (ElasticNet, ["impute", "scale", "model"]),
    "random_forest": (RandomForestRegressor, ["impute", "model"]),
    "lightgbm": (LGBMRegressor, ["model"]),
    "mlp": (MLPRegressor, ["impute", "scale", "model"]),
}

# small enough to keep the test fast, big enough that every model learns something.
# LightGBM's OpenMP threads spin-wait: on a busy machine a multi-threaded fit of a
# tiny problem can take tens of seconds, so the tests fit it on one thread.
FAST = {
    "random_forest": {"n_estimators": 20, "min_samples_leaf": 5},
    "lightgbm": {"n_estimators": 30, "min_child_samples": 5, "n_jobs": 1},
    "mlp": {"max_iter": 300},
}


def tiny_problem(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """200 training rows (some NaN), 50 test rows, y depends on two features."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(250, 4))
    y = 0.05 * X[:, 0] - 0.03 * X[:, 1] + rng.normal(scale=0.01, size=250)
    X[rng.random(X.shape) < 0.05] = np.nan
    return X[:200], y[:200], X[200:]


def test_available_models() -> None:
    assert available_models() == ALL_TYPES


@pytest.mark.parametrize("model_type", ALL_TYPES)
def test_structure_and_defaults(model_type: str) -> None:
    estimator_cls, steps = EXPECTED[model_type]
    model = get_model(model_type)
    assert isinstance(model, Pipeline)
    assert [name for name, _ in model.steps] == steps
    est = model.named_steps["model"]
    assert type(est) is estimator_cls
    assert est.random_state == 0
    if "impute" in steps:
        imputer = model.named_steps["impute"]
        assert isinstance(imputer, MedianImputer)
    if "scale" in steps:
        assert isinstance(model.named_steps["scale"], StandardScaler)
    params = est.get_params()
    for key, value in default_params(model_type).items():
        assert params[key] == value


def test_thread_policy_cores_and_quiet_lightgbm() -> None:
    cores = fit_threads()  # the CPUs available to the process (ml.parallel), not os.cpu_count()
    assert get_model("random_forest").named_steps["model"].n_jobs == cores
    lgbm = get_model("lightgbm").named_steps["model"]
    assert lgbm.n_jobs == cores
    assert lgbm.get_params()["verbose"] == -1


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("model_type", ALL_TYPES)
def test_fit_predict_is_deterministic(model_type: str) -> None:
    X_train, y_train, X_test = tiny_problem()
    model_a = get_model(model_type, FAST.get(model_type)).fit(X_train, y_train)
    model_b = get_model(model_type, FAST.get(model_type)).fit(X_train, y_train)
    first, second = model_a.predict(X_test), model_b.predict(X_test)
    assert first.shape == (50,)
    assert np.isfinite(first).all()
    if model_type == "random_forest":
        # identical trees; with n_jobs > 1 sklearn adds the tree predictions in
        # thread completion order, so the average can differ in the last bit
        for tree_a, tree_b in zip(
            model_a.named_steps["model"].estimators_, model_b.named_steps["model"].estimators_, strict=True
        ):
            np.testing.assert_array_equal(tree_a.tree_.threshold, tree_b.tree_.threshold)
            np.testing.assert_array_equal(tree_a.tree_.value, tree_b.tree_.value)
        np.testing.assert_allclose(first, second, rtol=1e-12, atol=1e-15)
    else:
        np.testing.assert_array_equal(first, second)
    # the model picked up the signal (not a constant); its predictions track y's driver
    assert np.corrcoef(first, np.nan_to_num(X_test[:, 0]))[0, 1] > 0.3


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_random_state_override_changes_stochastic_models() -> None:
    X_train, y_train, X_test = tiny_problem()
    params = {**FAST["random_forest"], "random_state": 1}
    model = get_model("random_forest", params)
    assert model.named_steps["model"].random_state == 1
    seeded_0 = get_model("random_forest", FAST["random_forest"]).fit(X_train, y_train).predict(X_test)
    seeded_1 = model.fit(X_train, y_train).predict(X_test)
    assert not np.array_equal(seeded_0, seeded_1)


def test_preprocessing_is_fitted_on_training_rows_only() -> None:
    X_train, y_train, X_test = tiny_problem()
    model = get_model("ridge").fit(X_train, y_train)
    imputed = np.where(np.isnan(X_train), np.nanmedian(X_train, axis=0), X_train)
    np.testing.assert_allclose(model.named_steps["impute"].statistics_, np.nanmedian(X_train, axis=0))
    np.testing.assert_allclose(model.named_steps["scale"].mean_, imputed.mean(axis=0))
    # predicting does not refit
    model.predict(X_test * 100)
    np.testing.assert_allclose(model.named_steps["scale"].mean_, imputed.mean(axis=0))


def test_all_missing_feature_keeps_its_column() -> None:
    X_train, y_train, X_test = tiny_problem()
    X_train[:, 2] = np.nan
    model = get_model("ridge").fit(X_train, y_train)
    assert model.named_steps["model"].coef_.shape == (4,)
    assert model.named_steps["model"].coef_[2] == 0.0
    assert np.isfinite(model.predict(X_test)).all()


def test_params_override_defaults() -> None:
    model = get_model("lightgbm", {"num_leaves": 7, "learning_rate": 0.1, "max_bin": 63})
    params = model.named_steps["model"].get_params()
    assert (params["num_leaves"], params["learning_rate"], params["max_bin"]) == (7, 0.1, 63)
    assert params["n_estimators"] == default_params("lightgbm")["n_estimators"]


def test_default_params_is_a_copy() -> None:
    defaults = default_params("ridge")
    defaults["alpha"] = 123.0
    assert default_params("ridge")["alpha"] == 1.0
    assert get_model("ridge").named_steps["model"].alpha == 1.0


def test_unknown_model_type() -> None:
    with pytest.raises(
        ValueError,
        match=r"unknown model_type 'svm'; available: elastic_net, lasso, lightgbm, mlp, random_forest, ridge",
    ):
        get_model("svm")
    with pytest.raises(ValueError, match=r"unknown model_type 'xgboost'"):
        default_params("xgboost")


@pytest.mark.parametrize(
    ("model_type", "params", "bad"),
    [
        ("ridge", {"alpah": 1.0}, "'alpah'"),
        ("lasso", {"alpha": 0.1, "l1_ratio": 0.5}, "'l1_ratio'"),
        ("lightgbm", {"num_leaf": 8}, "'num_leaf'"),
        ("mlp", {"hidden_layers": (8,)}, "'hidden_layers'"),
        ("random_forest", {"model__n_estimators": 5}, "'model__n_estimators'"),
    ],
)
def test_unknown_param(model_type: str, params: dict, bad: str) -> None:
    with pytest.raises(ValueError, match=rf"unknown parameter\(s\) {bad} for model_type '{model_type}'"):
        get_model(model_type, params)


def test_params_must_be_a_mapping() -> None:
    with pytest.raises(TypeError, match=r"params for 'ridge' must be a mapping .* got list"):
        get_model("ridge", [("alpha", 1.0)])  # type: ignore[arg-type]


def test_model_config_validates_and_builds() -> None:
    config = ModelConfig("elastic_net", {"l1_ratio": 0.2})
    assert config.resolved_params()["l1_ratio"] == 0.2
    assert config.resolved_params()["alpha"] == default_params("elastic_net")["alpha"]
    assert config.build().named_steps["model"].l1_ratio == 0.2
    assert ModelConfig("ridge").build().named_steps["model"].alpha == 1.0
    with pytest.raises(ValueError, match=r"unknown model_type 'svm'"):
        ModelConfig("svm")
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) 'alpah' for model_type 'ridge'"):
        ModelConfig("ridge", {"alpah": 2.0})


def test_mlp_convergence_warning_is_not_hidden() -> None:
    X_train, y_train, _ = tiny_problem()
    with pytest.warns(ConvergenceWarning):
        get_model("mlp", {"max_iter": 2}).fit(X_train, y_train)


@pytest.mark.parametrize("n_rows", [400, 401])
def test_median_imputer_matches_scikit_learns(n_rows: int) -> None:
    """The same fill values and output as SimpleImputer(median, keep_empty_features) -- ties, an
    even and odd row count, a column with no value -- without numpy's masked-array median."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(n_rows, 6))
    X[rng.random(X.shape) < 0.2] = np.nan
    X[:, 2] = np.round(X[:, 2])  # ties
    X[:, 4] = np.nan  # no value in the training rows: filled with 0
    X_new = rng.normal(size=(50, 6))
    X_new[rng.random(X_new.shape) < 0.3] = np.nan
    ours = MedianImputer().fit(X)
    theirs = SimpleImputer(strategy="median", keep_empty_features=True).fit(X)
    np.testing.assert_array_equal(ours.statistics_, theirs.statistics_)
    assert ours.statistics_[4] == 0.0
    np.testing.assert_array_equal(ours.transform(X_new), theirs.transform(X_new))
    np.testing.assert_array_equal(ours.transform(X), theirs.transform(X))
    with pytest.raises(ValueError, match="features"):
        ours.transform(X_new[:, :5])
