"""dbt: the staging, intermediate and marts models as Dagster assets.

The manifest is prepared by the set-up step (`make setup` runs `dbt parse`), never at import.
dbt tests become asset checks on the models they test.
"""


import io
import json
import os
import re
import shutil
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, redirect_stdout
from functools import cached_property
from pathlib import Path
from typing import Any

import dagster as dg
import dbt.version
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    DbtProject,
    dbt_assets,
    get_asset_key_for_model,
)
from packaging import version
from pydantic import Field

from assets.resources import TradepipeSettings
from assets.warehouse import builds as dbt_builds
from assets.warehouse import marts
from ml.config import label_horizons, setting, settings, uses_alpha158

# dbt from the same environment as this interpreter, whether or not that environment is activated.
DBT_EXECUTABLE = str(Path(sys.executable).parent / "dbt")
DBT_PROJECT_DIR = Path(__file__).resolve().parents[1] / "dbt_project"

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


class TradepipeDbtCli(DbtCliResource):
    """dagster-dbt's CLI resource without two in-process costs of every build (~5 s of a daily run):
    the dbt version comes from the installed dbt-core package instead of a `dbt --version`
    subprocess, and no dbt adapter is opened in Dagster's process (it serves only the optional
    column and row-count metadata, which this project does not fetch; dbt itself runs as usual)."""

    @cached_property
    def _cli_version(self) -> version.Version:
        return version.parse(dbt.version.__version__)

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> None:
        return None


def dbt_resource() -> TradepipeDbtCli:
    return TradepipeDbtCli(project_dir=dbt_project, dbt_executable=DBT_EXECUTABLE)


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
    """The dbt vars, passed to every build; defaults from tradepipe.toml's [dbt] (dbt_project.yml
    repeats them only for standalone dbt). The label horizons always include the config's horizon.
    The var ``alpha158`` (marts.fct_alpha158 enabled) is not run config: it follows the config's
    ``[training] feature_set`` as the manifest does (`make setup` parses with the same vars), so
    the dbt assets and the models a build runs stay the same."""

    label_horizons: list[int] = setting("dbt.label_horizons")
    macro_publication_lag_days: int = setting("dbt.macro_publication_lag_days")
    macro_max_staleness_days: int = setting("dbt.macro_max_staleness_days")
    regime_warmup_days: int = setting("dbt.regime_warmup_days")
    close_jump_max_ratio: float = setting("dbt.close_jump_max_ratio")
    close_jump_min_ratio: float = setting("dbt.close_jump_min_ratio")
    universe_min_history_days: int = setting("dbt.universe_min_history_days")
    universe_min_price: float = setting("dbt.universe_min_price")
    universe_min_dollar_volume_20d: float = setting("dbt.universe_min_dollar_volume_20d")
    full_refresh: bool = Field(default=False, description="Rebuild every model from all history, even when an incremental build would do.")

    def dbt_vars(self) -> dict[str, Any]:
        dbt_vars = {k: v for k, v in self.model_dump().items() if k != "full_refresh"}
        dbt_vars["label_horizons"] = label_horizons(self.label_horizons, settings().horizon)
        dbt_vars["alpha158"] = uses_alpha158(settings().training.feature_set)
        return dbt_vars


# Each build's dbt artifacts (manifest, run_results.json, dbt.log) go to a folder of its own in the
# home, not to dbt_project/target (4-5 MB a build, never cleared): the last few builds are kept.
DBT_RUNS_KEPT = 5
PARTIAL_PARSE = "partial_parse.msgpack"


def _build_folder(home: Path, build_id: int) -> Path:
    """``home``/dbt/build-<id>, empty but for the parse of the home's last successful build.

    dbt re-parses the whole project (~4 s) when the parse it finds was made for another profile,
    and the profile holds the warehouse path: the parse `make setup` leaves in dbt_project/target
    (which dagster-dbt copies in when the folder has none) serves only the home it was made for.
    A home's own last parse serves its next builds; dbt checks it and re-parses what changed.
    """
    runs = home / "dbt"
    folder = runs / f"build-{build_id}"
    shutil.rmtree(folder, ignore_errors=True)  # a leftover of a warehouse deleted since
    folder.mkdir(parents=True)
    if (runs / PARTIAL_PARSE).exists():
        shutil.copy2(runs / PARTIAL_PARSE, folder / PARTIAL_PARSE)
    builds = sorted((p for p in runs.glob("build-*") if p.name[6:].isdigit() and p != folder),
                    key=lambda p: int(p.name[6:]))
    for old in builds[: max(0, len(builds) - (DBT_RUNS_KEPT - 1))]:
        shutil.rmtree(old, ignore_errors=True)
    return folder


def _keep_parse(folder: Path) -> None:
    """The parse of a successful build becomes the home's, for its next builds (replaced atomically)."""
    parse = folder / PARTIAL_PARSE
    if parse.exists():
        staged = folder.parent / f"{PARTIAL_PARSE}.tmp"
        shutil.copy2(parse, staged)
        os.replace(staged, folder.parent / PARTIAL_PARSE)


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


class DbtConsole(io.TextIOBase):
    """dbt's console lines, which dagster-dbt prints to stdout, into the run's log: each node's line
    at DEBUG, a failure or warning at WARNING, the build's summary ("Done. PASS=76 WARN=0 ...") at INFO."""

    _ANSI = re.compile(r"\x1b\[[0-9;]*m")
    _SUMMARY = ("Done.", "Finished running")
    _PROBLEM = re.compile(r"\b(error|errors|fail|failure|warn|warning)\b", re.IGNORECASE)

    def __init__(self, log: Any) -> None:
        super().__init__()
        self._log = log
        self._pending = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        *lines, self._pending = (self._pending + text).split("\n")
        for line in lines:
            self._emit(line)
        return len(text)

    def finish(self) -> None:
        if self._pending:
            self._emit(self._pending)
        self._pending = ""

    def _emit(self, line: str) -> None:
        text = self._ANSI.sub("", line).rstrip()
        if not text.strip():
            return
        if text.startswith(self._SUMMARY):
            self._log.info(f"dbt: {text}")
        elif self._PROBLEM.search(text):
            self._log.warning(f"dbt: {text}")
        else:
            self._log.debug(f"dbt: {text}")


@dbt_assets(manifest=dbt_project.manifest_path, project=dbt_project, dagster_dbt_translator=translator)
def dbt_models(
    context: dg.AssetExecutionContext,
    config: DbtBuildConfig,
    dbt: DbtCliResource,
    settings: TradepipeSettings,
):
    """`dbt build` (models, unit tests, data tests) against the warehouse in TRADEPIPE_HOME.

    Incremental when only new dates arrived since the last successful build, else a full refresh
    (assets/warehouse/builds.py decides and records it in ops.dbt_builds). A failing model or test
    fails the step; models that failed keep their previous tables, and the next build is full.
    """
    # dbt unit tests check the SQL on fixtures, not the data: they run in the test suite
    # (tests/assets/test_dbt_models.py), not in every build.
    args = ["build", "--exclude-resource-type", "unit_test"]
    dbt_vars = config.dbt_vars()
    args += ["--vars", json.dumps(dbt_vars, sort_keys=True)]
    with settings.warehouse() as con:
        inputs = dbt_builds.inputs_digest(con, DBT_PROJECT_DIR, dbt_vars)
        plan = dbt_builds.plan_build(con, inputs, full_refresh=config.full_refresh)
        build_id = dbt_builds.record_start(con, plan, inputs)
    context.log.info(f"dbt build #{build_id}: {plan.mode} ({plan.reason})")
    if plan.mode == "full":
        args.append("--full-refresh")
    every_model = set(context.selected_asset_keys) >= set(context.assets_def.keys)
    status = "failed"
    try:
        folder = _build_folder(settings.home_path, build_id)
        console = DbtConsole(context.log)
        try:
            with _environment(TRADEPIPE_WAREHOUSE=str(settings.warehouse_path)), redirect_stdout(console):
                yield from dbt.cli(args, context=context, target_path=folder).stream()
        finally:
            console.finish()
        _keep_parse(folder)
        status = "succeeded" if plan.mode == "incremental" or every_model else "partial"
        if not dbt_vars["alpha158"]:
            with settings.warehouse() as con:
                if marts.drop_stale_alpha158(con):
                    context.log.info("dropped marts.fct_alpha158: the configured feature set "
                                     f"({settings().training.feature_set}) does not build it, so it would go stale")
    finally:
        with settings.warehouse() as con:
            dbt_builds.record_end(con, build_id, status)


def _model_key(name: str) -> dg.AssetKey:
    """The asset key of a dbt model, from the manifest: renaming a model fails here, at import."""
    return get_asset_key_for_model([dbt_models], name)


# The dbt models Python assets read, each key declared once.
FCT_FEATURES = _model_key("fct_features")
FCT_LABELS = _model_key("fct_labels")
FCT_TRAINING_PANEL = _model_key("fct_training_panel")
FCT_PRICES = _model_key("fct_prices")
FCT_REGIME_FEATURES = _model_key("fct_regime_features")
DIM_INSTRUMENTS = _model_key("dim_instruments")
QUARANTINE = _model_key("quarantine")
