"""dbt: the staging, intermediate and marts models as Dagster assets.

The manifest is prepared by the set-up step (`make setup` runs `dbt parse`), never at import.
dbt tests become asset checks on the models they test.
"""


import json
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    DbtProject,
    dbt_assets,
)

from assets.resources import TradepipeSettings

# dbt from the same environment as this interpreter, whether or not that environment is activated.
DBT_EXECUTABLE = str(Path(sys.executable).parent / "dbt")
DBT_PROJECT_DIR = Path(__file__).resolve().parents[1] / "dbt_project"

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


class TradepipeDbtTranslator(DagsterDbtTranslator):
    """Asset keys are schema.table (raw.prices, marts.fct_features); groups are the dbt layers."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return dg.AssetKey([dbt_resource_props["source_name"], dbt_resource_props["name"]])
        return dg.AssetKey([dbt_resource_props["schema"], dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return dbt_resource_props["schema"]


translator = TradepipeDbtTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))


class DbtBuildConfig(dg.Config):
    """Overrides of the dbt vars; unset fields keep the defaults in dbt_project.yml."""

    label_horizons: list[int] | None = Field(default=None, description="Label horizons in trading days (default [1, 5, 20]).")
    label_price: str | None = Field(default=None, description="'open' (next open, default) or 'close'.")
    macro_publication_lag_days: int | None = Field(default=None, description="Business days before a macro value may be used (default 1).")
    macro_max_staleness_days: int | None = Field(default=None, description="Oldest macro value carried, in calendar days (default 10).")
    universe_min_history_days: int | None = Field(default=None, description="Training universe: minimum valid days of history (default 252).")
    universe_min_price: float | None = Field(default=None, description="Training universe: minimum close (default 1.0).")
    universe_min_dollar_volume_20d: float | None = Field(default=None, description="Training universe: minimum 20-day mean dollar volume (default 1e6).")

    def dbt_vars(self) -> dict[str, Any]:
        return {k: v for k, v in self.model_dump().items() if v is not None}


@contextmanager
def _environment(**values: str) -> Iterator[None]:
    """Set environment variables for the dbt subprocess, restoring them afterwards."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@dbt_assets(manifest=dbt_project.manifest_path, project=dbt_project, dagster_dbt_translator=translator)
def dbt_models(
    context: dg.AssetExecutionContext,
    config: DbtBuildConfig,
    dbt: DbtCliResource,
    settings: TradepipeSettings,
):
    """`dbt build` (models, unit tests, data tests) against the warehouse in TRADEPIPE_HOME.

    A failing model or test fails the step; models that failed keep their previous tables.
    """
    args = ["build"]
    dbt_vars = config.dbt_vars()
    if dbt_vars:
        args += ["--vars", json.dumps(dbt_vars)]
    settings.home_path.mkdir(parents=True, exist_ok=True)
    with _environment(TRADEPIPE_WAREHOUSE=str(settings.warehouse_path)):
        yield from dbt.cli(args, context=context).stream()
