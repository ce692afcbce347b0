"""Optional experiment tracking: a training run or a model comparison logged to MLflow.

Off by default (``[tracking] enabled = false`` in tradepipe.toml): :func:`log_run` then returns
at once, writes nothing and does not import MLflow. Enabled, it logs one MLflow run -- params,
metrics, tags and artifact files -- to a local store under the pipeline's home:

* ``$TRADEPIPE_HOME/mlruns/mlflow.db``: the runs (SQLite; MLflow 3 refuses its plain-file store
  unless ``MLFLOW_ALLOW_FILE_STORE`` is set, and SQLite needs only SQLAlchemy and Alembic, which
  Dagster already installs);
* ``$TRADEPIPE_HOME/mlruns/artifacts/``: the files.

No server and no network: MLflow's usage telemetry is switched off
(``MLFLOW_DISABLE_TELEMETRY=true``, unless set otherwise) before MLflow is imported. Enabled
without MLflow installed is an error that says what to install, never a silent skip.

Examples
--------
>>> log_run("/tmp/home", "training", "m1", enabled=False, experiment="tradepipe",
...         params={"model_type": "ridge"}) is None  # off: nothing written, MLflow not imported
True
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ml.common import jsonable

__all__ = ["STORE", "INSTALL", "client", "log_run", "store_uri"]

#: The store's folder under the pipeline's home.
STORE = "mlruns"
#: What to install when tracking is enabled without MLflow.
INSTALL = "pip install 'tradepipe[tracking]'"


def store_uri(home: str | os.PathLike[str]) -> str:
    """The tracking URI of ``home``'s store: ``sqlite:////<home>/mlruns/mlflow.db``.

    >>> store_uri("/data/tp")
    'sqlite:////data/tp/mlruns/mlflow.db'
    """
    return f"sqlite:///{Path(home).expanduser().resolve() / STORE / 'mlflow.db'}"


def log_run(home: str | os.PathLike[str], kind: str, name: str, *, enabled: bool,
            experiment: str, params: Mapping[str, Any] | None = None,
            metrics: Mapping[str, float | Sequence[float] | None] | None = None,
            artifacts: Iterable[str | os.PathLike[str]] = (), tags: Mapping[str, Any] | None = None,
            ) -> str | None:
    """Log one run of ``kind`` ("training", "comparison") named ``name`` to ``home``'s store.

    Parameters
    ----------
    home : path
        The pipeline's home (``TRADEPIPE_HOME``); the store is ``<home>/mlruns``.
    kind, name : str
        The run's kind (the tag ``kind``) and its name in MLflow (e.g. the model id).
    enabled : bool
        ``[tracking] enabled``. False: return None at once (nothing written, MLflow not imported).
    experiment : str
        ``[tracking] experiment``: the MLflow experiment, created on first use with its artifacts
        under ``<home>/mlruns/artifacts``.
    params : mapping
        Logged as MLflow params: text as it is, dates as ISO text, anything else as JSON
        (:func:`ml.common.jsonable`; None is ``null``).
    metrics : mapping
        A number is logged once; a list of numbers one value per step (0, 1, ...), e.g. per
        fold. None (not computed) is not logged; NaN is logged as NaN.
    artifacts : paths
        Files logged at the run's artifact root; a folder is logged as a folder of its name.
    tags : mapping
        Logged as MLflow tags (text), beside ``kind``.

    Returns
    -------
    str or None
        The MLflow run id, or None when tracking is off.

    Raises
    ------
    ImportError
        Enabled while MLflow is not installed; the message says what to install.
    FileNotFoundError
        For an artifact that does not exist (checked before the run is created).
    """
    if not enabled:
        return None
    paths = [Path(p) for p in artifacts]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise FileNotFoundError(f"artifacts to log do not exist: {', '.join(missing)}")
    mlflow = client(home)
    experiment_id = _experiment_id(mlflow, experiment, Path(home).expanduser().resolve() / STORE / "artifacts")
    run = mlflow.create_run(experiment_id, run_name=name,
                            tags={"kind": kind, **{k: _text(v) for k, v in (tags or {}).items()}})
    run_id = run.info.run_id
    try:
        _log_values(mlflow, run_id, params or {}, metrics or {})
        for path in paths:
            if path.is_dir():
                mlflow.log_artifacts(run_id, str(path), artifact_path=path.name)
            else:
                mlflow.log_artifact(run_id, str(path))
    except BaseException:
        mlflow.set_terminated(run_id, status="FAILED")
        raise
    mlflow.set_terminated(run_id, status="FINISHED")
    return run_id


def client(home: str | os.PathLike[str]):
    """An ``mlflow.MlflowClient`` on ``home``'s store, to read the runs back, e.g.
    ``client(home).search_runs(...)``: MLflow imported here (never at module import), with its
    usage telemetry off, the store's folder created.

    Raises
    ------
    ImportError
        When MLflow is not installed; the message says what to install.
    """
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # no network: MLflow 3 reports usage by default
    try:
        from mlflow import MlflowClient
    except ImportError as error:
        raise ImportError(
            f"[tracking] enabled = true needs MLflow, which is not installed: {INSTALL} "
            f"(the mlflow-skinny package), or set enabled = false ({error})") from error
    (Path(home).expanduser().resolve() / STORE).mkdir(parents=True, exist_ok=True)
    return MlflowClient(tracking_uri=store_uri(home))


def _experiment_id(client, name: str, artifacts: Path) -> str:
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    return client.create_experiment(name, artifact_location=artifacts.as_uri())


def _log_values(client, run_id: str, params: Mapping[str, Any], metrics: Mapping[str, Any]) -> None:
    from mlflow.entities import Metric, Param

    now = int(time.time() * 1000)
    values = []
    for key, value in metrics.items():
        if value is None:
            continue
        steps = list(value) if isinstance(value, (list, tuple)) else [value]
        values += [Metric(key, float(v), now, step) for step, v in enumerate(steps)]
    logged = [Param(key, _text(value)) for key, value in params.items()]
    # MLflow takes at most 100 params and 1000 metrics per batch
    for start in range(0, len(logged), 100):
        client.log_batch(run_id, params=logged[start:start + 100])
    for start in range(0, len(values), 1000):
        client.log_batch(run_id, metrics=values[start:start + 1000])


def _text(value: Any) -> str:
    """A param or tag value as MLflow stores it: text as it is (dates as ISO text), anything else JSON."""
    plain = jsonable(value)
    return plain if isinstance(plain, str) else json.dumps(plain, sort_keys=True)
