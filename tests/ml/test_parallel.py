"""ml.parallel: the thread policy (available CPUs, one share per task) and the seam's order and errors."""

from __future__ import annotations

import os

import pytest

from ml.parallel import Parallelism, available_cpus, fit_threads, run_parallel
from ml.training import default_params, get_model


def _threads_here(_: int) -> int:
    return fit_threads()


def _fail_on(value: int, bad: int) -> int:
    if value == bad:
        raise ValueError(f"task {value} failed")
    return value


def test_available_cpus_counts_the_affinity_mask_not_the_host() -> None:
    cpus = available_cpus()
    assert 1 <= cpus <= (os.cpu_count() or 1)
    if hasattr(os, "sched_getaffinity"):
        assert cpus <= len(os.sched_getaffinity(0))


def test_a_fit_alone_uses_every_available_cpu_and_models_take_it_as_default() -> None:
    assert fit_threads() == available_cpus()
    assert default_params("lightgbm")["n_jobs"] == available_cpus()
    assert get_model("random_forest").named_steps["model"].n_jobs == available_cpus()
    assert get_model("lightgbm", {"n_jobs": 1}).named_steps["model"].n_jobs == 1  # explicit wins


def test_fits_side_by_side_share_the_cpus() -> None:
    assert list(run_parallel(_threads_here, [(0,), (1,)])) == [available_cpus()] * 2  # in process: alone
    share = max(1, available_cpus() // 2)
    assert list(run_parallel(_threads_here, [(k,) for k in range(3)], Parallelism(n_jobs=2))) == [share] * 3
    assert Parallelism(n_jobs=4 * available_cpus()).task_threads() == 1
    assert Parallelism(backend="dask").task_threads() == 1
    assert fit_threads() == available_cpus()  # reset after the tasks


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_results_come_in_task_order_and_errors_propagate(n_jobs: int) -> None:
    seam = Parallelism(n_jobs=n_jobs)
    assert list(run_parallel(pow, [(2, k) for k in range(6)], seam)) == [1, 2, 4, 8, 16, 32]
    assert list(run_parallel(pow, [], seam)) == []
    with pytest.raises(ValueError, match="task 2 failed"):
        list(run_parallel(_fail_on, [(k, 2) for k in range(4)], seam))


def test_parallelism_errors() -> None:
    with pytest.raises(ValueError, match="n_jobs must be an integer >= 1, got 0"):
        Parallelism(n_jobs=0)
    with pytest.raises(ValueError, match=r"backend must be one of \('local', 'dask'\), got 'spark'"):
        Parallelism(backend="spark")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="scheduler='tcp://x:8786' is for backend='dask', not 'local'"):
        Parallelism(scheduler="tcp://x:8786")
