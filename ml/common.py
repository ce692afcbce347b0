"""Small helpers every stage shares: one integer check, one JSON cleaner, one atomic write.

Each helper exists once so its behaviour is the same everywhere:

* :func:`check_int` -- validate an integer parameter (bools and floats rejected);
* :func:`jsonable` -- plain JSON types with one NaN policy (NaN, +-inf, NaT, NA -> ``None``);
* :func:`canonical_json` -- deterministic compact JSON of :func:`jsonable` (hashed into ids);
* :func:`atomic_write` -- write a file via a temp file and ``os.replace`` (no torn files);
* :func:`rounded` -- a float at the precision people read (metadata, reports);
* :func:`library_versions` -- the versions of the numeric libraries a saved model depends on;
* :class:`Grid` -- long (date, ticker) rows laid on a sorted date x ticker grid, keys factorized once.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import platform
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from numbers import Integral
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["LIBRARIES", "Grid", "atomic_write", "canonical_json", "check_int", "iso", "jsonable",
           "library_versions", "rounded"]

#: Libraries whose numerics a saved model (LightGBM/sklearn artifact, HMM) depends on.
LIBRARIES: tuple[str, ...] = (
    "numpy", "pandas", "scipy", "scikit-learn", "lightgbm", "joblib", "hmmlearn",
)


def check_int(name: str, value: Any, minimum: int = 0) -> int:
    """Return ``value`` as ``int`` if it is an integer ``>= minimum``, else raise.

    Bools are rejected (``True`` is not a count); numpy integers are accepted.

    Raises
    ------
    TypeError
        If ``value`` is not an integer: ``"n_iter must be an integer, got 2.5 (float)"``.
    ValueError
        If ``value < minimum``: ``"n_iter must be >= 1, got n_iter=0"``.

    Examples
    --------
    >>> check_int("n_iter", 3, minimum=1)
    3
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {name}={value}")
    return int(value)


def rounded(value: float, significant: int = 4, min_decimals: int = 2) -> float:
    """``value`` to ``significant`` significant digits, but never fewer than ``min_decimals``
    decimals: what people read, without the noise of binary floats.

    NaN and +-inf are returned unchanged.

    Examples
    --------
    >>> rounded(0.49964101999999994), rounded(0.00123456), rounded(136.234), rounded(1234567.891)
    (0.4996, 0.001235, 136.23, 1234567.89)
    """
    value = float(value)
    if not math.isfinite(value) or value == 0:
        return value
    digits = significant - 1 - math.floor(math.log10(abs(value)))
    return round(value, max(min_decimals, digits))


def iso(value: Any) -> Any:
    """A date/time as ISO text: ``YYYY-MM-DD`` at naive midnight, full ISO otherwise.

    ``None`` and ``NaT`` give ``None``; anything that is not a date is returned unchanged.
    """
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, (pd.Timestamp, dt.datetime)):
        ts = pd.Timestamp(value)
        if ts.tzinfo is None and ts == ts.normalize():
            return ts.strftime("%Y-%m-%d")
        return ts.isoformat()
    if isinstance(value, (dt.date, np.datetime64)):
        return iso(pd.Timestamp(value))
    return value


def jsonable(value: Any, where: str = "value") -> Any:
    """``value`` as plain JSON types (str, int, float, bool, None, list, dict).

    The one NaN policy: NaN, +-inf, ``None``, ``NaT`` and ``NA`` become ``None`` (JSON
    ``null``), so ``json.dumps(..., allow_nan=False)`` always succeeds. numpy scalars become
    Python scalars, dates and timestamps ISO strings (:func:`iso`, also for mapping keys),
    tuples/arrays/Series/Index lists, DataFrames lists of records, paths strings.

    Raises
    ------
    ValueError
        For any other type, naming where in ``value`` it sits (``where`` is the root's name).

    Examples
    --------
    >>> jsonable({"a": float("nan"), "b": np.int64(2), "d": pd.Timestamp("2024-01-05")})
    {'a': None, 'b': 2, 'd': '2024-01-05'}
    """
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        return value
    if isinstance(value, (pd.Timestamp, dt.date, np.datetime64)):
        return iso(value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {str(iso(k)): jsonable(v, f"{where}[{k!r}]") for k, v in value.items()}
    if isinstance(value, pd.DataFrame):
        return jsonable(value.to_dict(orient="records"), where)
    if isinstance(value, (list, tuple, np.ndarray, pd.Index, pd.Series)):
        return [jsonable(v, f"{where}[{i}]") for i, v in enumerate(list(value))]
    raise ValueError(f"{where} is not JSON-serialisable: {type(value).__name__} {value!r}")


def canonical_json(value: Any) -> str:
    """Deterministic JSON of :func:`jsonable`: sorted keys, no whitespace (hashed into ids)."""
    return json.dumps(jsonable(value), sort_keys=True, separators=(",", ":"), allow_nan=False)


def atomic_write(path: str | os.PathLike[str], content: bytes) -> Path:
    """Write ``content`` to a unique temp file next to ``path``, fsync, then ``os.replace``.

    A reader sees the old file or the new one, never a half-written one; on any error the
    temp file is removed and the old file is left as it was.

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    temp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # umask applies
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return path


def library_versions() -> dict[str, str]:
    """Python's and :data:`LIBRARIES`' versions (``"not installed"`` for a missing one)."""
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


@dataclass(frozen=True)
class Grid:
    """Long rows keyed by (``index``, ``columns``) laid on a grid sorted both ways.

    The keys are factorized once (a ``DataFrame.pivot`` factorizes them on every call): build the
    grid with :meth:`of`, take as many wide frames as needed with :meth:`wide`, and read a wide
    result back at every row's cell with :meth:`at`.

    >>> g = Grid.of(pd.DataFrame({"date": [2, 1, 1], "ticker": ["b", "b", "a"], "x": [3.0, 2.0, 1.0]}))
    >>> g.wide("x").to_numpy().tolist()
    [[1.0, 2.0], [nan, 3.0]]
    >>> g.at(g.wide("x").to_numpy() * 10).tolist()
    [30.0, 20.0, 10.0]
    """

    frame: pd.DataFrame
    rows: np.ndarray      # the grid row of each long row
    cols: np.ndarray      # the grid column of each long row
    index: pd.Index
    columns: pd.Index

    @classmethod
    def of(cls, frame: pd.DataFrame, index: str = "date", columns: str = "ticker") -> Grid:
        """The grid of ``frame``; a row without a key, or a (``index``, ``columns``) key on two rows,
        is an error naming it."""
        rows, index_values = pd.factorize(frame[index], sort=True)
        cols, column_values = pd.factorize(frame[columns], sort=True)
        for name, codes in ((index, rows), (columns, cols)):
            if (codes < 0).any():  # factorize codes a missing key -1, which would index the last cell
                raise ValueError(f"{int((codes < 0).sum())} rows without a {name}: every row needs its key")
        key = rows.astype(np.int64) * max(1, len(column_values)) + cols
        seen = np.bincount(key, minlength=len(index_values) * len(column_values))
        if (seen > 1).any():
            first = int(np.flatnonzero(seen[key] > 1)[0])
            raise ValueError(f"duplicate ({index}, {columns}) rows, e.g. "
                             f"({frame[index].iloc[first]}, {frame[columns].iloc[first]})")
        return cls(frame, rows, cols, pd.Index(index_values, name=index), pd.Index(column_values, name=columns))

    def wide(self, values: str | np.ndarray | pd.Series) -> pd.DataFrame:
        """A column (by name, or values in the rows' order) as an index x columns frame of floats
        (NaN where no row)."""
        out = np.full((len(self.index), len(self.columns)), np.nan)
        out[self.rows, self.cols] = (self.frame[values] if isinstance(values, str) else
                                     np.asarray(values)).astype(float)
        return pd.DataFrame(out, index=self.index, columns=self.columns)

    def at(self, wide: np.ndarray) -> np.ndarray:
        """The value of a grid-shaped array at each long row's cell, in the rows' order."""
        return np.asarray(wide)[self.rows, self.cols]
