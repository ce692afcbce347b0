"""The Dagster side of the project config: Config classes and resources take their defaults (and
descriptions) from it, an override file changes them all, and run config still wins.

Config defaults are read at import, so an override is checked in a fresh interpreter: no test
here changes the config of this process."""

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

from assets.comparison import ComparisonConfig
from assets.dbt import DbtBuildConfig
from assets.predictions import ScoringConfig
from assets.regimes import RegimeConfig
from assets.resources import TradepipeSettings, TradingSettings
from assets.training import TrainingConfig
from ml.config import ENV_VAR, describe, settings

REPO = Path(__file__).resolve().parents[2]

# For each override file in argv: the defaults the Config classes and resources get from it (the
# modules reloaded after the config cache is cleared; dagster imports once, the slow part).
DEFAULTS = """
import importlib, json, os, sys
import ml.config
seen = []
for path in sys.argv[1:]:
    os.environ["TRADEPIPE_CONFIG"] = path
    ml.config.settings.cache_clear()
    from assets import resources, training, predictions, comparison, dbt
    for module in (resources, training, predictions, comparison, dbt):
        importlib.reload(module)
    trading = resources.TradingSettings()
    seen.append({
        "training": training.TrainingConfig().horizon, "scoring": predictions.ScoringConfig().horizon,
        "trading": trading.horizon, "comparison": comparison.ComparisonConfig().horizon,
        "label_horizons": dbt.DbtBuildConfig().dbt_vars()["label_horizons"],
        "top_n": trading.top_n, "spec_top_n": trading.spec().portfolio.top_n, "max_weight": trading.max_weight,
        "min_sharpe": comparison.ComparisonConfig().min_sharpe,
        "max_quarantined_share": resources.TradepipeSettings().max_quarantined_share,
    })
print(json.dumps(seen))
"""


def _defaults_with(tmp_path: Path, *texts: str) -> list[dict]:
    """The defaults under each override (in a fresh interpreter: this process keeps its config)."""
    paths = []
    for i, text in enumerate(texts):
        paths.append(tmp_path / f"override{i}.toml")
        paths[-1].write_text(text)
    done = subprocess.run([sys.executable, "-c", DEFAULTS, *map(str, paths)], cwd=REPO, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_defaults_are_the_config():
    config = settings()
    trading = TradingSettings()
    assert {TrainingConfig().horizon, ScoringConfig().horizon, trading.horizon, ComparisonConfig().horizon} \
        == {config.horizon}
    assert TrainingConfig().train_days == config.training.train_days
    assert RegimeConfig().n_states == config.regimes.n_states
    assert trading.spec().portfolio.top_n == config.portfolio.top_n
    assert trading.spec().max_daily_loss == config.kill_switch.max_daily_loss
    assert TradepipeSettings().max_quarantined_share == config.quality.max_quarantined_share
    assert DbtBuildConfig().dbt_vars() == config.dbt_vars()


def test_descriptions_are_the_schema():
    assert TrainingConfig.model_fields["horizon"].description == describe("horizon")
    assert TradingSettings.model_fields["top_n"].description == describe("portfolio.top_n")
    assert DbtBuildConfig.model_fields["label_horizons"].description == describe("dbt.label_horizons")


def test_trading_spec_is_built_from_the_fields_of_the_same_names():
    spec = TradingSettings(top_n=7, min_names=3, slippage_bps=9.0, exposure_neutral=0.6).spec()
    assert (spec.portfolio.top_n, spec.portfolio.min_names, spec.slippage_bps) == (7, 3, 9.0)
    assert spec.portfolio.exposure == {"risk_on": 1.0, "neutral": 0.6, "risk_off": 0.5}


def test_training_spec_is_built_from_the_fields_of_the_same_names():
    spec = TrainingConfig(date_stride=3, expanding=False, train_days=300, normalize="rank").spec()
    assert (spec.date_stride, spec.expanding, spec.train_days, spec.normalize) == (3, False, 300, "rank")
    assert TrainingConfig().spec().date_stride == settings().training.date_stride


def test_overrides_reach_every_stage(tmp_path):
    horizon_only, nested = _defaults_with(
        tmp_path, "horizon = 20\n",
        "[portfolio]\ntop_n = 30\n[comparison]\nmin_sharpe = false\n[quality]\nmax_quarantined_share = 0.02\n")
    # a file holding only the horizon changes it for training, scoring, trading, comparison and dbt
    stages = ("training", "scoring", "trading", "comparison")
    assert {k: horizon_only[k] for k in stages} == dict.fromkeys(stages, 20)
    assert horizon_only["label_horizons"] == [1, 5, 20]
    assert horizon_only["top_n"] == settings().portfolio.top_n
    # tables merge key by key: the rest of [portfolio] and the horizon stay the root file's
    assert (nested["top_n"], nested["spec_top_n"]) == (30, 30)
    assert nested["max_weight"] == settings().portfolio.max_weight
    assert nested["training"] == settings().horizon
    assert nested["min_sharpe"] is None
    assert nested["max_quarantined_share"] == 0.02


def test_the_horizon_is_added_to_the_dbt_label_horizons():
    assert DbtBuildConfig(label_horizons=[1]).dbt_vars()["label_horizons"] == sorted({1, settings().horizon})


def test_a_bad_override_fails_at_import_naming_the_key(tmp_path):
    override = tmp_path / "bad.toml"
    override.write_text("[portfolio]\ntop_n = -3\n")
    done = subprocess.run([sys.executable, "-m", "ml.config"], cwd=REPO, capture_output=True,
                          text=True, env={**os.environ, ENV_VAR: str(override)}, timeout=300)
    assert done.returncode != 0
    assert f"{override} [portfolio] top_n = -3: must be an integer >= 1" in done.stderr


def test_run_config_still_overrides():
    seen = {}

    @dg.asset
    def probe(config: TrainingConfig, trading: TradingSettings) -> None:
        seen.update(horizon=config.horizon, train_days=config.train_days, top_n=trading.top_n,
                    trading_horizon=trading.horizon)

    result = dg.materialize(
        [probe], resources={"trading": TradingSettings.configure_at_launch()},
        run_config={"ops": {"probe": {"config": {"horizon": 1}}},
                    "resources": {"trading": {"config": {"top_n": 5, "horizon": 1}}}})
    assert result.success
    assert seen == {"horizon": 1, "train_days": settings().training.train_days, "top_n": 5, "trading_horizon": 1}
