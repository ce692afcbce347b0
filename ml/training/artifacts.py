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
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from ml.common import atomic_write, jsonable, library_versions
from ml.training.hashing import to_model_precision
from ml.training.normalize import normalize_by_date

_ARTIFACT_NAMES = {"lightgbm": "model.txt"}


_DEFAULT_ARTIFACT = "model.joblib"


_SIDECAR = "model.json"


_FORMAT_VERSION = 1


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
        Registered type from :mod:`ml.training.models` (``"lightgbm"``, ``"ridge"``, ...).
    horizon : int
        Label horizon in trading days.
    target : str
        Per-date transform of ``fwd_excess_return`` the model was fitted on
        (``"rank"``, ``"zscore"`` or ``"raw"``); predictions are on that scale.
    params : dict
        Resolved model parameters (:func:`ml.training.default_params` merged with
        the overrides), in the vocabulary of :mod:`ml.training.models`.
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
        return self.predict_array(self.matrix(frame))

    def matrix(self, frame: pd.DataFrame | npt.ArrayLike) -> np.ndarray:
        """The float64 array of :attr:`features` that :meth:`predict` reads from ``frame`` (before
        :func:`to_model_precision`); the errors of :meth:`predict`."""
        if isinstance(frame, pd.DataFrame):
            missing = [f for f in self.features if f not in frame.columns]
            if missing:
                raise ValueError(
                    f"model {self.model_id} needs feature columns {missing} that are not in the frame"
                )
            return np.column_stack(
                [frame[f].to_numpy(dtype=np.float64, na_value=np.nan) for f in self.features]
            ) if len(self.features) else np.empty((len(frame), 0))
        X = np.asarray(frame, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != len(self.features):
            raise ValueError(
                f"model {self.model_id} expects a 2-D array with {len(self.features)} feature "
                f"columns, got shape {X.shape}"
            )
        return X

    def day_matrix(self, frame: pd.DataFrame) -> np.ndarray:
        """:meth:`matrix` of one date's scored rows, each feature normalized across those rows
        as the model's training rows were (``settings["normalize"]``, :mod:`ml.training.normalize`)."""
        X = self.matrix(frame)
        method = self.settings.get("normalize", "none")
        if method == "none" or X.shape[0] == 0:
            return X
        dates = pd.to_datetime(frame["date"]).to_numpy(dtype="datetime64[ns]")
        if (dates != dates[0]).any():
            raise ValueError(f"model {self.model_id} normalizes its features per date: pass one date's rows")
        return normalize_by_date(X, dates, method)

    def predict_array(self, X: np.ndarray) -> np.ndarray:
        """Predict from a float64 array whose columns are :attr:`features` (no checks)."""
        X = to_model_precision(X)
        if X.shape[0] == 0:
            return np.empty(0, dtype=np.float64)
        if self.model_type == "lightgbm":
            return np.asarray(self.estimator.predict(X, num_threads=self._threads()), dtype=np.float64)
        from ml.parallel import fit_thread_limits

        with fit_thread_limits():
            return np.asarray(self.estimator.predict(X), dtype=np.float64)

    def contributions(self, frame: pd.DataFrame | npt.ArrayLike) -> np.ndarray:
        """LightGBM's SHAP values (TreeSHAP, ``Booster.predict(X, pred_contrib=True)``) of the
        predictions :meth:`predict` makes from ``frame``: the same features at the same precision.

        Returns
        -------
        ndarray of float64, shape (n, n_features + 1)
            One column per feature in :attr:`features` order, then the expected value (the
            bias, the same for every row); each row sums to the prediction (to float rounding).

        Raises
        ------
        ValueError
            If the model is not LightGBM (no other type has exact per-prediction
            contributions here), or the errors of :meth:`predict`.
        """
        if self.model_type != "lightgbm":
            raise ValueError(f"model {self.model_id} is {self.model_type}: feature contributions "
                             f"(pred_contrib) are computed for LightGBM models only")
        X = to_model_precision(self.matrix(frame))
        if X.shape[0] == 0:
            return np.empty((0, len(self.features) + 1), dtype=np.float64)
        out = self.estimator.predict(X, pred_contrib=True, num_threads=self._threads())
        return np.asarray(out, dtype=np.float64).reshape(X.shape[0], len(self.features) + 1)

    def _threads(self) -> int:
        # this machine's policy, not the n_jobs of the machine the model was fitted on
        from ml.parallel import fit_threads

        return fit_threads()

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
