"""Market regimes: a Gaussian HMM with filtered (forward-only) state probabilities.

Modules by job: ``filtering`` (the forward filter and numeric helpers), ``detector``
(:class:`RegimeDetector`), ``features`` (:func:`prepare_regime_features`) and ``walk_forward``
(:func:`walk_forward_regimes`).
"""

from ml.regimes.detector import RegimeDetector
from ml.regimes.features import DEFAULT_FEATURES, prepare_regime_features
from ml.regimes.filtering import MIN_ROWS_PER_STATE, regime_labels
from ml.regimes.persistence import FORMAT_VERSION
from ml.regimes.walk_forward import WALK_FORWARD_DETECTOR_DEFAULTS, walk_forward_regimes

__all__ = [
    "DEFAULT_FEATURES",
    "FORMAT_VERSION",
    "MIN_ROWS_PER_STATE",
    "prepare_regime_features",
    "regime_labels",
    "RegimeDetector",
    "WALK_FORWARD_DETECTOR_DEFAULTS",
    "walk_forward_regimes",
]
