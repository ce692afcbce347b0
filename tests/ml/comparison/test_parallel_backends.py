"""The comparison through the parallel seam: the candidates' tuning and walk-forwards and the
backtests of candidates x optimizers give identical results in this process, in local worker
processes and on a Dask distributed cluster (a LocalCluster here; a real one is a scheduler
address away, docs/parallel.md)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml.comparison import backtest_candidates, train_candidates
from ml.parallel import Parallelism
from tests.ml.comparison.test_candidates import CANDIDATES, SPEC
from tests.ml.comparison.test_comparison import OPTIMIZERS, universe  # noqa: F401 (fixture)
from tests.ml.comparison.test_comparison import SPEC as TRADING
from tests.ml.training.test_training import make_panel

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def cluster():
    """Two single-threaded workers in this process: quick to start, and the tasks still travel
    through the scheduler as they would to remote workers."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=":0") as local, distributed.Client(local) as client:
        yield client


SEAMS = {"in_process": Parallelism(), "local": Parallelism(n_jobs=2), "dask": Parallelism(backend="dask")}


def _candidates(seam: Parallelism):
    panel = make_panel(n_tickers=30, n_days=400)
    dates = np.sort(panel["date"].unique())
    return train_candidates(panel, CANDIDATES, SPEC, test_from=dates[200], final_start=dates[320],
                            ensemble_size=2, tuning_iter=2, tuning_splits=2, parallelism=seam)


def test_candidates_and_tuner_are_identical_on_every_backend(cluster) -> None:
    runs = {name: _candidates(seam) for name, seam in SEAMS.items()}
    first = runs["in_process"]
    for name, run in runs.items():
        assert run.params == first.params, name
        assert run.members == first.members, name
        pd.testing.assert_frame_equal(run.folds, first.folds, obj=name)
        pd.testing.assert_frame_equal(run.metrics, first.metrics, obj=name)
        for cand, preds in run.predictions.items():
            pd.testing.assert_frame_equal(preds, first.predictions[cand], obj=f"{name}/{cand}")
        tuned, ref = run.tuning["lightgbm_tuned"], first.tuning["lightgbm_tuned"]
        pd.testing.assert_frame_equal(tuned.trials, ref.trials, obj=f"{name} trials")
        assert tuned.best_params == ref.best_params


def test_backtests_are_identical_on_every_backend(cluster, universe) -> None:  # noqa: F811
    u = universe
    out = {name: backtest_candidates(u["preds"], OPTIMIZERS, u["prices"], u["regimes"], u["sectors"], TRADING,
                                     index_close=u["index_close"], final_start=u["final_start"], parallelism=seam)
           for name, seam in SEAMS.items()}
    first = out["in_process"]
    for name, comparison in out.items():
        pd.testing.assert_frame_equal(comparison.table.drop(columns="elapsed_s"),
                                      first.table.drop(columns="elapsed_s"), obj=name)
        pd.testing.assert_frame_equal(comparison.returns, first.returns, obj=name)
        pd.testing.assert_frame_equal(comparison.benchmarks, first.benchmarks, obj=name)
        assert comparison.notes == first.notes


def test_dask_at_a_scheduler_address_runs_the_tasks_there() -> None:
    from ml.parallel import run_parallel

    with distributed.LocalCluster(n_workers=1, processes=False, dashboard_address=":0") as local:
        got = list(run_parallel(pow, [(2, 3)], Parallelism(backend="dask", scheduler=local.scheduler_address)))
        # the run's own client is closed when the run ends (the workers' clients are theirs)
        left = {c for c in local.scheduler.clients if c != "fire-and-forget" and not c.startswith("Client-worker-")}
    assert got == [8]
    assert left == set()
