"""ml.model_registry (its schema declared here, once) and ml.cv_folds.

Model artifacts live under ``$TRADEPIPE_HOME/models``; the registry stores their paths relative
to the home, so a copied or restored home reads its own models and never another home's.
"""

from pathlib import Path, PurePosixPath
from typing import Any

import duckdb
import pandas as pd

from assets.warehouse.connection import conform, frame, replace_rows, table_exists, typed_select
from ml.training import registry as rules

REGISTRY = "ml.model_registry"

# The SQL type of every column of ml.model_registry (the columns and their order are
# ml.training.REGISTRY_COLUMNS: the analyst contract first, then the additions).
_TYPES: dict[str, str] = {
    "model_id": "varchar primary key",
    "created_at": "timestamp",
    "model_type": "varchar",
    "horizon": "integer",
    "train_start": "date",
    "train_end": "date",
    "features": "json",           # list of feature names
    "params": "json",             # object: the model's parameters
    "cv_metrics": "json",         # object: the walk-forward CV summary
    "status": "varchar",          # champion, challenger, retired, fold
    "artifact_path": "varchar",   # relative to $TRADEPIPE_HOME
    "target": "varchar",
    "as_of": "date",
    "n_train": "bigint",
    "data_fingerprint": "varchar",
    "code_version": "varchar",
    "reason": "varchar",
    "optimizer": "varchar",       # the optimizer the model comparison chose with the champion
    "selection": "json",          # record of that choice
    "label_price": "varchar",     # the label fitted on: open (fwd_return) or close (fwd_return_close)
    "settings": "json",           # training settings: target, normalization, chosen features' scores, ...
}
REGISTRY_COLUMNS = rules.REGISTRY_COLUMNS
if set(_TYPES) != set(REGISTRY_COLUMNS):
    raise ImportError(f"ml.model_registry types {sorted(_TYPES)} do not match its columns {REGISTRY_COLUMNS}")
REGISTRY_SCHEMA = {name: _TYPES[name] for name in REGISTRY_COLUMNS}
_COLUMN_TYPES = {name: kind.replace(" primary key", "") for name, kind in REGISTRY_SCHEMA.items()}


def _ensure(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema if not exists ml")
    columns = ", ".join(f"{name} {kind}" for name, kind in REGISTRY_SCHEMA.items())
    con.execute(f"create table if not exists {REGISTRY} ({columns})")
    present = {c for (c,) in con.execute("select column_name from information_schema.columns "
                                         "where table_schema = 'ml' and table_name = 'model_registry'").fetchall()}
    for name, kind in _COLUMN_TYPES.items():  # a warehouse from an older version: add what it lacks
        if name not in present:
            con.execute(f"alter table {REGISTRY} add column {name} {kind}")
    conform(con, REGISTRY, _COLUMN_TYPES)  # ... and give its columns today's types (dates, JSON)


def load(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """The whole registry (an empty frame with every column when there is none yet)."""
    if not table_exists(con, REGISTRY):
        return pd.DataFrame(columns=list(REGISTRY_COLUMNS))
    return frame(con, f"select * from {REGISTRY} order by created_at, model_id")


def write(con: duckdb.DuckDBPyConnection, registry: pd.DataFrame) -> None:
    """Replace the registry with ``registry`` (inside the caller's transaction)."""
    unknown = sorted(set(registry.columns) - set(REGISTRY_COLUMNS))
    if unknown:
        raise ValueError(f"columns {unknown} are not in the ml.model_registry schema ({', '.join(REGISTRY_COLUMNS)})")
    _ensure(con)
    con.execute(f"delete from {REGISTRY}")
    con.register("_rows", registry)
    try:
        con.execute(f"insert into {REGISTRY} by name {typed_select(REGISTRY, registry, _COLUMN_TYPES)}")
    finally:
        con.unregister("_rows")


def champion(con: duckdb.DuckDBPyConnection, horizon: int) -> dict[str, Any] | None:
    """The champion row of ``horizon``, or None."""
    return rules.current_champion(load(con), horizon)


def label_price(row: dict[str, Any] | None) -> str:
    """The label a registry row's model was fitted on ('open' for rows from before the column)."""
    value = None if row is None else row.get("label_price")
    return value if isinstance(value, str) and value else "open"


def champion_optimizer(con: duckdb.DuckDBPyConnection, horizon: int) -> str | None:
    """The optimizer the model comparison recorded with the champion of ``horizon`` (None if none)."""
    row = champion(con, horizon)
    value = None if row is None else row.get("optimizer")
    return value if isinstance(value, str) and value else None


def model(con: duckdb.DuckDBPyConnection, model_id: str) -> dict[str, Any] | None:
    if not table_exists(con, REGISTRY):
        return None
    rows = frame(con, f"select * from {REGISTRY} where model_id = ?", [model_id])
    return None if rows.empty else rows.iloc[0].to_dict()


def champion_mean_rank_ic(con: duckdb.DuckDBPyConnection, horizon: int) -> float | None:
    """Mean fold rank IC of the champion of ``horizon`` (None when there is none)."""
    row = champion(con, horizon)
    if row is None or not table_exists(con, "ml.cv_folds"):
        return None
    return con.execute("select avg(rank_ic) from ml.cv_folds where model_id = ?", [row["model_id"]]).fetchone()[0]


# --- ml.cv_folds ---------------------------------------------------------------------------


def write_folds(con: duckdb.DuckDBPyConnection, model_id: str, folds: pd.DataFrame) -> None:
    """Replace the folds of the walk-forward behind ``model_id`` (inside the caller's transaction)."""
    replace_rows(con, "ml.cv_folds", folds.assign(model_id=model_id), "model_id = ?", [model_id])


def fold_ladder(con: duckdb.DuckDBPyConnection, model_id: str) -> pd.DataFrame:
    """The fold models of the walk-forward behind ``model_id`` with the date each is in force from."""
    return frame(con, "select fold_model_id as model_id, test_start as in_force_from from ml.cv_folds "
                      "where model_id = ? order by test_start", [model_id])


def leaking_folds(con: duckdb.DuckDBPyConnection, model_id: str) -> int:
    """Folds of ``model_id`` whose training dates or labels reach into their test window."""
    return int(con.execute("select count(*) from ml.cv_folds where model_id = ? and "
                           "(train_end >= test_start or max_train_label_end >= test_start)",
                           [model_id]).fetchone()[0])


# --- artifacts -----------------------------------------------------------------------------


def relative_artifact(home: Path, path: Path) -> str:
    """``path`` as stored in the registry: relative to the home (POSIX separators)."""
    return PurePosixPath(Path(path).resolve().relative_to(home.resolve())).as_posix()


def artifact(home: Path, stored: str) -> Path:
    """The artifact a registry path names, inside ``home``. Paths written by older versions are
    absolute: they are read from this home's models folder, never from where they pointed."""
    path = Path(stored)
    if not path.is_absolute():
        return home / path
    parts = path.parts
    if "models" in parts:
        return home.joinpath(*parts[len(parts) - 1 - parts[::-1].index("models"):])
    raise ValueError(f"registry artifact path {stored} is outside any models folder of {home}")
