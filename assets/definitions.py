"""The one place that builds the code location's Definitions."""


import dagster as dg

from assets.backtest import backtest
from assets.checks import (
    every_ticker_has_a_sector,
    last_day_not_stale,
    latest_date_coverage,
    macro_series_present,
    prices_fresh,
    quarantine_share,
)
from assets.comparison import model_comparison
from assets.console import console_logger
from assets.dbt import dbt_models, dbt_resource
from assets.ingest import raw_tables
from assets.jobs import JOBS, SCHEDULES
from assets.monitoring import monitoring
from assets.portfolio import target_weights
from assets.predictions import daily_predictions
from assets.publish import analytics_db
from assets.regimes import (
    current_regime,
    regime_em_converged,
    regime_every_date_after_warmup,
    regime_history,
    regime_persistence,
    regime_probabilities_sum_to_one,
)
from assets.reports import daily_report
from assets.resources import TradingSettings, settings_from_environment
from assets.sensors import new_prices_sensor
from assets.signals import signals
from assets.trades import positions, trade_approval, trades
from assets.training import model_training

defs = dg.Definitions(
    assets=[raw_tables, dbt_models, model_comparison, regime_history, current_regime, model_training, daily_predictions,
            signals, target_weights, trades, trade_approval, positions, backtest, monitoring, daily_report,
            analytics_db],
    asset_checks=[
        quarantine_share,
        prices_fresh,
        latest_date_coverage,
        last_day_not_stale,
        macro_series_present,
        every_ticker_has_a_sector,
        regime_probabilities_sum_to_one,
        regime_every_date_after_warmup,
        regime_persistence,
        regime_em_converged,
    ],
    jobs=JOBS,
    schedules=SCHEDULES,
    sensors=[new_prices_sensor],
    resources={
        "settings": settings_from_environment(),
        "trading": TradingSettings(),
        "dbt": dbt_resource(),
    },
    executor=dg.in_process_executor,
    loggers={"console": console_logger},  # used when run config names it (the Makefile's runs)
)
