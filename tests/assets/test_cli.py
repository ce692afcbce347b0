"""The `tradepipe` command line on the bundled sample: status, models, retrain, report, and a
clear message (exit code 1, no traceback) when the warehouse or a table is missing."""

import json
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from assets import cli
from assets.warehouse import comparison as comparison_tables
from assets.warehouse import registry as registry_table
from assets.warehouse.connection import transaction
from ml.training import registry
from tests.helpers import query

LATEST = "2017-11-10"  # the last market date of the bundled sample


@pytest.fixture
def home(sample_home, monkeypatch, tmp_path) -> Path:
    """TRADEPIPE_HOME at the materialized sample; no Dagster instance (its runs were ephemeral)."""
    monkeypatch.setenv("TRADEPIPE_HOME", str(sample_home))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "no_dagster"))
    return sample_home.resolve()


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def champion_row(home: Path, horizon: int = 5) -> dict:
    reg = query(home, "select * from ml.model_registry")
    champion = registry.current_champion(reg, horizon)
    assert champion is not None, "the sample pipeline trains a champion for horizon 5"
    return champion


def test_models_shows_the_champion_and_its_cv_metrics(home, capsys):
    champion = champion_row(home)
    code, out, err = run(capsys, "models")
    assert code == 0 and err == ""
    line = next(line for line in out.splitlines() if champion["model_id"] in line)
    metrics = json.loads(champion["cv_metrics"])
    assert line.split()[:3] == [champion["model_id"], champion["model_type"], "5"]
    assert "champion" in line.split()
    assert str(champion["train_start"])[:10] in line and str(champion["train_end"])[:10] in line
    assert f"{metrics['rank_ic']:+.4f}" in line and f"{metrics['rank_icir']:+.4f}" in line
    assert f"{metrics['ic']:+.4f}" in line
    assert f"reason: {champion['reason']}" in out


def test_models_never_lists_fold_models(home, capsys):
    folds = query(home, "select model_id from ml.model_registry where status = 'fold'").model_id
    shown = query(home, "select model_id from ml.model_registry where status <> 'fold'").model_id
    assert len(folds) > 0
    for argv in (["models"], ["models", "--all"]):
        code, out, _ = run(capsys, *argv)
        assert code == 0
        assert not any(m in out for m in folds)
        assert all(m in out for m in shown)


def test_retrain_is_not_due_right_after_training(home, capsys):
    champion = champion_row(home)
    ends = query(home, "select label_end_date from marts.fct_training_panel where horizon = 5").label_end_date
    assert registry.retrain_due(champion, ends, min_new_rows=1) == (
        False, f"0 new labelled rows after {LATEST} (need 1)")
    code, out, err = run(capsys, "retrain")
    assert code == 0 and err == ""
    assert f"horizon 5: champion {champion['model_id']}" in out
    assert f"not due: 0 new labelled rows after {LATEST} (need 1)" in out
    assert ("dagster asset materialize -m assets.definitions "
            "--select ml/cv_report,ml/oos_predictions,ml/champion_model") in out
    assert f"TRADEPIPE_HOME={home}" in out
    # no Dagster instance at DAGSTER_HOME (the fixture's): not named in the command (dagster would
    # refuse it), and said (tests/test_commands.py runs the command with an instance)
    assert "DAGSTER_HOME=" not in out and "no Dagster instance at" in out
    assert '"force": true' in out  # a run would skip training: say how to force it
    command = next(line.strip() for line in out.splitlines() if "asset materialize" in line)
    select = command.split("--select ")[1].split()[0]
    from assets.definitions import defs
    from assets.training import CHAMPION_MODEL, CV_REPORT, OOS_PREDICTIONS

    # what `dagster asset materialize` does with --select (dagster/_cli/asset.py)
    keys = dg.AssetSelection.from_coercible(select.split(",")).resolve(defs.resolve_asset_graph())
    assert keys == {CV_REPORT, OOS_PREDICTIONS, CHAMPION_MODEL}


def test_retrain_is_due_for_a_horizon_without_champion(home, capsys):
    assert query(home, "select count(*) as n from ml.model_registry "
                       "where horizon = 20 and status = 'champion'").n[0] == 0
    code, out, _ = run(capsys, "retrain", "--horizon", "20")
    assert code == 0
    assert "due: no champion yet" in out and "not due" not in out
    assert '{"ops": {"model_training": {"config": {"horizon": 20}}}}' in out


def test_retrain_names_the_horizons_there_are(home, capsys):
    code, out, err = run(capsys, "retrain", "--horizon", "7")
    assert code == 1 and out == ""
    assert "no rows for horizon 7 in marts.fct_training_panel (horizons there: 1, 5, 20)" in err


def test_report_shows_the_folder_of_the_latest_date(home, capsys):
    folder = home / "reports" / LATEST
    code, out, err = run(capsys, "report")
    assert code == 0 and err == ""
    assert f"report for {LATEST}: {folder}" in out
    size = (folder / "report.html").stat().st_size
    assert any(line.split() == ["report.html", f"{size:,}"] for line in out.splitlines())
    assert "trades.csv" in out


def test_report_for_a_missing_date_lists_the_dates_there_are(home, capsys):
    code, out, err = run(capsys, "report", "--date", "1999-01-01")
    assert code == 1 and out == ""
    assert "no report for 1999-01-01" in err
    assert f"reports exist for: {LATEST}" in err


def test_status_without_a_dagster_instance_shows_the_data(home, capsys):
    approval = query(home, "select * from trading.trade_approvals order by date desc limit 1").iloc[0]
    equity = query(home, "select equity from trading.paper_book order by date desc limit 1").equity[0]
    regime = query(home, "select regime from ml.regimes order by date desc limit 1").regime[0]
    code, out, err = run(capsys, "status")
    assert code == 0 and err == ""
    assert "dagster runs: no runs recorded" in out
    assert f"latest market date   {LATEST}" in out
    assert bool(approval.approved)  # the sample's latest day passes the gate
    assert (f"latest trading date  {LATEST}  approved "
            f"({approval.approved_orders} of {approval.orders} orders)") in out
    assert f"regime               {regime} on {LATEST}" in out
    assert f"equity {equity:,.2f} on {LATEST}" in out


def test_status_lists_the_last_runs_of_the_instance(home, capsys, tmp_path, monkeypatch):
    dagster_home = tmp_path / "dagster"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")

    @dg.asset
    def fine() -> None:
        pass

    @dg.asset
    def broken() -> None:
        raise RuntimeError("boom")

    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        ok = dg.materialize([fine], instance=instance).run_id
        failed = dg.materialize([broken], instance=instance, raise_on_error=False).run_id
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))
    code, out, _ = run(capsys, "status")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == f"dagster runs (last 2, instance {dagster_home.resolve()}):"
    assert lines[1].split()[:3] == ["run", "job", "status"]
    assert lines[2].split()[:3] == [failed[:8], "__ephemeral_asset_job__", "FAILURE"]  # newest first
    assert lines[3].split()[:3] == [ok[:8], "__ephemeral_asset_job__", "SUCCESS"]
    assert f"latest market date   {LATEST}" in out


@pytest.mark.parametrize("command", ["summary", "status", "models", "retrain", "report", "comparison"])
def test_a_missing_warehouse_is_named(command, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("TRADEPIPE_HOME", str(tmp_path))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    code, _, err = run(capsys, command)
    assert code == 1
    assert f"no warehouse at {tmp_path.resolve() / 'warehouse.duckdb'}" in err
    assert "run `make demo`" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(("command", "table", "asset"), [
    ("status", "trading.trade_approvals", "trading/trade_approval"),
    ("models", "ml.model_registry", "ml/champion_model"),
    ("retrain", "marts.fct_training_panel", "marts/fct_training_panel"),
    ("report", "trading.trades", "trading/trades"),
])
def test_a_missing_table_is_named(command, table, asset, capsys, tmp_path, monkeypatch):
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        con.execute("create schema marts")
        con.execute(f"create table marts.fct_features as select date '{LATEST}' as date")
    monkeypatch.setenv("TRADEPIPE_HOME", str(tmp_path))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    code, _, err = run(capsys, command)
    assert code == 1
    assert table in err and f"materialize {asset}" in err
    assert str(tmp_path.resolve() / "warehouse.duckdb") in err


def test_last_date_is_the_newest_date_in_the_price_files(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("TRADEPIPE_PRICES", raising=False)
    assert run(capsys, "last-date") == (0, f"{LATEST}\n", "")
    (tmp_path / "AAA.csv").write_text("date,ticker,open,high,low,close,volume\n2021-03-04,AAA,1,1,1,1,1\n")
    (tmp_path / "BBB.csv").write_text("date,ticker,open,high,low,close,volume\n2021-03-05,BBB,1,1,1,1,1\n")
    monkeypatch.setenv("TRADEPIPE_PRICES", str(tmp_path))
    assert run(capsys, "last-date") == (0, "2021-03-05\n", "")
    monkeypatch.setenv("TRADEPIPE_PRICES", str(tmp_path / "missing"))
    code, out, err = run(capsys, "last-date")
    assert code == 1 and out == "" and err == f"tradepipe last-date: {tmp_path / 'missing'}: no such file or folder\n"


def test_summary_prints_a_missing_sharpe_as_a_dash(monkeypatch, tmp_path, capsys):
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        con.execute("create schema trading; create table trading.backtest_summary as "
                    "select 'model' as strategy, 0.05 as cagr, cast(null as double) as sharpe, -0.1 as max_drawdown")
    monkeypatch.setenv("TRADEPIPE_HOME", str(tmp_path))
    code, out, err = run(capsys, "summary")
    assert code == 0 and err == ""
    assert "model                          CAGR   5.00%  Sharpe -  max drawdown -10.00%" in out


def _compared(home: Path, winner: tuple[str, str] | None, promoted_id: str | None) -> None:
    """A warehouse holding one comparison of two candidates x one optimizer, and the champion."""
    day = pd.Timestamp(LATEST)
    table = pd.DataFrame({"model": ["ridge", "lightgbm", "ridge", "lightgbm"], "optimizer": ["hrp"] * 4,
                          "window": ["validation", "validation", "final", "final"],
                          "sharpe": [1.31, 0.52, 0.4, 0.1], "max_drawdown": [-0.081, -0.187, -0.05, -0.1],
                          "calmar": [1.2, 0.14, 0.5, 0.1], "turnover": [0.0681, 0.052, 0.07, 0.05],
                          "passes": [winner is not None, False, None, None],
                          "score": [1.0 if winner else None, None, None, None],
                          "rank": pd.array([1 if winner else None, None, None, None], dtype="Int64"),
                          "failed": ["" if winner else "sharpe 1.31 < 1.50", "sharpe 0.52 < 1.00", None, None]})
    selection = pd.DataFrame([{
        "selected_at": pd.Timestamp("2017-11-11 09:00"), "as_of": day, "horizon": 5,
        "winner_model": winner and winner[0], "winner_optimizer": winner and winner[1],
        "promoted_model": winner and winner[0], "promoted_optimizer": winner and winner[1],
        "promoted_model_id": promoted_id, "reason": "the reason", "n_trials": 2,
        "deflated_sharpe": 0.41 if winner else None, "validation_start": pd.Timestamp("2015-11-04"),
        "final_start": pd.Timestamp("2017-05-08"), "final_end": day, "spec": "{}", "params": "{}", "seconds": "{}"}])
    champion = {"model_id": promoted_id or "old1", "created_at": day, "model_type": "ridge" if promoted_id else "lightgbm",
                "horizon": 5, "status": "champion", "optimizer": "hrp" if promoted_id else "equal_weight"}
    with duckdb.connect(str(home / "warehouse.duckdb")) as con, transaction(con):
        comparison_tables.write(con, table.assign(as_of=day), pd.DataFrame({"model": ["ridge"], "as_of": [day]}),
                                selection)
        registry_table.write(con, pd.DataFrame([champion]))


@pytest.mark.parametrize(("winner", "promoted_id", "verdict"), [
    (("ridge", "hrp"), "new1", "verdict: ridge x hrp won and was promoted: champion new1"),
    (("ridge", "hrp"), None, "verdict: ridge x hrp won, not promoted (promotion is off ([comparison] promote = "
                             "false)): the champion old1 (lightgbm) stays, trading with equal_weight"),
    (None, None, "verdict: no candidate passed the thresholds: the champion old1 (lightgbm) stays, trading with "
                 "equal_weight"),
])
def test_comparison_prints_the_verdict(winner, promoted_id, verdict, tmp_path, monkeypatch, capsys):
    _compared(tmp_path, winner, promoted_id)
    monkeypatch.setenv("TRADEPIPE_HOME", str(tmp_path))
    code, out, err = run(capsys, "comparison")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0] == f"model comparison of {LATEST} (horizon 5): 2 candidate x optimizer pairs"
    assert lines[1] == ("  chosen on the validation window 2015-11-04 .. before 2017-05-08; the final window "
                        f"2017-05-08 .. {LATEST} is reported only")
    assert lines[2] == verdict and lines[3] == "  why: the reason"
    if winner:
        assert lines[4] == "  deflated Sharpe ratio 0.410: not significant at 5% (the win may be luck)"
    first, second = (line.split() for line in lines[-3:-1])
    assert first[:8] == ["ridge", "hrp", "1.31", "-8.1%", "1.20", "0.068", "yes" if winner else "no",
                         "1.00" if winner else "-"]
    assert second[:3] == ["lightgbm", "hrp", "0.52"] and " ".join(second[8:]) == "sharpe 0.52 < 1.00"
    assert lines[-1] == f"report:  (none at {tmp_path.resolve() / 'reports' / 'model_selection' / LATEST / 'report.html'})"


def test_comparison_without_one_says_how_to_run_it(tmp_path, monkeypatch, capsys):
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")):
        pass
    monkeypatch.setenv("TRADEPIPE_HOME", str(tmp_path))
    code, out, err = run(capsys, "comparison")
    assert code == 1 and out == ""
    assert "no model comparison in" in err and "run `make compare`" in err
