"""The project config: the root file matches the schema, overrides merge key by key, and bad
files fail with the file, the key, the value and what is allowed."""

import re
import tomllib
from pathlib import Path

import pytest
import yaml

from ml import config
from ml.config import ROOT_FILE, Config, ConfigError, describe, load_config


def _keys(model: type) -> set[str]:
    keys = set()
    for name, field in model.model_fields.items():
        if isinstance(field.annotation, type) and issubclass(field.annotation, config._Table):
            keys |= {f"{name}.{inner}" for inner in _keys(field.annotation)}
        else:
            keys.add(name)
    return keys


def _file_keys(raw: dict, prefix: str = "") -> set[str]:
    keys = set()
    for name, value in raw.items():
        if isinstance(value, dict) and name in Config.model_fields and not prefix:
            keys |= _file_keys(value, f"{name}.")
        else:
            keys.add(prefix + name)
    return keys


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "override.toml"
    path.write_text(text)
    return path


def test_root_file_covers_exactly_the_schema():
    raw = tomllib.loads(ROOT_FILE.read_text())
    assert _file_keys(raw) == _keys(Config)
    assert load_config(None).horizon == raw["horizon"]


def test_every_key_has_a_description():
    for key in _keys(Config):
        assert describe(key)


def test_root_file_documents_every_key_with_a_comment():
    lines = ROOT_FILE.read_text().splitlines()
    for i, line in enumerate(lines):
        if "=" in line and not line.startswith("#"):
            before = lines[i - 1]
            # a key is commented on the line above, or shares the comment of the key above
            assert before.startswith("#") or ("=" in before and not before.startswith("#")), line


def test_no_override_is_the_root_file(monkeypatch):
    monkeypatch.delenv(config.ENV_VAR, raising=False)
    assert load_config() == Config.model_validate(tomllib.loads(ROOT_FILE.read_text()))


def test_horizon_alone_is_a_complete_override(tmp_path):
    loaded = load_config(_write(tmp_path, "horizon = 20\n"))
    assert loaded.horizon == 20
    assert loaded.portfolio == load_config(None).portfolio


def test_the_env_var_names_the_override(tmp_path, monkeypatch):
    monkeypatch.setenv(config.ENV_VAR, str(_write(tmp_path, "horizon = 20\n")))
    assert load_config().horizon == 20


def test_tables_merge_key_by_key(tmp_path):
    loaded = load_config(_write(tmp_path, "[portfolio]\ntop_n = 30\n\n[training.params]\nnum_leaves = 15\n"))
    root = load_config(None)
    assert loaded.portfolio.top_n == 30
    assert loaded.portfolio.model_dump() == {**root.portfolio.model_dump(), "top_n": 30}
    assert loaded.training.params == {"num_leaves": 15}
    assert loaded.training.model_dump() == {**root.training.model_dump(), "params": {"num_leaves": 15}}
    assert loaded.signals == root.signals


def test_unknown_key_names_the_key_the_file_and_the_known_keys(tmp_path):
    path = _write(tmp_path, "[portfolio]\ntopn = 3\n")
    with pytest.raises(ConfigError, match=rf"unknown key 'portfolio.topn' in {path}; "
                                          r"known keys in \[portfolio\]: optimizer, top_n, "):
        load_config(path)


def test_unknown_top_level_key(tmp_path):
    path = _write(tmp_path, "horizn = 20\n")
    with pytest.raises(ConfigError, match=rf"unknown key 'horizn' in {path}; known top-level keys: horizon, "):
        load_config(path)


@pytest.mark.parametrize("text, message", [
    ("[portfolio]\ntop_n = -3\n", r"\[portfolio\] top_n = -3: must be an integer >= 1"),
    ("[portfolio]\nmax_weight = 1.5\n", r"\[portfolio\] max_weight = 1.5: must be a number <= 1"),
    ("horizon = 0\n", r"horizon = 0: must be an integer >= 1"),
    ('horizon = "20"\n', r'horizon = "20": must be an integer'),
    ('[signals]\nsignal_method = "ranks"\n',
     r"\[signals\] signal_method = \"ranks\": must be one of 'rank', 'threshold' or 'zscore'"),
    ('[comparison]\ncandidates = ["ridge", "xgb"]\n', r"\[comparison\] candidates\[1\] = \"xgb\": must be one of "),
    ('[comparison]\nmin_sharpe = "none"\n',
     r"\[comparison\] min_sharpe = \"none\": must be a number, or false for no threshold"),
    ("portfolio = 3\n", r"portfolio = 3: must be a table \[portfolio\]"),
    ("[kill_switch]\nmax_halt_days = 5\n", r"\[kill_switch\] max_halt_days = 5: must be at least cooldown_days \(10\)"),
])
def test_bad_value_names_the_file_the_key_the_value_and_what_is_allowed(tmp_path, text, message):
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(path))} {message}"):
        load_config(path)


def test_a_threshold_switched_off(tmp_path):
    assert load_config(_write(tmp_path, "[comparison]\nmin_sharpe = false\n")).comparison.min_sharpe is False


def test_missing_override_file_names_the_path(tmp_path, monkeypatch):
    missing = tmp_path / "nope.toml"
    monkeypatch.setenv(config.ENV_VAR, str(missing))
    with pytest.raises(ConfigError, match=rf"TRADEPIPE_CONFIG={missing}: no such file"):
        load_config()
    with pytest.raises(ConfigError, match=rf"config file {missing}: no such file"):
        load_config(missing)


def test_invalid_toml_names_the_file(tmp_path):
    path = _write(tmp_path, "horizon = \n")
    with pytest.raises(ConfigError, match=rf"{path}: not valid TOML"):
        load_config(path)


def test_label_horizons_always_include_the_horizon(tmp_path):
    assert load_config(None).dbt_vars()["label_horizons"] == [1, 5, 20]
    assert load_config(_write(tmp_path, "horizon = 10\n")).dbt_vars()["label_horizons"] == [1, 5, 10, 20]
    assert load_config(_write(tmp_path, "horizon = 20\n[dbt]\nlabel_horizons = [1]\n")
                       ).dbt_vars()["label_horizons"] == [1, 20]


def test_the_alpha158_var_follows_the_feature_set(tmp_path):
    """marts.fct_alpha158 is built (dbt var alpha158) only for the feature sets that use it."""
    assert load_config(None).dbt_vars()["alpha158"] is False
    for feature_set, built in (("base", False), ("alpha158", True), ("all", True)):
        path = _write(tmp_path, f'[training]\nfeature_set = "{feature_set}"\n')
        assert load_config(path).dbt_vars()["alpha158"] is built


def test_dbt_project_vars_equal_the_config():
    """dbt_project.yml keeps the vars for standalone dbt (dbt parse, dbt build by hand); every
    Dagster build passes the config's, so the two must not differ."""
    project = yaml.safe_load((ROOT_FILE.parent / "dbt_project" / "dbt_project.yml").read_text())
    assert project["vars"] == load_config(None).dbt_vars()


def test_model_types_are_the_registered_models():
    from ml.training import available_models

    assert sorted(config.MODEL_TYPES) == available_models()


def test_candidates_and_optimizers_are_the_known_ones():
    from ml.comparison import default_candidates

    from ml.portfolio import OPTIMIZERS

    assert list(config.CANDIDATES) == [c.name for c in default_candidates()]
    assert config.OPTIMIZERS == OPTIMIZERS


def test_the_command_prints_the_settings_in_force(tmp_path):
    """`python -m ml.config` (README) and `python -m ml.config dbt-vars` (the Makefile's dbt parse)."""
    import json
    import os
    import subprocess
    import sys

    override = _write(tmp_path, "horizon = 10\n")
    env = {**os.environ, config.ENV_VAR: str(override)}
    shown = subprocess.run([sys.executable, "-m", "ml.config"], env=env, capture_output=True, text=True, check=True)
    assert json.loads(shown.stdout)["horizon"] == 10
    dbt_vars = subprocess.run([sys.executable, "-m", "ml.config", "dbt-vars"], env=env, capture_output=True,
                              text=True, check=True)
    assert json.loads(dbt_vars.stdout)["label_horizons"] == [1, 5, 10, 20]


def test_parallel_backends_are_the_seams(tmp_path):
    from typing import get_args

    from ml.parallel import BACKENDS

    assert get_args(config.Parallel.model_fields["backend"].annotation) == BACKENDS
    assert load_config(None).parallel.backend == "local"
    path = _write(tmp_path, '[parallel]\nbackend = "spark"\n')
    with pytest.raises(ConfigError, match=r"\[parallel\] backend = \"spark\": must be one of"):
        load_config(path)


def test_tracking_is_off_by_default_and_checked(tmp_path):
    assert (load_config(None).tracking.enabled, load_config(None).tracking.experiment) == (False, "tradepipe")
    assert load_config(_write(tmp_path, "[tracking]\nenabled = true\n")).tracking.enabled is True
    with pytest.raises(ConfigError, match=r"\[tracking\] enabled = \"yes\": must be true or false"):
        load_config(_write(tmp_path, '[tracking]\nenabled = "yes"\n'))
    with pytest.raises(ConfigError, match=r"\[tracking\] experiment = \"\": String should have at least 1 character"):
        load_config(_write(tmp_path, '[tracking]\nexperiment = ""\n'))
