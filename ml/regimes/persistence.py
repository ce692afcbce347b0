"""Saving and loading a fitted :class:`~ml.regimes.RegimeDetector` (an ``.npz`` archive, no pickle).

Mixed into :class:`~ml.regimes.RegimeDetector`; not used on its own.
"""

from __future__ import annotations

import json
import os
import warnings
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from hmmlearn.hmm import GaussianHMM

from ml.common import library_versions

if TYPE_CHECKING:  # annotation only: detector.py imports this mixin
    from ml.regimes.detector import RegimeDetector


#: Version of the file layout written by :meth:`RegimeDetector.save`.
FORMAT_VERSION = 1


class _RegimePersistence:
    """:meth:`save` and :meth:`load` of :class:`~ml.regimes.RegimeDetector` (a mixin)."""

    # ----------------------------------------------------------------- persistence

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the fitted model to ``path`` as an ``.npz`` archive (no pickle).

        The archive holds the parameter arrays bit for bit and a JSON header with
        ``format_version``, the library versions, the constructor parameters and the
        fitted metadata, so :meth:`load` reproduces the filtered probabilities exactly.

        Parameters
        ----------
        path : str or PathLike
            Target file; written as given (no suffix is added).
        """
        self._check_fitted()
        header = {
            "format_version": FORMAT_VERSION,
            "library_versions": library_versions(),
            "params": self._config_dict() | {"features": self.features},
            "features_": list(self.features_),
            "risk_feature_": self.risk_feature_,
            "labels_": list(self.labels_),
            "state_order_": [int(i) for i in self.state_order_],
            "train_start_": self.train_start_.isoformat(),
            "train_end_": self.train_end_.isoformat(),
            "n_train_": int(self.n_train_),
            "model_id_": self.model_id_,
            "diagnostics_": self.diagnostics_,
        }
        with open(path, "wb") as handle:
            np.savez(
                handle,
                header=np.array(json.dumps(header)),
                mean=self.mean_,
                scale=self.scale_,
                startprob=self.hmm_.startprob_,
                transmat=self.hmm_.transmat_,
                means=self.hmm_.means_,
                covars=self.hmm_._covars_,
            )

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> RegimeDetector:
        """Read a model written by :meth:`save`.

        Parameters
        ----------
        path : str or PathLike
            File written by :meth:`save`. Read without pickle (``allow_pickle=False``).

        Returns
        -------
        RegimeDetector
            A fitted detector whose filtered probabilities equal the saved one's
            bit for bit (same library versions; a different hmmlearn version warns).

        Raises
        ------
        ValueError
            If the file's ``format_version`` is not one this code reads.
        """
        with np.load(path, allow_pickle=False) as archive:
            header = json.loads(str(archive["header"][()]))
            arrays = {name: archive[name] for name in archive.files if name != "header"}
        version = header.get("format_version")
        if version != FORMAT_VERSION:
            raise ValueError(
                f"{os.fspath(path)!r} has format_version {version!r}; this code reads "
                f"format_version {FORMAT_VERSION}"
            )
        saved = header["library_versions"]
        current = library_versions()
        if saved.get("hmmlearn") != current["hmmlearn"]:
            warnings.warn(
                f"{os.fspath(path)!r} was saved with hmmlearn {saved.get('hmmlearn')}, "
                f"running {current['hmmlearn']}; probabilities may differ slightly",
                stacklevel=2,
            )
        params = header["params"]
        detector = cls(**params)
        n_states = int(params["n_states"])
        model = GaussianHMM(
            n_components=n_states,
            covariance_type=params["covariance_type"],
            n_iter=int(params["n_iter"]),
            tol=float(params["tol"]),
            random_state=int(params["random_state"]),
        )
        model.n_features = len(header["features_"])
        model.startprob_ = arrays["startprob"]
        model.transmat_ = arrays["transmat"]
        model.means_ = arrays["means"]
        model.covars_ = arrays["covars"]
        detector.features_ = list(header["features_"])
        detector.risk_feature_ = header["risk_feature_"]
        detector.labels_ = list(header["labels_"])
        detector.mean_ = arrays["mean"]
        detector.scale_ = arrays["scale"]
        detector.hmm_ = model
        detector.state_order_ = np.asarray(header["state_order_"], dtype=np.intp)
        detector.train_start_ = pd.Timestamp(header["train_start_"])
        detector.train_end_ = pd.Timestamp(header["train_end_"])
        detector.n_train_ = int(header["n_train_"])
        detector.diagnostics_ = header["diagnostics_"]
        detector.model_id_ = header["model_id_"]
        return detector
