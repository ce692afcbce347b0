"""The model-registry rules: plain functions on rows of ``ml.model_registry``.

The rows are dicts or a DataFrame: :func:`registry_row` builds a row,
:func:`decide_champion` applies champion/challenger, :func:`retrain_due` says
whether enough new labels exist to retrain, :func:`current_champion` and
:func:`register` read and update a registry frame; :func:`code_version` names the code.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy.typing as npt
import pandas as pd

from ml.common import canonical_json, check_int
from ml.training.artifacts import FittedModel

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
    # set by the model comparison on the champion it promotes or keeps
    "optimizer",
    "selection",
    # the training recipe beyond the model: the label, normalization, chosen columns' scores
    "label_price",
    "settings",
)
"""Every column of ``ml.model_registry``, in order: a row built by :func:`registry_row` has them
all (``optimizer`` and ``selection`` None until the model comparison records its choice). The
warehouse layer gives each its SQL type (assets/warehouse/registry.py)."""


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
        "optimizer": None,
        "selection": None,
        "label_price": model.settings.get("label_price", "open"),
        "settings": canonical_json(model.settings),
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
    label_price: str = "open",
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
    label_price : {"open", "close"}, default="open"
        The label the candidate was judged on. A champion judged on the other
        label (its row's ``label_price``; missing means ``"open"``) has a
        rank IC that does not compare: the candidate, trained as configured,
        takes over.

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
    champ_label = row.get("label_price") if isinstance(row.get("label_price"), str) else "open"
    if champ_label != label_price and math.isfinite(cand):
        return "champion", (f"champion {champ_id} was judged on the {champ_label} label, the candidate on the "
                            f"{label_price} label (rank IC {cand:.4f}): their rank ICs do not compare")
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
