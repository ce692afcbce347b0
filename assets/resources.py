"""Environment settings for the code location: where data comes from and where results go.

Each setting is fed by an environment variable (see DESIGN.md, "Configuration") and has a
default, so the bundled sample runs with no configuration at all.
"""


import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import dagster as dg
from pydantic import Field
import duckdb

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLE_DIR = REPO_ROOT / "data" / "sample"


class TradepipeSettings(dg.ConfigurableResource):
    """Paths of the inputs and of the warehouse; read from TRADEPIPE_* variables."""

    home: str = Field(
        default=".tradepipe",
        description="TRADEPIPE_HOME: folder for the warehouse, published DB, models, reports.",
    )
    prices: str = Field(
        default=str(SAMPLE_DIR / "prices.csv.gz"),
        description="TRADEPIPE_PRICES: price file or folder "
        "(date,ticker,open,high,low,close,volume[,adj_close]; CSV, CSV.gz or Parquet).",
    )
    macro: str = Field(
        default=str(SAMPLE_DIR / "macro.csv.gz"),
        description="TRADEPIPE_MACRO: tidy date,series,value file or folder.",
    )
    sectors: str = Field(
        default=str(SAMPLE_DIR / "sectors.csv.gz"),
        description="TRADEPIPE_SECTORS: ticker,sector[,name] file or folder.",
    )

    @property
    def home_path(self) -> Path:
        return Path(self.home).expanduser().resolve()

    @property
    def warehouse_path(self) -> Path:
        return self.home_path / "warehouse.duckdb"

    @contextmanager
    def warehouse(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection to the warehouse, closed on exit (DuckDB allows one writer per file)."""
        self.home_path.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(str(self.warehouse_path), read_only=read_only)
        con.execute("set enable_progress_bar = false")  # a connection setting: no bar in run logs
        try:
            yield con
        finally:
            con.close()


def settings_from_environment() -> TradepipeSettings:
    """The settings resource, with each TRADEPIPE_* variable that is set bound as a dg.EnvVar."""
    fields = {"home": "TRADEPIPE_HOME", "prices": "TRADEPIPE_PRICES",
              "macro": "TRADEPIPE_MACRO", "sectors": "TRADEPIPE_SECTORS"}
    return TradepipeSettings(**{f: dg.EnvVar(v) for f, v in fields.items() if os.environ.get(v)})
