"""Registry of regression model types behind a validated configuration.

Every model is built unfitted as a :class:`sklearn.pipeline.Pipeline` whose
last step is named ``"model"``; models that cannot take missing values or that
need standardised inputs get their preprocessing as earlier steps, so it is
fitted on the training fold only (fitting a scaler on the whole panel would
leak test-period means and variances into training).

- ``ridge``: ``sklearn.linear_model.Ridge``; impute, scale
- ``lasso``: ``sklearn.linear_model.Lasso``; impute, scale
- ``elastic_net``: ``sklearn.linear_model.ElasticNet``; impute, scale
- ``random_forest``: ``sklearn.ensemble.RandomForestRegressor``; impute
- ``lightgbm``: ``lightgbm.LGBMRegressor``; none (missing values handled natively)
- ``mlp``: ``sklearn.neural_network.MLPRegressor``; impute, scale

``impute`` is :class:`ml.training.impute.MedianImputer`: a missing value becomes its column's
median over the training rows (a feature that is all-missing in a training
fold becomes a constant 0 rather than disappearing, so coefficients and
importances stay aligned with the feature list), what
``SimpleImputer(strategy="median", keep_empty_features=True)`` does, computed
with ``np.nanmedian`` instead of numpy's masked-array median, which took 9.5 s
of a 15 s ridge walk-forward (13 folds of ~150k rows); ``scale`` is
``StandardScaler()``.

Defaults are seeded (``random_state=0``), quiet, and threaded by the project's
thread policy where the estimator can (``n_jobs=ml.parallel.fit_threads()``: the
CPUs available to the process, or its share of them when fits run side by side).
``params`` override the defaults of
the ``"model"`` step; their *names* are checked against the estimator here,
their *values* by the estimator when it is fitted.

Notes
-----
``lightgbm`` is fitted with ``deterministic=True`` and ``force_col_wise=True``:
the same data and parameters give bit-identical models whatever the thread
count. ``random_forest`` builds identical trees for a given seed, but with
``n_jobs > 1`` scikit-learn adds the per-tree predictions in thread completion
order, so predictions are reproducible only to the last bit (~1e-16 relative);
pass ``n_jobs=1`` if bit-identical predictions matter. Thread counts are not part
of a model's identity (:mod:`ml.training.hashing` leaves them out); see
:mod:`ml.parallel` for the policy and why it is what it is.

Examples
--------
>>> model = get_model("ridge", {"alpha": 10.0})
>>> [name for name, _ in model.steps]
['impute', 'scale', 'model']
>>> model.named_steps["model"].alpha
10.0
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sklearn.base import BaseEstimator
    from sklearn.pipeline import Pipeline

__all__ = ["ModelConfig", "available_models", "default_params", "get_model"]


def _n_jobs() -> int:
    """Threads of one fit (:func:`ml.parallel.fit_threads`)."""
    from ml.parallel import fit_threads

    return fit_threads()


@dataclass(frozen=True)
class _ModelSpec:
    """How to build one model type."""

    estimator: str  # "module:Class", imported when a model is built (LightGBM and scikit-learn
    # take seconds to import: commands that only read the registry should not pay for them)
    defaults: Callable[[], dict[str, Any]]  # called at build time (n_jobs reads the machine)
    impute: bool
    scale: bool
    # accepted keys that the estimator's get_params() does not list
    # (LightGBM passes extra keyword arguments through to its C++ core)
    extra_params: frozenset[str] = frozenset()


# Penalties for lasso / elastic_net are sized for return-like targets (daily to
# monthly returns, standard deviation ~0.01-0.1) on standardised features: with
# sklearn's default alpha=1.0 every coefficient would be exactly zero.
_REGISTRY: dict[str, _ModelSpec] = {
    "ridge": _ModelSpec(
        estimator="sklearn.linear_model:Ridge",
        defaults=lambda: {"alpha": 1.0, "random_state": 0},
        impute=True,
        scale=True,
    ),
    "lasso": _ModelSpec(
        estimator="sklearn.linear_model:Lasso",
        defaults=lambda: {"alpha": 1e-4, "max_iter": 10_000, "random_state": 0},
        impute=True,
        scale=True,
    ),
    "elastic_net": _ModelSpec(
        estimator="sklearn.linear_model:ElasticNet",
        defaults=lambda: {"alpha": 1e-4, "l1_ratio": 0.5, "max_iter": 10_000, "random_state": 0},
        impute=True,
        scale=True,
    ),
    "random_forest": _ModelSpec(
        estimator="sklearn.ensemble:RandomForestRegressor",
        defaults=lambda: {
            "n_estimators": 300,
            "min_samples_leaf": 50,  # noisy targets: large leaves
            "max_features": 0.5,
            "n_jobs": _n_jobs(),
            "random_state": 0,
        },
        impute=True,
        scale=False,
    ),
    "lightgbm": _ModelSpec(
        estimator="lightgbm:LGBMRegressor",
        defaults=lambda: {
            "n_estimators": 300,
            "learning_rate": 0.03,
            "num_leaves": 31,
            "min_child_samples": 50,
            "subsample": 0.8,
            "subsample_freq": 1,
            "colsample_bytree": 0.8,
            "reg_lambda": 1.0,
            "n_jobs": _n_jobs(),
            "random_state": 0,
            "verbose": -1,
            # same inputs, same params -> same model, whatever the threading
            "deterministic": True,
            "force_col_wise": True,
        },
        impute=False,
        scale=False,
        extra_params=frozenset(
            {
                "verbose",
                "deterministic",
                "force_col_wise",
                "force_row_wise",
                "max_bin",
                "min_data_in_bin",
                "extra_trees",
                "path_smooth",
                "linear_tree",
                "feature_fraction_bynode",
                "min_sum_hessian_in_leaf",
                "max_cat_threshold",
                "early_stopping_round",
                "monotone_constraints",
                "monotone_constraints_method",
            }
        ),
    ),
    "mlp": _ModelSpec(
        estimator="sklearn.neural_network:MLPRegressor",
        defaults=lambda: {
            "hidden_layer_sizes": (32, 16),
            "alpha": 1e-3,
            "learning_rate_init": 1e-3,
            "max_iter": 200,
            "random_state": 0,
        },
        impute=True,
        scale=True,
    ),
}


def available_models() -> list[str]:
    """Return the registered model types, sorted.

    Returns
    -------
    list of str
        Valid values of ``model_type`` for :func:`get_model`.
    """
    return sorted(_REGISTRY)


def _spec(model_type: str) -> _ModelSpec:
    """Look up a model type or raise listing the available ones."""
    if not isinstance(model_type, str) or model_type not in _REGISTRY:
        raise ValueError(
            f"unknown model_type {model_type!r}; available: {', '.join(available_models())}"
        )
    return _REGISTRY[model_type]


def _allowed_params(spec: _ModelSpec) -> set[str]:
    """Parameter names the model step accepts."""
    return set(_estimator_class(spec)().get_params(deep=False)) | set(spec.extra_params)


def _estimator_class(spec: _ModelSpec) -> Callable[..., BaseEstimator]:
    module, name = spec.estimator.split(":")
    return getattr(importlib.import_module(module), name)


def _check_params(model_type: str, spec: _ModelSpec, params: Mapping[str, Any]) -> None:
    """Raise if a key of ``params`` is not a parameter of the model type."""
    if not isinstance(params, Mapping):
        raise TypeError(
            f"params for {model_type!r} must be a mapping of parameter names to values, "
            f"got {type(params).__name__}"
        )
    allowed = _allowed_params(spec)
    unknown = sorted(str(key) for key in params if key not in allowed)
    if unknown:
        raise ValueError(
            f"unknown parameter(s) {', '.join(map(repr, unknown))} for model_type "
            f"{model_type!r}; valid parameters: {', '.join(sorted(allowed))}"
        )


def default_params(model_type: str) -> dict[str, Any]:
    """Return the default parameters of a model type on this machine.

    Parameters
    ----------
    model_type : str
        One of :func:`available_models`.

    Returns
    -------
    dict
        A fresh copy of the defaults ``get_model(model_type)`` uses; ``n_jobs``
        is :func:`ml.parallel.fit_threads` here and now.

    Raises
    ------
    ValueError
        If ``model_type`` is not registered.
    """
    return dict(_spec(model_type).defaults())


def get_model(model_type: str, params: Mapping[str, Any] | None = None) -> Pipeline:
    """Build an unfitted model of a registered type.

    Parameters
    ----------
    model_type : str
        One of :func:`available_models`.
    params : mapping, optional
        Parameters of the estimator (the ``"model"`` step), overriding the
        defaults of :func:`default_params`. Pass ``random_state`` here to
        reseed; it is ``0`` unless given.

    Returns
    -------
    sklearn.pipeline.Pipeline
        ``[("impute", ...), ("scale", ...), ("model", estimator)]`` with the
        preprocessing steps of the model type (see the module docstring);
        LightGBM is ``[("model", LGBMRegressor)]``. Fit parameters for the
        estimator need the ``model__`` prefix.

    Raises
    ------
    ValueError
        If ``model_type`` is unknown (the message lists the available types)
        or a key of ``params`` is not a parameter of that type (the message
        names the key and the type).
    TypeError
        If ``params`` is not a mapping.

    Examples
    --------
    >>> get_model("lightgbm", {"num_leaves": 15}).named_steps["model"].num_leaves
    15
    >>> get_model("svm")
    Traceback (most recent call last):
    ...
    ValueError: unknown model_type 'svm'; available: elastic_net, lasso, lightgbm, mlp, random_forest, ridge
    """
    spec = _spec(model_type)
    overrides = {} if params is None else params
    _check_params(model_type, spec, overrides)
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from ml.training.impute import MedianImputer

    estimator = _estimator_class(spec)(**{**spec.defaults(), **overrides})
    steps: list[tuple[str, Any]] = []
    if spec.impute:
        steps.append(("impute", MedianImputer()))
    if spec.scale:
        steps.append(("scale", StandardScaler()))
    steps.append(("model", estimator))
    return Pipeline(steps)


@dataclass(frozen=True)
class ModelConfig:
    """A model type and its parameter overrides, validated on creation.

    This is the shape stored in ``ml.model_registry`` (``model_type``,
    ``params``); building it again gives an identical unfitted model.

    Parameters
    ----------
    model_type : str
        One of :func:`available_models`.
    params : mapping, default={}
        Overrides of :func:`default_params` for the ``"model"`` step.

    Raises
    ------
    ValueError, TypeError
        As :func:`get_model`, at construction time.

    Examples
    --------
    >>> cfg = ModelConfig("elastic_net", {"l1_ratio": 0.2})
    >>> cfg.resolved_params()["l1_ratio"], cfg.resolved_params()["alpha"]
    (0.2, 0.0001)
    >>> ModelConfig("ridge", {"alpah": 1.0})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: unknown parameter(s) 'alpah' for model_type 'ridge'; valid parameters: ...
    """

    model_type: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_params(self.model_type, _spec(self.model_type), self.params)

    def resolved_params(self) -> dict[str, Any]:
        """Defaults merged with the overrides: what the built model will use."""
        return {**default_params(self.model_type), **self.params}

    def build(self) -> Pipeline:
        """Return an unfitted model, as ``get_model(model_type, params)``."""
        return get_model(self.model_type, self.params)
