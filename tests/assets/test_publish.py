"""The published analytics database: the contract's tables, readable during a run, never half-written."""

import shutil
import threading
import time

import dagster as dg
import duckdb

from tests.helpers import materialize_pipeline

PUBLISHED = ["marts.fct_features", "marts.fct_labels", "marts.fct_training_panel", "marts.fct_regime_features",
             "marts.quarantine", "ml.preds", "ml.regimes", "ml.model_registry", "ml.cv_folds",
             "trading.signals", "trading.target_weights", "trading.trades", "trading.positions",
             "trading.backtest_daily"]
DAILY_AND_PUBLISH = dg.AssetSelection.assets(
    ["trading", "signals"], ["trading", "target_weights"], ["trading", "trades"], ["trading", "trade_approval"],
    ["trading", "positions"], ["reports", "daily_report"], ["publish", "analytics_db"])


def _read(path):
    with duckdb.connect(str(path), read_only=True) as con:
        names = {f"{s}.{t}" for s, t in con.execute(
            "select table_schema, table_name from information_schema.tables").fetchall()}
        day, n = con.execute("select max(date), count(*) filter (where date = (select max(date) from trading.trades)) "
                             "from trading.trades").fetchone()
        panel = con.execute("select count(*) from marts.fct_training_panel where horizon = 5").fetchone()[0]
    return names, day, n, panel


def test_the_contract_tables_are_published(sample_home):
    names, day, n, panel = _read(sample_home / "analytics.duckdb")
    assert set(PUBLISHED) <= names
    assert str(day) == "2017-11-10" and n == 20 and panel > 100_000


def test_readers_during_a_run_see_a_complete_database_and_never_fail(sample_home, tmp_path):
    home = tmp_path / "home"
    shutil.copytree(sample_home, home, ignore=shutil.ignore_patterns("dagster"))
    expected = _read(home / "analytics.duckdb")
    seen, errors, done = [], [], threading.Event()

    def reader():
        while not done.is_set():
            try:
                seen.append(_read(home / "analytics.duckdb"))
            except Exception as exc:  # noqa: BLE001 -- the test collects every failure
                errors.append(repr(exc))
            time.sleep(0.02)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        result = materialize_pipeline(home, selection=DAILY_AND_PUBLISH)
    finally:
        done.set()
        thread.join()
    assert result.success
    assert errors == []
    assert len(seen) > 10  # the reader ran throughout the run (~10 s; fewer reads on a busy machine)
    assert all(s == expected for s in seen)  # the re-run publishes identical content
    assert not list(home.glob(".analytics.duckdb.*.tmp"))
