"""The one place that builds the code location's Definitions."""


import dagster as dg
from dagster_dbt import DbtCliResource

from assets.checks import quarantine_share
from assets.dbt import DBT_EXECUTABLE, dbt_models, dbt_project
from assets.ingest import raw_tables
from assets.regimes import (
    current_regime,
    regime_em_converged,
    regime_every_date_after_warmup,
    regime_history,
    regime_persistence,
    regime_probabilities_sum_to_one,
)
from assets.resources import settings_from_environment
from assets.training import (
    folds_do_not_leak,
    latest_date_fully_scored,
    latest_predictions,
    model_training,
    oos_rank_ic_not_low,
    predictions_finite,
)

defs = dg.Definitions(
    assets=[raw_tables, dbt_models, regime_history, current_regime, model_training, latest_predictions],
    asset_checks=[
        quarantine_share,
        regime_probabilities_sum_to_one,
        regime_every_date_after_warmup,
        regime_persistence,
        regime_em_converged,
        predictions_finite,
        latest_date_fully_scored,
        folds_do_not_leak,
        oos_rank_ic_not_low,
    ],
    resources={
        "settings": settings_from_environment(),
        "dbt": DbtCliResource(project_dir=dbt_project, dbt_executable=DBT_EXECUTABLE),
    },
    executor=dg.in_process_executor,
)
