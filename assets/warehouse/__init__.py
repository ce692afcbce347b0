"""The warehouse layer: every DDL, reader and writer of the tables Python writes.

Asset bodies call these functions and hold no SQL. One module per area, one writer per table:

- ``connection``: connections, transactions, quoting, the small generic helpers; its writers give
  every column the type ``schema`` declares.
- ``schema``: the declared column types of the tables Python writes (dates DATE, counts BIGINT,
  JSON documents JSON).
- ``lock``: the run-level lock on a home (one run at a time).
- ``raw``: raw.prices / raw.macro / raw.instruments, swapped together by the ingest.
- ``marts``: read-only access to the dbt marts (features, labels, prices, sectors, quality).
- ``registry``: ml.model_registry (schema declared once) and ml.cv_folds.
- ``preds``: ml.preds and ml.predictions_in_force.
- ``regimes``: ml.regimes and ml.regime_models.
- ``trading``: the daily decision tables (signals .. paper book), replaced per date as a whole.
- ``backtest``: the trading.backtest_* tables.
- ``monitoring``: ml.monitoring_ic, ml.feature_drift, ml.monitoring_log.
- ``comparison``: ml.model_comparison, ml.model_comparison_predictions, ml.model_selection.
- ``builds``: ops.dbt_builds (full or incremental dbt builds).
- ``publish``: the analytics copy ($TRADEPIPE_HOME/analytics.duckdb) and ops.published.
- ``status``: what the command line reports from a warehouse or its published copy.

Writes of one step happen in one transaction (``connection.transaction``); a partitioned
step replaces its date's rows as a whole, so a re-run leaves exactly what it decided.
"""
