"""Search spaces of the hyperparameter search: candidate lists and ``(kind, low, high)`` ranges
(:class:`SearchSpace`), and the default space of each model type (:data:`DEFAULT_SPACES`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from numbers import Integral, Real
from types import MappingProxyType
from typing import Any

import numpy as np
from scipy import stats
from sklearn.model_selection import ParameterGrid, ParameterSampler

from ml.common import check_int

METHODS: tuple[str, ...] = ("grid", "random")
"""Search methods of :func:`tune`."""


RANGE_KINDS: tuple[str, ...] = ("log", "uniform", "int")
"""First item of a ``(kind, low, high)`` range in a :class:`SearchSpace`."""


# set by TrainingSpec(seed=...), never tuned: a "best seed" is noise fitted to the folds
_SEED_PARAMS = frozenset({"random_state", "seed"})


# --------------------------------------------------------------------------- #
# search space
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class _Range:
    """A continuous or integer range of a random search."""

    kind: str
    low: float
    high: float

    def distribution(self) -> Any:
        """The ``scipy.stats`` frozen distribution ``ParameterSampler`` draws from."""
        if self.kind == "log":
            return stats.loguniform(self.low, self.high)
        if self.kind == "uniform":
            return stats.uniform(loc=self.low, scale=self.high - self.low)
        return stats.randint(int(self.low), int(self.high) + 1)  # high included

    def stated(self) -> tuple[Any, ...]:
        return (self.kind, self.low, self.high)


def _native(value: Any) -> Any:
    """Numpy scalars to Python scalars (JSON-able, and what the estimators document)."""
    return value.item() if isinstance(value, np.generic) else value


def _parse_range(name: str, value: tuple[Any, ...]) -> _Range:
    """Validate a ``(kind, low, high)`` tuple."""
    kind = value[0]
    if kind not in RANGE_KINDS or len(value) != 3:
        raise ValueError(
            f"range of {name!r} must be (kind, low, high) with kind one of {RANGE_KINDS}, "
            f"got {value!r}"
        )
    low, high = (_native(v) for v in value[1:])
    for bound in (low, high):
        if isinstance(bound, bool) or not isinstance(bound, Real) or not math.isfinite(bound):
            raise ValueError(f"range of {name!r} needs finite numbers as bounds, got {value!r}")
    if kind == "int":
        if not (isinstance(low, Integral) and isinstance(high, Integral)) or low > high:
            raise ValueError(
                f"integer range of {name!r} needs integers low <= high, got {value!r}"
            )
        return _Range(kind, int(low), int(high))
    if low >= high:
        raise ValueError(f"range of {name!r} needs low < high, got {value!r}")
    if kind == "log" and low <= 0:
        raise ValueError(f"log range of {name!r} needs 0 < low, got {value!r}")
    return _Range(kind, float(low), float(high))


def _parse_dimension(name: Any, value: Any) -> tuple[Any, ...] | _Range:
    """One entry of a search space: a tuple of candidate values or a :class:`_Range`."""
    if not isinstance(name, str) or not name:
        raise TypeError(f"parameter names must be non-empty strings, got {name!r}")
    if isinstance(value, tuple) and value and isinstance(value[0], str):
        return _parse_range(name, value)
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, (Sequence, np.ndarray)):
        raise TypeError(
            f"candidates of {name!r} must be a list of values or a (kind, low, high) range "
            f"with kind one of {RANGE_KINDS}, got {value!r}"
        )
    values = tuple(_native(v) for v in value)
    if not values:
        raise ValueError(f"{name!r} has no candidate values")
    for i, v in enumerate(values):
        if any(v == w for w in values[:i]):
            raise ValueError(f"{name!r} lists the value {v!r} more than once: {list(values)}")
    return values


@dataclass(frozen=True, eq=False)
class SearchSpace:
    """Candidate values of the parameters to tune, validated on creation.

    Parameters
    ----------
    params : mapping of str to list or tuple
        Parameter name (of the :mod:`ml.training.models` estimator) to its candidates:
        a list of values, or -- for random search only -- a range
        ``("log", low, high)`` (log-uniform, ``0 < low < high``),
        ``("uniform", low, high)`` or ``("int", low, high)`` (integers, both
        ends included). A tuple whose first item is a string is a range; any
        other list, tuple or array is a list of values (so a tuple-valued
        parameter is written ``[(32,), (64, 32)]``). Names are checked against
        the model type by :func:`tune`.

    Attributes
    ----------
    params : mapping
        Read-only copy as stated (values as lists, ranges as tuples).

    Raises
    ------
    TypeError
        If ``params`` is not a mapping, a name is not a string or a value is
        neither a list of values nor a range.
    ValueError
        If ``params`` is empty, a list is empty or repeats a value, or a range
        is malformed (the message names the parameter and shows the value).

    Examples
    --------
    >>> space = SearchSpace({"num_leaves": [15, 31], "min_child_samples": [20, 100]})
    >>> space.grid_size
    4
    >>> space.candidates("grid")[0]
    {'min_child_samples': 20, 'num_leaves': 15}
    >>> SearchSpace({"alpha": ("log", 0.0, 1.0)})
    Traceback (most recent call last):
    ...
    ValueError: log range of 'alpha' needs 0 < low, got ('log', 0.0, 1.0)
    """

    params: Mapping[str, Any]
    _dims: Mapping[str, tuple[Any, ...] | _Range] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.params, Mapping):
            raise TypeError(
                f"a search space is a mapping of parameter names to candidates, "
                f"got {type(self.params).__name__}"
            )
        if not self.params:
            raise ValueError("the search space is empty: give at least one parameter to tune")
        dims = {name: _parse_dimension(name, value) for name, value in self.params.items()}
        stated = {
            name: d.stated() if isinstance(d, _Range) else list(d) for name, d in dims.items()
        }
        object.__setattr__(self, "_dims", MappingProxyType(dims))
        object.__setattr__(self, "params", MappingProxyType(stated))

    @property
    def names(self) -> tuple[str, ...]:
        """The tuned parameter names, in the stated order."""
        return tuple(self._dims)

    @property
    def grid_size(self) -> int | None:
        """Number of grid points, or ``None`` if a parameter is a range."""
        if any(isinstance(d, _Range) for d in self._dims.values()):
            return None
        return math.prod(len(d) for d in self._dims.values())  # type: ignore[arg-type]

    def grid(self) -> list[dict[str, Any]]:
        """Every grid point, in :class:`~sklearn.model_selection.ParameterGrid` order.

        Raises
        ------
        ValueError
            If a parameter is a range (a grid needs a list of values).
        """
        ranges = {n: d.stated() for n, d in self._dims.items() if isinstance(d, _Range)}
        if ranges:
            raise ValueError(
                f"grid search needs a list of values for every parameter; {ranges} are ranges "
                "(use method='random' or list the values)"
            )
        lists = {n: list(v) for n, v in self._dims.items()}  # type: ignore[arg-type]
        return [{k: _native(v) for k, v in point.items()} for point in ParameterGrid(lists)]

    def sample(self, n_iter: int, seed: int) -> list[dict[str, Any]]:
        """``n_iter`` candidates drawn by a seeded ``sklearn.model_selection.ParameterSampler``.

        Lists are drawn uniformly, ranges from their distributions. When every
        parameter is a list the draws are without replacement; if ``n_iter`` is
        at least :attr:`grid_size` the result is :meth:`grid` (same order).
        With a range among the parameters, list values are drawn with
        replacement and a candidate can repeat.
        """
        n_iter = check_int("n_iter", n_iter, 1)
        seed = check_int("seed", seed, 0)
        size = self.grid_size
        if size is not None and n_iter >= size:
            return self.grid()
        distributions = {
            name: d.distribution() if isinstance(d, _Range) else list(d)
            for name, d in self._dims.items()
        }
        sampler = ParameterSampler(distributions, n_iter=n_iter, random_state=seed)
        return [{k: _native(v) for k, v in point.items()} for point in sampler]

    def candidates(self, method: str, n_iter: int = 8, seed: int = 0) -> list[dict[str, Any]]:
        """The trials of a search: :meth:`grid` or :meth:`sample` ``(n_iter, seed)``."""
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {method!r}")
        return self.grid() if method == "grid" else self.sample(n_iter, seed)


DEFAULT_SPACES: Mapping[str, SearchSpace] = MappingProxyType(
    {
        # 8 random trials x 3 folds on 100k rows x 30 features: ~40 s with n_jobs=1
        "lightgbm": SearchSpace(
            {
                "num_leaves": [15, 31, 63],
                "learning_rate": ("log", 0.01, 0.1),
                "min_child_samples": [20, 100, 500],
                "n_estimators": [100, 200, 400],
                "colsample_bytree": [0.5, 0.8, 1.0],
                "reg_lambda": [0.0, 1.0, 10.0],
            }
        ),
        # features are standardised; alpha is in units of rows (the penalty is not divided by n)
        "ridge": SearchSpace({"alpha": [1.0, 10.0, 100.0, 1e3, 1e4, 1e5]}),
        # sized for rank targets (std ~0.29): alpha above ~1e-2 zeroes every coefficient
        "lasso": SearchSpace({"alpha": [1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3]}),
        "elastic_net": SearchSpace(
            {"alpha": [1e-5, 1e-4, 1e-3, 3e-3], "l1_ratio": [0.1, 0.5, 0.9]}
        ),
        # n_estimators is not tuned (more trees only cost time); each fit grows the
        # default 300 trees, so lower it in TrainingSpec.params to tune faster
        "random_forest": SearchSpace(
            {
                "min_samples_leaf": [20, 50, 200, 500],
                "max_features": [0.3, 0.5, 1.0],
                "max_depth": [None, 8, 16],
            }
        ),
        "mlp": SearchSpace(
            {
                "hidden_layer_sizes": [(16,), (32, 16), (64, 32)],
                "alpha": ("log", 1e-5, 1e-1),
                "learning_rate_init": ("log", 1e-4, 1e-2),
            }
        ),
    }
)
"""The default :class:`SearchSpace` of every model type of :mod:`ml.training.models`.

The ``lightgbm``, ``mlp`` spaces contain ranges (random search only); the
others are lists and also work with ``method="grid"``.
"""


# --------------------------------------------------------------------------- #
# tuning
# --------------------------------------------------------------------------- #
def _as_space(space: SearchSpace | Mapping[str, Any] | None, model_type: str) -> SearchSpace:
    if space is None:
        if model_type not in DEFAULT_SPACES:
            raise ValueError(f"no default search space for model_type {model_type!r}; pass one")
        return DEFAULT_SPACES[model_type]
    return space if isinstance(space, SearchSpace) else SearchSpace(space)
