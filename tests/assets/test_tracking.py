"""What the training and comparison assets log to MLflow ([tracking]), through the functions the
assets call, on a real walk-forward and a real selection report: read back from the local store
with MLflow's own client. Off (the default), they write nothing."""

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from assets.comparison import ComparisonConfig, track_comparison
from assets.training import TrainingConfig, track_training
from ml import training
from ml.comparison import SelectionSpec, deflated_sharpe_ratio, select_champion, sharpe_matrix
from ml.comparison.selection_report import SelectionReport, write_selection_report
from ml.training import registry
from ml.tracking import client as tracking_client
from tests.helpers import planted_panel

FEATURES = ["f0", "f1", "f2"]


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return tmp_path_factory.mktemp("tracking") / "home"


@pytest.fixture(scope="module")
def client(home):
    return tracking_client(home)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A ridge walked forward and trained as the asset does, its decision and its saved folder."""
    config = TrainingConfig(model_type="ridge", train_days=100, test_days=20, tracking=True, experiment="tests")
    spec = training.TrainingSpec(model_type="ridge", train_days=100, test_days=20, label_price="close")
    panel = planted_panel(FEATURES)
    result = training.walk_forward(panel, spec)
    final = training.train_final(panel, spec)
    status, reason = registry.decide_champion(result.summary["rank_ic"], None, tolerance=config.champion_tolerance,
                                              label_price=spec.label_price)
    model_dir = final.save(tmp_path_factory.mktemp("models"))
    return config, spec, result, final, status, reason, model_dir


@pytest.fixture(scope="module")
def selection(tmp_path_factory):
    """A selection over two models x two optimizers, its Deflated Sharpe and its report files."""
    table = pd.DataFrame({
        "model": ["ridge", "ridge", "lightgbm", "lightgbm"] * 2,
        "optimizer": ["hrp", "equal_weight"] * 4,
        "window": ["validation"] * 4 + ["final"] * 4,
        "sharpe": [1.31, 0.9, 1.1, np.nan, 0.4, 0.3, 0.2, 0.1],
        "cagr": [0.12, 0.08, 0.1, 0.0, 0.04, 0.03, 0.02, 0.01],
        "max_drawdown": [-0.08, -0.1, -0.12, -0.3, -0.1, -0.1, -0.1, -0.1],
        "calmar": [1.5, 0.8, 0.83, 0.0, 0.4, 0.3, 0.2, 0.1],
        "turnover": [0.07, 0.05, 0.06, 0.05, 0.07, 0.05, 0.06, 0.05],
        "win_rate": [0.53, 0.52, 0.51, 0.5, 0.5, 0.5, 0.5, 0.5],
        "regime_consistency": [0.4, 0.2, 0.1, -0.2, 0.0, 0.0, 0.0, 0.0]})
    spec = SelectionSpec(min_sharpe=1.0, min_max_drawdown=None, min_calmar=None, max_turnover=None)
    validation = table[table["window"] == "validation"].reset_index(drop=True)
    choice = select_champion(validation, spec)
    returns = np.random.default_rng(1).normal(0.001, 0.01, 250)
    dsr = deflated_sharpe_ratio(returns, n_trials=4, sharpe_variance=0.002)
    scored = choice.table[["model", "optimizer", "passes", "failed", "score", "rank"]].assign(window="validation")
    table = table.merge(scored, on=["model", "optimizer", "window"], how="left")
    report = SelectionReport(
        as_of=dt.date(2017, 11, 8), horizon=5, reason=choice.reason, winner=choice.winner,
        promoted=choice.winner, promoted_id="ridge-abc", deflated=dsr, table=table,
        prediction_metrics=pd.DataFrame({"model": ["ridge", "lightgbm"], "window": ["validation"] * 2,
                                         "rank_ic": [0.012, 0.008], "rank_icir": [0.15, 0.09]}),
        sharpe_matrix=sharpe_matrix(table, "validation"), final_matrix=sharpe_matrix(table, "final"),
        equity=pd.DataFrame({"ridge x hrp": np.linspace(1, 1.1, 5)}, index=pd.bdate_range("2016-01-04", periods=5)),
        benchmarks=pd.DataFrame({"benchmark": ["gspc"], "window": ["validation"], "sharpe": [0.8], "cagr": [0.09]}),
        folds=pd.DataFrame({"fold": [7], "test_start": [pd.Timestamp("2016-01-04")],
                            "test_end": [pd.Timestamp("2016-04-01")]}),
        params={"ridge": {"alpha": 1.0}, "lightgbm": {"num_leaves": 31}}, tuning={},
        seconds={"ridge": 3.2, "total": 42.5},
        validation_start=pd.Timestamp("2015-11-04"), final_start=pd.Timestamp("2017-05-08"))
    paths = write_selection_report(tmp_path_factory.mktemp("reports") / "2017-11-08", report)
    config = ComparisonConfig(candidates=["ridge", "lightgbm"], optimizers=["hrp", "equal_weight"],
                              min_sharpe=1.0, min_max_drawdown=None, min_calmar=None, max_turnover=None,
                              tracking=True, experiment="tests")
    return config, report, paths


def test_off_by_default_writes_nothing(trained, selection, tmp_path):
    _, spec, result, final, status, reason, model_dir = trained
    _, report, paths = selection
    assert TrainingConfig().tracking is False and ComparisonConfig().tracking is False
    assert track_training(tmp_path, TrainingConfig(), spec, result, final, status, reason, model_dir) is None
    assert track_comparison(tmp_path, ComparisonConfig(), report, list(paths.values())) is None
    assert list(tmp_path.iterdir()) == []


def test_a_training_run_logs_its_spec_cv_metrics_decision_and_model(home, client, trained):
    config, spec, result, final, status, reason, model_dir = trained
    run_id = track_training(home, config, spec, result, final, status, reason, model_dir)
    run = client.get_run(run_id)
    assert run.info.run_name == final.model_id and run.info.status == "FINISHED"
    assert client.get_experiment(run.info.experiment_id).name == "tests"
    params = run.data.params
    assert {k: params[k] for k in ("model_type", "train_days", "test_days", "target", "label_price", "horizon")} == \
        {"model_type": "ridge", "train_days": "100", "test_days": "20", "target": "rank", "label_price": "close",
         "horizon": "5"}
    assert params["n_features"] == "3" and "alpha" in params["model_params"]
    metrics = run.data.metrics
    for name in ("rank_ic", "rank_icir", "ic", "icir", "n_dates"):
        assert metrics[name] == pytest.approx(result.summary[name])
    assert metrics["n_train"] == final.n_train
    history = sorted((m.step, m.value) for m in client.get_metric_history(run_id, "fold_rank_ic"))
    assert [v for _, v in history] == pytest.approx(result.folds["rank_ic"].tolist())
    assert len(history) == len(result.folds) >= 2
    tags = run.data.tags
    assert (tags["kind"], tags["model_id"], tags["status"], tags["reason"]) == \
        ("training", final.model_id, status, reason)
    assert tags["status"] == "champion" and tags["previous_champion"] == "none"
    files = sorted(a.path for a in client.list_artifacts(run_id, model_dir.name))
    assert files == [f"{model_dir.name}/model.joblib", f"{model_dir.name}/model.json"]


def test_a_comparison_logs_its_choice_metrics_and_report(home, client, selection):
    config, report, paths = selection
    run_id = track_comparison(home, config, report, list(paths.values()))
    run = client.get_run(run_id)
    assert run.info.run_name == "comparison 2017-11-08" and run.info.status == "FINISHED"
    params = run.data.params
    assert params["candidates"] == '["ridge", "lightgbm"]' and params["optimizers"] == '["hrp", "equal_weight"]'
    assert (params["min_sharpe"], params["min_calmar"], params["params.ridge"]) == ("1.0", "null", '{"alpha": 1.0}')
    assert (params["validation_start"], params["final_start"]) == ("2015-11-04", "2017-05-08")
    metrics = run.data.metrics
    assert (metrics["winner.sharpe"], metrics["n_trials"]) == (1.31, 4)
    assert metrics["deflated_sharpe"] == pytest.approx(report.deflated.dsr)
    assert metrics["deflated_sharpe.n_trials"] == 4
    assert (metrics["sharpe.validation.ridge.hrp"], metrics["sharpe.final.lightgbm.equal_weight"]) == (1.31, 0.1)
    assert math.isnan(metrics["sharpe.validation.lightgbm.equal_weight"])
    assert (metrics["rank_ic.validation.ridge"], metrics["rank_icir.validation.lightgbm"]) == (0.012, 0.09)
    tags = run.data.tags
    assert (tags["kind"], tags["winner"], tags["promoted_model_id"]) == ("comparison", "ridge x hrp", "ridge-abc")
    assert tags["reason"] == report.reason
    assert sorted(a.path for a in client.list_artifacts(run_id)) == \
        ["comparison.csv", "report.html", "selection.json", "sharpe_matrix.csv"]
