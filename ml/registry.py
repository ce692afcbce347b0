"""Fitted models, their content-hash ids, artifacts, and the model-registry rules.

A :class:`FittedModel` is one trained estimator plus everything needed to know
what it is: the model type and parameters, the feature list, the training
window, and a fingerprint of the exact rows it was fitted on. Its id is a
content hash of those inputs (:func:`model_id`), so

* the same inputs give the same id (re-running a job is idempotent), and
* appending data never changes the id of a model whose training rows did not
  change (earlier walk-forward fold models keep their ids; point-in-time
  rules 5 and 7 in ``DESIGN.md``).

Artifacts (:meth:`FittedModel.save`) live in one folder per model,
``<folder>/<model_id>/``: LightGBM boosters as LightGBM's own text model
(``model.txt``, readable by any LightGBM version that reads the format),
other models as a joblib pickle (``model.joblib``), each with a JSON sidecar
(``model.json``) holding the metadata, the SHA-256 of the artifact and the
library versions it was written with.

The registry rules are plain functions on rows of ``ml.model_registry``
(dicts or a DataFrame): :func:`registry_row` builds a row,
:func:`decide_champion` applies champion/challenger, :func:`retrain_due` says
whether enough new labels exist to retrain, :func:`current_champion` and
:func:`register` read and update a registry frame.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from ml.common import atomic_write, check_int, canonical_json, jsonable, library_versions

__all__ = [
    "to_model_precision",
    "REGISTRY_COLUMNS",
    "STATUSES",
    "FittedModel",
    "code_version",
    "current_champion",
    "data_fingerprint",
    "decide_champion",
    "fingerprint_from_row_hashes",
    "model_id",
    "model_id_from_fingerprint",
    "register",
    "registry_row",
    "retrain_due",
    "row_hashes",
    "row_hashes_from_arrays",
]

STATUSES: tuple[str, ...] = ("champion", "challenger", "retired", "fold")
"""Allowed values of ``ml.model_registry.status``.

``champion``: the production model of its horizon (at most one); ``challenger``:
a final model that did not beat the champion (the reason says why);
``retired``: a former champion; ``fold``: a walk-forward fold model -- it made
out-of-sample predictions in ``ml.preds`` and serves in the live ``yhat_std``
ensemble, but is never a candidate for champion.
"""

REGISTRY_COLUMNS: tuple[str, ...] = (
    # analyst contract (DESIGN.md)
    "model_id",
    "created_at",
    "model_type",
    "horizon",
    "train_start",
    "train_end",
    "features",
    "params",
    "cv_metrics",
    "status",
    "artifact_path",
    # additions
    "target",
    "as_of",
    "n_train",
    "data_fingerprint",
    "code_version",
    "reason",
)
"""Columns of a row built by :func:`registry_row`, in order."""

# Parameters that change how fast a model is fitted, not what it is: left out of
# the id so the same model gets the same id on a 2-core laptop and a 64-core server.
# (LightGBM is fitted with deterministic=True, so its result does not depend on
# the thread count; random forests can differ in the last bit of a prediction.)
_ID_IGNORED_PARAMS = frozenset({"n_jobs", "num_threads", "verbose", "verbosity"})

_ID_LENGTH = 16
_ROW_HASH_MULTIPLIER = np.uint64(0x100000001B3)  # FNV-1a 64-bit prime
_LIBRARIES = ("numpy", "pandas", "scikit-learn", "lightgbm", "joblib", "scipy")
_ARTIFACT_NAMES = {"lightgbm": "model.txt"}
_DEFAULT_ARTIFACT = "model.joblib"
_SIDECAR = "model.json"
_FORMAT_VERSION = 1


# --------------------------------------------------------------------------- #
# content hashes
# --------------------------------------------------------------------------- #


def to_model_precision(values: npt.ArrayLike) -> np.ndarray:
    """Round values to float32 precision (kept as float64): what every model sees and hashes.

    DuckDB's parallel window aggregates can differ in the last bit of a double from one build
    to the next, even on the same rows. Rounded to float32 (24-bit mantissa) those doubles agree
    unless one straddles a rounding boundary (a chance of about 1e-9 per value), so model ids,
    fits and predictions are reproducible; the lost precision (~1e-7 relative) is far below any
    feature's noise.
    """
    return np.asarray(values, dtype=np.float64).astype(np.float32).astype(np.float64)


def row_hashes(
    frame: pd.DataFrame, features: Sequence[str], label: str = "target"
) -> np.ndarray:
    """One 64-bit hash per row of ``ticker``, ``date``, ``label`` and the features.

    The hash of a row depends only on that row's values (pandas'
    :func:`~pandas.util.hash_array` per column, combined column by column), so
    the hashes of a subset of rows are the subset of the hashes: a training
    window hashes the same whether it is cut from a short or a long panel.

    Values are put in canonical types first -- ticker as ``str``, date as
    int64 nanoseconds, label as float64, features at model precision
    (:func:`to_model_precision`) -- so the same data read
    through DuckDB, CSV or Parquet (``datetime64[us]`` vs ``[ns]``, ``float32``,
    ``string`` dtypes) hashes the same.

    Parameters
    ----------
    frame : DataFrame
        Has ``ticker``, ``date``, ``label`` and every column of ``features``.
    features : sequence of str
        Feature columns, in model order.
    label : str, default="target"
        Name of the training label column.

    Returns
    -------
    ndarray of uint64, shape (len(frame),)
    """
    missing = [c for c in ("ticker", "date", label, *features) if c not in frame.columns]
    if missing:
        raise ValueError(f"columns {missing} not in the training frame; it has {list(frame.columns)}")
    dates = pd.to_datetime(frame["date"])
    if getattr(dates.dt, "tz", None) is not None:
        dates = dates.dt.tz_convert("UTC").dt.tz_localize(None)
    return row_hashes_from_arrays(
        frame["ticker"].astype(str).to_numpy(dtype=object),
        dates.dt.as_unit("ns").to_numpy(),
        frame[label].to_numpy(dtype=np.float64, na_value=np.nan),
        [to_model_precision(frame[f].to_numpy(dtype=np.float64, na_value=np.nan)) for f in features],
    )


def row_hashes_from_arrays(
    ticker: np.ndarray,
    date: np.ndarray,
    label: np.ndarray,
    feature_columns: Sequence[np.ndarray] | np.ndarray,
) -> np.ndarray:
    """:func:`row_hashes` from aligned arrays already in canonical types.

    ``ticker`` an object array of ``str``, ``date`` ``datetime64[ns]``,
    ``label`` float64, ``feature_columns`` float64 columns (a sequence of
    1-D arrays, or a 2-D array whose columns are the features, in order).
    """
    if isinstance(feature_columns, np.ndarray):
        feature_columns = [feature_columns[:, j] for j in range(feature_columns.shape[1])]
    dates = np.asarray(date, dtype="datetime64[ns]").view(np.int64)
    columns = [np.asarray(ticker, dtype=object), dates, np.asarray(label, dtype=np.float64)]
    columns += [np.asarray(c, dtype=np.float64) for c in feature_columns]
    out = np.zeros(len(columns[0]), dtype=np.uint64)
    for values in columns:
        out *= _ROW_HASH_MULTIPLIER  # wraps modulo 2**64
        out ^= pd.util.hash_array(np.ascontiguousarray(values), categorize=values.dtype == object)
    return out


def fingerprint_from_row_hashes(hashes: npt.NDArray[np.uint64]) -> str:
    """SHA-256 (first 16 hex digits) of row hashes, in the given row order."""
    arr = np.ascontiguousarray(np.asarray(hashes, dtype=np.uint64).astype("<u8", copy=False))
    return hashlib.sha256(arr.tobytes()).hexdigest()[:_ID_LENGTH]


def data_fingerprint(frame: pd.DataFrame, features: Sequence[str], label: str = "target") -> str:
    """Fingerprint of a set of training rows, independent of their order.

    Rows are sorted by ``(date, ticker)`` and hashed with :func:`row_hashes`.

    Examples
    --------
    >>> df = pd.DataFrame({"ticker": ["B", "A"], "date": pd.to_datetime(["2024-01-02"] * 2),
    ...                    "target": [0.5, -0.5], "x": [1.0, 2.0]})
    >>> data_fingerprint(df, ["x"]) == data_fingerprint(df.iloc[::-1], ["x"])
    True
    """
    ordered = _sorted_rows(frame)
    return fingerprint_from_row_hashes(row_hashes(ordered, features, label))


def _sorted_rows(frame: pd.DataFrame) -> pd.DataFrame:
    if "date" not in frame.columns or "ticker" not in frame.columns:
        raise ValueError(f"the training frame needs 'ticker' and 'date'; it has {list(frame.columns)}")
    keys = pd.DataFrame(
        {"date": pd.to_datetime(frame["date"]).to_numpy(), "ticker": frame["ticker"].astype(str).to_numpy()}
    )
    order = np.lexsort((keys["ticker"].to_numpy(), keys["date"].to_numpy()))
    return frame.iloc[order]


def _id_params(params: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if k not in _ID_IGNORED_PARAMS}


def model_id_from_fingerprint(
    model_type: str,
    params: Mapping[str, Any],
    features: Sequence[str],
    fingerprint: str,
    settings: Mapping[str, Any] | None = None,
) -> str:
    """:func:`model_id` from an already computed :func:`data_fingerprint`."""
    config = {
        "model_type": model_type,
        "params": _id_params(params),
        "features": list(features),
        "settings": dict(settings or {}),
    }
    digest = hashlib.sha256()
    digest.update(canonical_json(config).encode())
    digest.update(b"\n")
    digest.update(fingerprint.encode())
    return digest.hexdigest()[:_ID_LENGTH]


def model_id(
    model_type: str,
    params: Mapping[str, Any],
    features: Sequence[str],
    train_frame: pd.DataFrame,
    settings: Mapping[str, Any] | None = None,
    label: str = "target",
) -> str:
    """Content hash of a model's inputs: 16 hex digits of SHA-256.

    Hashes a canonical JSON of ``(model_type, params, features, settings)``
    together with :func:`data_fingerprint` of the training rows. Thread-count
    and verbosity parameters (``n_jobs``, ``num_threads``, ``verbose``,
    ``verbosity``) are left out: they do not change the fitted model.

    Parameters
    ----------
    model_type : str
        E.g. ``"lightgbm"``.
    params : mapping
        The resolved model parameters (defaults merged with overrides).
    features : sequence of str
        Feature columns in model order (order matters).
    train_frame : DataFrame
        The rows fitted on: ``ticker``, ``date``, ``label`` and the features,
        any row order.
    settings : mapping, optional
        Other training settings that change the model (target transform,
        horizon, early-stopping window), hashed with the params.
    label : str, default="target"
        Name of the label column in ``train_frame``.

    Returns
    -------
    str
        Same inputs, same id; any change in type, params, features, settings
        or any training value gives a different id.
    """
    return model_id_from_fingerprint(
        model_type, params, features, data_fingerprint(train_frame, features, label), settings
    )


# --------------------------------------------------------------------------- #
# fitted model + artifacts
# --------------------------------------------------------------------------- #


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _timestamp_or_none(value: Any) -> pd.Timestamp | None:
    return None if value is None else pd.Timestamp(value)


@dataclass
class FittedModel:
    """A trained model with its identity and training provenance.

    Attributes
    ----------
    model_id : str
        Content hash of the inputs (:func:`model_id`).
    model_type : str
        Registered type from :mod:`ml.models` (``"lightgbm"``, ``"ridge"``, ...).
    horizon : int
        Label horizon in trading days.
    target : str
        Per-date transform of ``fwd_excess_return`` the model was fitted on
        (``"rank"``, ``"zscore"`` or ``"raw"``); predictions are on that scale.
    params : dict
        Resolved model parameters (:func:`ml.models.default_params` merged with
        the overrides), in the vocabulary of :mod:`ml.models`.
    features : tuple of str
        Feature columns, in the order the estimator expects them.
    train_start, train_end : Timestamp
        First and last ``date`` of the rows fitted on (early-stopping rows
        included).
    as_of : Timestamp
        Every training label was known by this date (``label_end_date <=
        as_of``); a model may only score dates on or after it.
    n_train : int
        Number of rows fitted on (early-stopping rows included).
    data_fingerprint : str
        :func:`data_fingerprint` of those rows.
    estimator : object
        ``lightgbm.Booster`` for ``lightgbm`` (holding exactly the trees it
        predicts with); otherwise the fitted :class:`sklearn.pipeline.Pipeline`.
    settings : dict
        Training settings hashed into the id (target, horizon, early stopping)
        plus outcomes such as ``best_iteration``.
    """

    model_id: str
    model_type: str
    horizon: int
    target: str
    params: dict[str, Any]
    features: tuple[str, ...]
    train_start: pd.Timestamp
    train_end: pd.Timestamp
    as_of: pd.Timestamp
    n_train: int
    data_fingerprint: str
    estimator: Any = field(repr=False)
    settings: dict[str, Any] = field(default_factory=dict)

    # -- prediction -------------------------------------------------------- #

    def predict(self, frame: pd.DataFrame | npt.ArrayLike) -> np.ndarray:
        """Predict from a frame holding the feature columns (or an aligned 2-D array).

        Parameters
        ----------
        frame : DataFrame or array-like of shape (n, n_features)
            A DataFrame is read by column name (extra columns are ignored); an
            array must have the features in :attr:`features` order.

        Returns
        -------
        ndarray of float64, shape (n,)

        Raises
        ------
        ValueError
            If feature columns are missing (they are named) or the array has
            the wrong number of columns.
        """
        if isinstance(frame, pd.DataFrame):
            missing = [f for f in self.features if f not in frame.columns]
            if missing:
                raise ValueError(
                    f"model {self.model_id} needs feature columns {missing} that are not in the frame"
                )
            X = np.column_stack(
                [frame[f].to_numpy(dtype=np.float64, na_value=np.nan) for f in self.features]
            ) if len(self.features) else np.empty((len(frame), 0))
        else:
            X = np.asarray(frame, dtype=np.float64)
            if X.ndim != 2 or X.shape[1] != len(self.features):
                raise ValueError(
                    f"model {self.model_id} expects a 2-D array with {len(self.features)} feature "
                    f"columns, got shape {X.shape}"
                )
        return self.predict_array(X)

    def predict_array(self, X: np.ndarray) -> np.ndarray:
        """Predict from a float64 array whose columns are :attr:`features` (no checks)."""
        X = to_model_precision(X)
        if X.shape[0] == 0:
            return np.empty(0, dtype=np.float64)
        if self.model_type == "lightgbm":
            threads = int(self.params.get("n_jobs") or 1)
            return np.asarray(self.estimator.predict(X, num_threads=max(threads, 1)), dtype=np.float64)
        return np.asarray(self.estimator.predict(X), dtype=np.float64)

    # -- persistence -------------------------------------------------------- #

    def metadata(self) -> dict[str, Any]:
        """Plain-JSON description of the model (the sidecar without artifact fields)."""
        return {
            "model_id": self.model_id,
            "model_type": self.model_type,
            "horizon": int(self.horizon),
            "target": self.target,
            "params": jsonable(self.params),
            "features": list(self.features),
            "train_start": self.train_start.isoformat(),
            "train_end": self.train_end.isoformat(),
            "as_of": self.as_of.isoformat(),
            "n_train": int(self.n_train),
            "data_fingerprint": self.data_fingerprint,
            "settings": jsonable(self.settings),
        }

    def save(self, folder: str | os.PathLike[str]) -> Path:
        """Write the model to ``<folder>/<model_id>/`` and return that directory.

        LightGBM models are written with ``Booster.save_model`` (text format);
        other models with :func:`joblib.dump`. A ``model.json`` sidecar holds
        :meth:`metadata`, the artifact's file name and SHA-256, and the
        library versions of this process. Files are written atomically, and
        saving the same model again rewrites identical content (idempotent).
        """
        import joblib

        target_dir = Path(folder) / self.model_id
        target_dir.mkdir(parents=True, exist_ok=True)
        artifact = target_dir / _ARTIFACT_NAMES.get(self.model_type, _DEFAULT_ARTIFACT)
        if self.model_type == "lightgbm":
            payload = self.estimator.model_to_string(num_iteration=-1).encode()
            atomic_write(artifact, payload)
        else:
            buffer = io.BytesIO()
            joblib.dump(self.estimator, buffer)
            atomic_write(artifact, buffer.getvalue())
        sidecar = {
            **self.metadata(),
            "format_version": _FORMAT_VERSION,
            "artifact": artifact.name,
            "artifact_format": "lightgbm-text" if self.model_type == "lightgbm" else "joblib",
            "artifact_sha256": _sha256_file(artifact),
            "library_versions": library_versions(),
        }
        atomic_write(
            target_dir / _SIDECAR, (json.dumps(sidecar, indent=2, sort_keys=True) + "\n").encode()
        )
        return target_dir

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> FittedModel:
        """Load a model written by :meth:`save` (its directory or its ``model.json``).

        Raises
        ------
        FileNotFoundError
            If the sidecar or the artifact is missing.
        ValueError
            If the artifact's SHA-256 does not match the sidecar (a corrupted
            or replaced file).
        """
        path = Path(path)
        sidecar_path = path if path.is_file() else path / _SIDECAR
        if not sidecar_path.is_file():
            raise FileNotFoundError(f"no model sidecar at {sidecar_path}")
        meta = json.loads(sidecar_path.read_text())
        artifact = sidecar_path.parent / meta["artifact"]
        if not artifact.is_file():
            raise FileNotFoundError(f"model artifact {artifact} is missing")
        digest = _sha256_file(artifact)
        if digest != meta["artifact_sha256"]:
            raise ValueError(
                f"artifact {artifact} has SHA-256 {digest[:12]}..., the sidecar records "
                f"{meta['artifact_sha256'][:12]}...: the file was changed after it was saved"
            )
        if meta["model_type"] == "lightgbm":
            import lightgbm as lgb

            estimator: Any = lgb.Booster(model_file=str(artifact))
        else:
            import joblib

            estimator = joblib.load(artifact)
        return cls(
            model_id=meta["model_id"],
            model_type=meta["model_type"],
            horizon=int(meta["horizon"]),
            target=meta["target"],
            params=dict(meta["params"]),
            features=tuple(meta["features"]),
            train_start=pd.Timestamp(meta["train_start"]),
            train_end=pd.Timestamp(meta["train_end"]),
            as_of=pd.Timestamp(meta["as_of"]),
            n_train=int(meta["n_train"]),
            data_fingerprint=meta["data_fingerprint"],
            estimator=estimator,
            settings=dict(meta.get("settings", {})),
        )


# --------------------------------------------------------------------------- #
# registry rows and rules
# --------------------------------------------------------------------------- #


def code_version(repo_dir: str | os.PathLike[str] | None = None) -> str:
    """Version of the code that trains: ``git describe --always --dirty``, else the package version.

    Returns the short commit (``-dirty`` when the tree has uncommitted
    changes) of the repository at ``repo_dir`` (default: the one holding this
    file); outside a git checkout, ``tradepipe <installed version>``.
    """
    where = Path(repo_dir) if repo_dir is not None else Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=12"],
            cwd=where,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        try:
            return f"tradepipe {metadata.version('tradepipe')}"
        except metadata.PackageNotFoundError:
            return "tradepipe (no git, not installed)"


def registry_row(
    model: FittedModel,
    status: str,
    cv_metrics: Mapping[str, Any],
    artifact_path: str | os.PathLike[str],
    code_version: str,
    reason: str = "",
    created_at: pd.Timestamp | None = None,
) -> dict[str, Any]:
    """One ``ml.model_registry`` row for a model (columns :data:`REGISTRY_COLUMNS`).

    ``features``, ``params`` and ``cv_metrics`` are canonical JSON strings
    (sorted keys; NaN written as the string ``"nan"``), so the row stores in
    any SQL table and compares equal when rebuilt from the same inputs.
    ``created_at`` defaults to now (UTC, timezone-naive); :func:`register`
    keeps the first ``created_at`` of a model that is registered again.

    Raises
    ------
    ValueError
        For a status not in :data:`STATUSES`.
    """
    if status not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}, got {status!r}")
    created = (
        pd.Timestamp.now(tz="UTC").tz_localize(None) if created_at is None else pd.Timestamp(created_at)
    )
    return {
        "model_id": model.model_id,
        "created_at": created,
        "model_type": model.model_type,
        "horizon": int(model.horizon),
        "train_start": model.train_start,
        "train_end": model.train_end,
        "features": canonical_json(list(model.features)),
        "params": canonical_json(model.params),
        "cv_metrics": canonical_json(dict(cv_metrics)),
        "status": status,
        "artifact_path": str(artifact_path),
        "target": model.target,
        "as_of": model.as_of,
        "n_train": int(model.n_train),
        "data_fingerprint": model.data_fingerprint,
        "code_version": code_version,
        "reason": reason,
    }


def _row_dict(row: Mapping[str, Any] | pd.Series) -> dict[str, Any]:
    return dict(row.items()) if isinstance(row, pd.Series) else dict(row)


def _champion_rank_ic(champion: Mapping[str, Any]) -> float:
    metrics = champion.get("cv_metrics")
    if isinstance(metrics, str):
        metrics = json.loads(metrics) if metrics else {}
    if not isinstance(metrics, Mapping):
        return float("nan")
    try:
        return float(metrics.get("rank_ic", float("nan")))
    except (TypeError, ValueError):
        return float("nan")


def decide_champion(
    candidate_rank_ic: float,
    champion: Mapping[str, Any] | pd.Series | None,
    tolerance: float = 0.005,
) -> tuple[str, str]:
    """Champion/challenger: may the candidate replace the current champion?

    The candidate becomes champion when its walk-forward mean rank IC is not
    worse than the champion's by more than ``tolerance``
    (``candidate >= champion - tolerance``); otherwise it stays challenger.
    The champion's rank IC is ``cv_metrics["rank_ic"]`` of its registry row
    (a dict or a JSON string).

    Parameters
    ----------
    candidate_rank_ic : float
        Mean daily rank IC of the candidate's walk-forward OOS predictions.
    champion : mapping, Series or None
        The current champion's registry row; ``None`` if there is none.
    tolerance : float, default=0.005
        How much worse (in rank IC) a candidate may be and still be promoted;
        e.g. so a retrain on newer data replaces a model whose older CV
        looked marginally better. ``>= 0``.

    Returns
    -------
    status : {"champion", "challenger"}
    reason : str
        Why, with both numbers.

    Raises
    ------
    ValueError
        For a negative or non-finite tolerance.

    Examples
    --------
    >>> decide_champion(0.030, {"model_id": "abc", "cv_metrics": '{"rank_ic": 0.032}'})
    ('champion', 'rank IC 0.0300 >= champion abc rank IC 0.0320 - tolerance 0.0050')
    >>> decide_champion(0.020, {"model_id": "abc", "cv_metrics": {"rank_ic": 0.032}})[0]
    'challenger'
    """
    if not math.isfinite(tolerance) or tolerance < 0:
        raise ValueError(f"tolerance must be a finite number >= 0, got {tolerance!r}")
    cand = float(candidate_rank_ic)
    if champion is None:
        if not math.isfinite(cand):
            return "challenger", "no current champion, but the candidate has no walk-forward rank IC"
        return "champion", f"no current champion (candidate rank IC {cand:.4f})"
    row = _row_dict(champion)
    champ_id = row.get("model_id", "?")
    champ = _champion_rank_ic(row)
    if not math.isfinite(cand):
        return "challenger", f"candidate has no walk-forward rank IC; champion {champ_id} kept"
    if not math.isfinite(champ):
        return "champion", f"champion {champ_id} has no recorded rank IC (candidate {cand:.4f})"
    if cand >= champ - tolerance:
        return (
            "champion",
            f"rank IC {cand:.4f} >= champion {champ_id} rank IC {champ:.4f} - tolerance {tolerance:.4f}",
        )
    return (
        "challenger",
        f"rank IC {cand:.4f} < champion {champ_id} rank IC {champ:.4f} - tolerance {tolerance:.4f}",
    )


def retrain_due(
    champion: Mapping[str, Any] | pd.Series | None,
    label_end_dates: npt.ArrayLike,
    min_new_rows: int = 10_000,
    force: bool = False,
) -> tuple[bool, str]:
    """Retrain-if-needed: are there at least ``min_new_rows`` labels the champion never saw?

    A row counts as new when its label is known (``label_end_date`` not
    missing) and became known after the champion's training cutoff: its
    ``as_of`` column, or ``train_end`` for rows without one (every label the
    champion trained on ended on or before it).

    Parameters
    ----------
    champion : mapping, Series or None
        The current champion's registry row; ``None`` means retrain.
    label_end_dates : array-like of dates
        ``label_end_date`` of every row of the training panel (one horizon).
    min_new_rows : int, default=10_000
        Rows of new labels needed (10,000 is about 20 trading days of 500
        names). ``>= 1``.
    force : bool, default=False
        Retrain regardless.

    Returns
    -------
    due : bool
    reason : str
        With the count and the cutoff.

    Examples
    --------
    >>> ends = pd.to_datetime(["2024-01-05", "2024-01-08", "2024-01-09"])
    >>> retrain_due({"as_of": pd.Timestamp("2024-01-05")}, ends, min_new_rows=2)
    (True, '2 new labelled rows after 2024-01-05 (need 2)')
    >>> retrain_due({"as_of": pd.Timestamp("2024-01-08")}, ends, min_new_rows=2)[0]
    False
    """
    check_int("min_new_rows", min_new_rows, 1)
    if force:
        return True, "forced"
    if champion is None:
        return True, "no champion yet"
    row = _row_dict(champion)
    cutoff_value = row.get("as_of")
    if cutoff_value is None or pd.isna(cutoff_value):
        cutoff_value = row.get("train_end")
    if cutoff_value is None or pd.isna(cutoff_value):
        raise ValueError(
            f"champion row {row.get('model_id', '?')} has neither 'as_of' nor 'train_end'"
        )
    cutoff = pd.Timestamp(cutoff_value)
    ends = pd.DatetimeIndex(pd.to_datetime(pd.Index(label_end_dates)))
    n_new = int(((~ends.isna()) & (ends > cutoff)).sum())
    verdict = n_new >= min_new_rows
    return verdict, f"{n_new} new labelled rows after {cutoff.date()} (need {min_new_rows})"


def current_champion(registry: pd.DataFrame, horizon: int) -> dict[str, Any] | None:
    """The champion row for ``horizon`` in a registry frame, or ``None``.

    Raises
    ------
    ValueError
        If the registry holds more than one champion for the horizon.
    """
    if registry is None or len(registry) == 0:
        return None
    rows = registry[(registry["status"] == "champion") & (registry["horizon"] == horizon)]
    if len(rows) > 1:
        raise ValueError(
            f"registry has {len(rows)} champions for horizon {horizon}: {rows['model_id'].tolist()}"
        )
    return None if rows.empty else _row_dict(rows.iloc[0])


def register(registry: pd.DataFrame | None, row: Mapping[str, Any]) -> pd.DataFrame:
    """Return the registry with ``row`` inserted or updated (by ``model_id``).

    * A model already present keeps its first ``created_at`` (re-running a job
      does not change the registry: idempotent).
    * A new champion retires the previous champion of the same horizon
      (``status="retired"``, reason naming the successor).
    * Columns beyond :data:`REGISTRY_COLUMNS` (of the registry or of ``row``)
      are kept; rows without them get NA.

    The input frame is not modified.
    """
    new = dict(row)
    if new.get("status") not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}, got {new.get('status')!r}")
    # extra columns (e.g. a champion's optimizer) survive rows that do not carry them
    previous = () if registry is None else tuple(registry.columns)
    columns = list(dict.fromkeys([*REGISTRY_COLUMNS, *previous, *new]))
    frame = (
        pd.DataFrame(columns=columns)
        if registry is None or len(registry) == 0
        else registry.copy()
    )
    existing = frame.index[frame["model_id"] == new["model_id"]]
    if len(existing):
        new["created_at"] = frame.loc[existing[0], "created_at"]
        frame = frame.drop(index=existing)
    if new["status"] == "champion":
        old = (frame["status"] == "champion") & (frame["horizon"] == new["horizon"])
        frame.loc[old, "status"] = "retired"
        frame.loc[old, "reason"] = f"replaced by {new['model_id']}"
    out = pd.concat([frame, pd.DataFrame([new])], ignore_index=True) if len(frame) else pd.DataFrame([new])
    return out[[c for c in columns if c in out.columns]].reset_index(drop=True)
