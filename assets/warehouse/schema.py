"""The declared column types of the tables Python writes: market dates are DATE, counts BIGINT,
JSON documents DuckDB's JSON type, and columns a first write may leave all NULL their real type.
Every other column takes the type DuckDB gives the frame's column (DOUBLE, VARCHAR, BOOLEAN,
TIMESTAMP for moments such as ``created_at``); a column of nothing but NULLs that is not declared
is VARCHAR (DuckDB would make it INTEGER, and the table keeps the type of its first write).

The writers of ``connection`` (``replace_rows``, ``replace_table``) look a table up here on every
write: they check the values (a DATE holds no time of day, a count no fraction), cast the declared
columns, and convert a table an older version created with other types. A table not listed gets
the default: its ``date`` column is a DATE. ``ml.model_registry`` declares its whole schema in
``registry.py``; ``ml.preds``, ``ml.predictions_in_force``, ``ops.dbt_builds`` and
``ops.published`` are created by their own DDL.
"""

DATE = "date"
BIGINT = "bigint"
JSON = "json"
VARCHAR = "varchar"
DOUBLE = "double"

#: Integer SQL types: a declared count is satisfied by any of them (no conversion between them).
INTEGER_TYPES = frozenset({"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
                           "UINTEGER", "UBIGINT"})

DEFAULT: dict[str, str] = {"date": DATE}

TYPES: dict[str, dict[str, str]] = {
    # ml
    "ml.cv_folds": {"train_start": DATE, "train_end": DATE, "test_start": DATE, "test_end": DATE,
                    "max_train_label_end": DATE, "fold": BIGINT, "n_train": BIGINT, "n_test": BIGINT,
                    "n_ic_dates": BIGINT, "best_iteration": BIGINT, "calibration_rows": BIGINT},
    "ml.regime_models": {"first_date": DATE, "train_start": DATE, "train_end": DATE, "n_states": BIGINT,
                         "features": JSON},
    "ml.monitoring_ic": {"as_of": DATE, "date": DATE, "n": BIGINT},
    "ml.feature_drift": {"as_of": DATE, "n_train": BIGINT, "n_today": BIGINT},
    "ml.monitoring_log": {"as_of": DATE, "log": JSON},
    "ml.model_comparison": {"as_of": DATE, "n_days": BIGINT, "rank": BIGINT, "failed": VARCHAR, "score": DOUBLE},
    "ml.model_comparison_predictions": {"as_of": DATE, "n_dates": BIGINT, "n_predictions": BIGINT},
    # (a comparison without a winner writes NULL names: declared, or the first row would type them INTEGER)
    "ml.model_selection": {"as_of": DATE, "validation_start": DATE, "final_start": DATE, "final_end": DATE,
                           "horizon": BIGINT, "n_trials": BIGINT, "spec": JSON, "params": JSON, "seconds": JSON,
                           "winner_model": VARCHAR, "winner_optimizer": VARCHAR, "promoted_model": VARCHAR,
                           "promoted_optimizer": VARCHAR, "promoted_model_id": VARCHAR, "reason": VARCHAR,
                           "deflated_sharpe": DOUBLE},
    # trading: the daily decision, stage by stage
    "trading.signals": {"date": DATE, "horizon": BIGINT},
    "trading.portfolios": {"date": DATE, "n_names": BIGINT, "kept": JSON, "added": JSON, "dropped": JSON,
                           "notes": JSON},
    "trading.trades": {"date": DATE, "shares": BIGINT},
    "trading.trade_reasons": {"date": DATE, "ticker": VARCHAR, "side": VARCHAR, "model_id": VARCHAR,
                              "rank": BIGINT, "feature": VARCHAR, "value": DOUBLE, "contribution": DOUBLE,
                              "bias": DOUBLE, "others": DOUBLE, "prediction": DOUBLE},
    "trading.trade_approvals": {"date": DATE, "orders": BIGINT, "approved_orders": BIGINT},
    "trading.kill_switch": {"date": DATE, "mode": VARCHAR, "status": VARCHAR, "halt_days": BIGINT,
                            "grace_days_left": BIGINT, "event": VARCHAR, "last_return": DOUBLE,
                            "trailing_sharpe": DOUBLE, "halt_start": DATE, "detail": VARCHAR},
    "trading.positions": {"date": DATE, "shares": BIGINT},
    # trading: the backtest
    "trading.backtest_daily": {"date": DATE, "trade_date": DATE, "return_end_date": DATE, "n_names": BIGINT,
                               "kill_switch_halt_days": BIGINT, "kill_switch_grace_days_left": BIGINT,
                               "kill_switch_event": VARCHAR, "kill_switch_status": VARCHAR,
                               "kill_switch_last_return": DOUBLE, "kill_switch_trailing_sharpe": DOUBLE},
    "trading.backtest_summary": {"n_days": BIGINT, "blocked_days": BIGINT, "halted_days": BIGINT, "halts": BIGINT,
                                 "longest_halt": BIGINT},
    "trading.backtest_regimes": {"days": BIGINT},
    "trading.backtest_trades": {"date": DATE, "shares": BIGINT},
    "trading.backtest_positions": {"date": DATE, "shares": BIGINT},
}


def types_of(table: str) -> dict[str, str]:
    """The declared types of ``table``'s columns (column -> SQL type); the default for a table not listed."""
    return {**DEFAULT, **TYPES.get(table, {})}
