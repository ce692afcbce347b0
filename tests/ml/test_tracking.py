"""ml.tracking: off writes nothing and imports no MLflow; on, a run is read back from the local
store with MLflow's own client; on without MLflow says what to install."""

import math
import sys

import pytest

from ml.tracking import INSTALL, client, log_run


@pytest.fixture
def home(tmp_path):
    return tmp_path / "pipeline home"  # a space, as in a real home's path


def test_off_writes_nothing_and_imports_no_mlflow(home, monkeypatch):
    home.mkdir()
    monkeypatch.setitem(sys.modules, "mlflow", None)  # any `import mlflow` would now raise
    assert log_run(home, "training", "m1", enabled=False, experiment="exp", params={"a": 1},
                   metrics={"rank_ic": 0.1}, artifacts=[home / "not there"]) is None
    assert list(home.iterdir()) == []


def test_on_without_mlflow_says_what_to_install(home, monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)
    with pytest.raises(ImportError, match=r"\[tracking\] enabled = true needs MLflow, which is not installed: "
                                          r"pip install 'tradepipe\[tracking\]' \(the mlflow-skinny package\)"):
        log_run(home, "training", "m1", enabled=True, experiment="exp", params={"a": 1})
    assert INSTALL == "pip install 'tradepipe[tracking]'"
    assert not home.exists()


def test_a_missing_artifact_fails_before_anything_is_written(home):
    with pytest.raises(FileNotFoundError, match="artifacts to log do not exist: .*nope.txt"):
        log_run(home, "training", "m1", enabled=True, experiment="exp", artifacts=[home / "nope.txt"])
    assert not home.exists()


def test_a_run_is_read_back_from_the_local_store(home, tmp_path):
    model = tmp_path / "m1"
    model.mkdir()
    (model / "model.txt").write_text("tree\n")
    (model / "model.json").write_text('{"model_id": "m1"}\n')
    note = tmp_path / "note.txt"
    note.write_text("hello\n")

    run_id = log_run(home, "training", "m1", enabled=True, experiment="exp",
                     params={"model_type": "ridge", "train_days": 100, "params": {"alpha": 1.0, "b": [1, 2]},
                             "embargo_days": None},
                     metrics={"rank_ic": 0.0123, "n_dates": 40, "fold_rank_ic": [0.1, -0.2, 0.3],
                              "not_computed": None, "empty": float("nan")},
                     artifacts=[model, note], tags={"status": "champion", "horizon": 5})

    mlflow = client(home)
    run = mlflow.get_run(run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "m1"
    assert mlflow.get_experiment(run.info.experiment_id).name == "exp"
    assert run.data.params == {"model_type": "ridge", "train_days": "100",
                               "params": '{"alpha": 1.0, "b": [1, 2]}', "embargo_days": "null"}
    metrics = run.data.metrics
    assert set(metrics) == {"rank_ic", "n_dates", "fold_rank_ic", "empty"}
    assert (metrics["rank_ic"], metrics["n_dates"]) == (0.0123, 40.0) and math.isnan(metrics["empty"])
    history = mlflow.get_metric_history(run_id, "fold_rank_ic")
    assert sorted((m.step, m.value) for m in history) == [(0, 0.1), (1, -0.2), (2, 0.3)]
    assert {k: run.data.tags[k] for k in ("kind", "status", "horizon")} == \
        {"kind": "training", "status": "champion", "horizon": "5"}
    assert sorted(a.path for a in mlflow.list_artifacts(run_id)) == ["m1", "note.txt"]
    assert sorted(a.path for a in mlflow.list_artifacts(run_id, "m1")) == ["m1/model.json", "m1/model.txt"]
    # the files are copies under the home's store, readable without MLflow
    stored = home / "mlruns" / "artifacts" / run_id / "artifacts"
    assert (stored / "m1" / "model.txt").read_text() == "tree\n"
    assert (stored / "note.txt").read_text() == "hello\n"
    assert (home / "mlruns" / "mlflow.db").is_file()

    # a second run goes to the same experiment
    second = log_run(home, "comparison", "c1", enabled=True, experiment="exp", metrics={"n_trials": 3})
    runs = mlflow.search_runs([run.info.experiment_id])
    assert {r.info.run_id for r in runs} == {run_id, second}
    assert mlflow.get_run(second).data.tags["kind"] == "comparison"
