"""Training: the spec, the panel, the walk-forward loop, the model factory and the registry.

Modules by job: ``spec`` (:class:`TrainingSpec`), ``targets``
(:func:`make_target`), ``panel`` (the prepared panel), ``fitter`` (one model on one window),
``calibration`` (the ``prob_up`` calibrator), ``walk_forward`` (:func:`walk_forward`,
:func:`train_final`), ``cv`` (splitters), ``models`` (model factory), ``hashing`` (row hashes,
fingerprints, model ids), ``artifacts`` (:class:`FittedModel` save/load) and ``registry``
(champion rules and registry rows).
"""

from ml.training.artifacts import FittedModel
from ml.training.calibration import ProbUpCalibrator, fit_prob_up_calibrator
from ml.training.cv import FoldBounds
from ml.training.hashing import (
    data_fingerprint,
    fingerprint_from_row_hashes,
    model_id,
    model_id_from_fingerprint,
    row_hashes,
    row_hashes_from_arrays,
    to_model_precision,
)
from ml.training.models import (
    ModelConfig,
    available_models,
    default_params,
    get_model,
)
from ml.training.purged_kfold import PurgedKFold
from ml.training.registry import (
    REGISTRY_COLUMNS,
    STATUSES,
    code_version,
    current_champion,
    decide_champion,
    register,
    registry_row,
    retrain_due,
)
from ml.training.spec import (
    FEATURE_SETS,
    NON_FEATURE_COLUMNS,
    TARGETS,
    TrainingSpec,
    default_features,
    feature_set_columns,
)
from ml.training.targets import make_target
from ml.training.walk_forward import (
    FOLD_COLUMNS,
    PREDS_COLUMNS,
    WalkForwardResult,
    train_final,
    walk_forward,
)
from ml.training.walk_forward_split import WalkForwardSplit

__all__ = [
    "FEATURE_SETS",
    "feature_set_columns",
    "available_models",
    "code_version",
    "current_champion",
    "data_fingerprint",
    "decide_champion",
    "default_features",
    "default_params",
    "fingerprint_from_row_hashes",
    "fit_prob_up_calibrator",
    "FittedModel",
    "FOLD_COLUMNS",
    "FoldBounds",
    "get_model",
    "make_target",
    "model_id",
    "model_id_from_fingerprint",
    "ModelConfig",
    "NON_FEATURE_COLUMNS",
    "PREDS_COLUMNS",
    "ProbUpCalibrator",
    "PurgedKFold",
    "register",
    "REGISTRY_COLUMNS",
    "registry_row",
    "retrain_due",
    "row_hashes",
    "row_hashes_from_arrays",
    "STATUSES",
    "TARGETS",
    "to_model_precision",
    "train_final",
    "TrainingSpec",
    "walk_forward",
    "WalkForwardResult",
    "WalkForwardSplit",
]
