"""ops.adapted_settings: the settings a stage lowered for the data it ran on (ml.adapt), one row
per stage and key, replaced by each run of the stage (no rows: the stage used the configuration)."""

import duckdb
import pandas as pd

from assets.warehouse.connection import frame, table_exists
from ml.adapt import Adapted

ADAPTED_DDL = """
create schema if not exists ops;
create table if not exists ops.adapted_settings (
    stage varchar, key varchar, configured double, chosen double, reason varchar, decided_at timestamp
)
"""


def write(con: duckdb.DuckDBPyConnection, stage: str, adapted: list[Adapted]) -> None:
    """Replace ``stage``'s rows with ``adapted``."""
    con.execute(ADAPTED_DDL)
    con.execute("delete from ops.adapted_settings where stage = ?", [stage])
    for a in adapted:
        con.execute("insert into ops.adapted_settings values (?, ?, ?, ?, ?, now()::timestamp)",
                    [stage, a.key, float(a.configured), float(a.chosen), a.reason])


def load(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Every stage's adapted settings (empty when none was adapted or no stage has run)."""
    if not table_exists(con, "ops.adapted_settings"):
        return pd.DataFrame(columns=["stage", "key", "configured", "chosen", "reason", "decided_at"])
    return frame(con, "select * from ops.adapted_settings order by stage, key")
