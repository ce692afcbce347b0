"""The model comparison: candidates, hyperparameter tuning, backtests of each candidate, selection.

Modules by job: ``candidates`` (train the candidates), ``search_space`` and ``tuning``
(hyperparameter search), ``evaluation`` (prediction metrics, the rank ensemble, candidate
backtests), ``selection`` (deflated Sharpe, scores, the champion) and ``selection_report``.
"""

from ml.comparison.candidates import (
    ENSEMBLE,
    Candidate,
    CandidateRun,
    default_candidates,
    train_candidates,
)
from ml.comparison.evaluation import (
    LABEL_COLUMNS,
    METRIC_COLUMNS,
    Comparison,
    backtest_candidates,
    prediction_metrics,
    rank_ensemble,
    sharpe_matrix,
    window_split,
)
from ml.comparison.search_space import DEFAULT_SPACES, SearchSpace
from ml.comparison.selection import (
    DEFAULT_WEIGHTS,
    EULER_GAMMA,
    REQUIRED_COLUMNS,
    DeflatedSharpe,
    Selection,
    SelectionSpec,
    deflated_sharpe_ratio,
    deflated_sharpe_ratio_from_stats,
    expected_max_sharpe,
    probabilistic_sharpe_ratio,
    regime_consistency,
    score_candidates,
    select_champion,
)
from ml.comparison.selection_report import SelectionReport, write_selection_report
from ml.comparison.tuning import TuningResult, tune

__all__ = [
    "backtest_candidates",
    "Candidate",
    "CandidateRun",
    "Comparison",
    "default_candidates",
    "DEFAULT_SPACES",
    "DEFAULT_WEIGHTS",
    "deflated_sharpe_ratio",
    "deflated_sharpe_ratio_from_stats",
    "DeflatedSharpe",
    "ENSEMBLE",
    "EULER_GAMMA",
    "expected_max_sharpe",
    "LABEL_COLUMNS",
    "METRIC_COLUMNS",
    "prediction_metrics",
    "probabilistic_sharpe_ratio",
    "rank_ensemble",
    "regime_consistency",
    "REQUIRED_COLUMNS",
    "score_candidates",
    "SearchSpace",
    "select_champion",
    "Selection",
    "SelectionReport",
    "SelectionSpec",
    "sharpe_matrix",
    "train_candidates",
    "tune",
    "TuningResult",
    "window_split",
    "write_selection_report",
]
