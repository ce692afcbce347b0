"""Predictions: scoring the latest date with the production model (today's rows of ``ml.preds``).

The ``prob_up`` calibrator is fitted in training (:mod:`ml.training.calibration`: the walk-forward
loop calibrates every fold with it) and re-exported here for the live scoring step.
"""

from ml.predictions.scoring import score_latest
from ml.training.calibration import ProbUpCalibrator, fit_prob_up_calibrator

__all__ = ["ProbUpCalibrator", "fit_prob_up_calibrator", "score_latest"]
