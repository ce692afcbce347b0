"""Where independent work runs, and how many threads one model fit uses.

Two decisions live here, and nowhere else:

* **The parallel seam.** The comparison's independent fits and backtests and the tuner's trials
  run through :func:`run_parallel`: in this process one after the other (``n_jobs=1``), in
  local worker processes (joblib's ``loky`` backend), or on a Dask distributed cluster
  (joblib's ``dask`` backend: ``backend="dask"``, needs the optional ``distributed`` package,
  ``pip install tradepipe[dask]``). The results and their order are the same whichever runs
  them.
* **The thread policy.** :func:`fit_threads` is the thread count of one model fit (LightGBM's
  ``num_threads``, a random forest's ``n_jobs``) and :func:`fit_thread_limits` caps the BLAS and
  OpenMP pools of the scikit-learn fits:

  - a fit alone uses every CPU *available to this process* (:func:`available_cpus`: the CPU
    affinity mask and a cgroup CPU quota, not ``os.cpu_count()``, which counts the host's);
  - fits that run side by side (the tasks of :func:`run_parallel`) share them: each gets
    ``available_cpus() // n_jobs`` threads, at least one; one on a Dask worker, whose threads
    are its cores;
  - the BLAS pool of a scikit-learn fit (ridge, MLP) is one thread: their matrices are small
    (an MLP batch is 512 rows x 32 units), so a second thread barely helps on a quiet machine,
    and OpenBLAS threads spin while they wait, which on a busy one made an MLP walk-forward
    6x slower (bench/results/loaded.md).

  Thread counts never change a model: LightGBM runs with ``deterministic=True`` and
  ``force_col_wise=True``, and model ids leave ``n_jobs`` / ``num_threads`` out
  (:mod:`ml.training.hashing`). A random forest's trees do not depend on ``n_jobs`` either,
  but with ``n_jobs > 1`` scikit-learn adds the trees' predictions in completion order, so they
  agree to ~1e-16 only (see :mod:`ml.training.models`).

OpenMP threads that wait passively instead of spinning are set in :mod:`ml` itself, before any
OpenMP runtime loads.

Examples
--------
>>> list(run_parallel(pow, [(2, 3), (3, 2)]))
[8, 9]
>>> fit_threads() == available_cpus()
True
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["BACKENDS", "Parallelism", "available_cpus", "fit_thread_limits", "fit_threads", "run_parallel"]

BACKENDS: tuple[str, ...] = ("local", "dask")

# threads of one fit inside a task of run_parallel (None: not in a task); a ContextVar so that
# tasks run by threads of one process (a Dask worker) each see their own
_TASK_THREADS: ContextVar[int | None] = ContextVar("tradepipe_task_threads", default=None)


def available_cpus() -> int:
    """CPUs this process may use: the affinity mask, capped by a cgroup CPU quota (cgroup v1
    or v2) and ``LOKY_MAX_CPU_COUNT``; at least 1.

    ``os.cpu_count()`` counts the host's CPUs, so a container limited to two of 64 would start
    64 threads per fit. joblib (loky) reads the same limits for its worker count.
    """
    from joblib import cpu_count

    return max(1, int(cpu_count()))


def fit_threads() -> int:
    """Threads one model fit uses here: every available CPU, or its share inside a task of
    :func:`run_parallel` (see the module docstring)."""
    inside = _TASK_THREADS.get()
    return available_cpus() if inside is None else inside


@contextlib.contextmanager
def fit_thread_limits() -> Iterator[None]:
    """Cap the BLAS pool at one thread and the OpenMP pools at :func:`fit_threads` while a
    scikit-learn model fits or predicts (threadpoolctl; restored on exit)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits={"blas": 1, "openmp": fit_threads()}):
        yield


@dataclass(frozen=True)
class Parallelism:
    """Where :func:`run_parallel` runs its tasks ([parallel] in tradepipe.toml).

    Attributes
    ----------
    n_jobs : int, default=1
        Tasks at once on this machine (``backend="local"``): 1 runs them one after the other in
        this process; more starts worker processes (joblib ``loky``), each first importing
        pandas and scikit-learn (a few seconds). Ignored by ``dask``, which runs as many tasks
        at once as its workers have threads.
    backend : {"local", "dask"}, default="local"
    scheduler : str, default=""
        ``dask`` only: the scheduler's address (``tcp://host:8786``); ``""`` uses the Dask
        client already created in this process (e.g. on a ``distributed.LocalCluster``).
    """

    n_jobs: int = 1
    backend: Literal["local", "dask"] = "local"
    scheduler: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.n_jobs, bool) or not isinstance(self.n_jobs, int) or self.n_jobs < 1:
            raise ValueError(f"n_jobs must be an integer >= 1, got {self.n_jobs!r}")
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {self.backend!r}")
        if self.scheduler and self.backend != "dask":
            raise ValueError(f"scheduler={self.scheduler!r} is for backend='dask', not {self.backend!r}")

    @property
    def in_process(self) -> bool:
        """True when tasks run one after the other in this process (callbacks such as a log work)."""
        return self.backend == "local" and self.n_jobs == 1

    def task_threads(self) -> int:
        """Threads of one fit inside a task: the local CPUs shared by the tasks, 1 on Dask."""
        if self.backend == "dask":
            return 1
        return max(1, available_cpus() // self.n_jobs)


def _run_task(threads: int, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    """Run one task with the thread count of a fit set for it (top level: picklable)."""
    token = _TASK_THREADS.set(threads)
    try:
        return fn(*args)
    finally:
        _TASK_THREADS.reset(token)


def run_parallel(fn: Callable[..., Any], tasks: Iterable[tuple[Any, ...]],
                 parallelism: Parallelism | None = None) -> Iterator[Any]:
    """``fn(*args)`` for each ``args`` of ``tasks``, yielded in task order as they finish.

    Parameters
    ----------
    fn : callable
        A module-level function (worker processes and Dask pickle it by name).
    tasks : iterable of tuple
        Positional arguments of each call.
    parallelism : Parallelism, optional
        Default ``Parallelism()``: one after the other in this process.

    Yields
    ------
    The results, in the order of ``tasks``; the first task that raises stops the run and its
    exception propagates.

    Raises
    ------
    ImportError
        ``backend="dask"`` without the optional ``distributed`` package (the message says how
        to install it).
    """
    parallelism = Parallelism() if parallelism is None else parallelism
    jobs = [tuple(args) for args in tasks]
    if parallelism.in_process or not jobs:
        for args in jobs:
            yield fn(*args)
        return
    from joblib import Parallel, delayed, parallel_config

    threads = parallelism.task_threads()
    calls = [delayed(_run_task)(threads, fn, args) for args in jobs]
    with contextlib.ExitStack() as stack:
        if parallelism.backend == "dask":
            try:
                import distributed
            except ImportError as error:
                raise ImportError("[parallel] backend = 'dask' needs the optional 'distributed' package: "
                                  "pip install 'tradepipe[dask]' (or uv sync --extra dask)") from error
            # a scheduler address gets a client of this run's own, closed when the run ends (not one
            # more connection left open per run); none: the client already created
            client = (stack.enter_context(distributed.Client(parallelism.scheduler, set_as_default=False))
                      if parallelism.scheduler else None)
            config = parallel_config(backend="dask", client=client)
        else:
            config = parallel_config(backend="loky", n_jobs=parallelism.n_jobs,
                                     inner_max_num_threads=threads)
        with config:  # the backend is bound when the run starts; the results are read after
            results = Parallel(return_as="generator")(calls)
        yield from results
