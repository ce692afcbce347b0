"""The project configuration: every tunable setting once, with its type, allowed values and
description here, and its default in ``tradepipe.toml`` at the repo root.

The file named by the environment variable ``TRADEPIPE_CONFIG`` overrides the root file key by
key (tables merge key by key), so a file holding only ``horizon = 20`` is a complete override.
Dagster ``Config`` classes and resources take their defaults from :func:`settings` (see
:func:`setting`); run config still overrides them per run.

Examples
--------
>>> from ml.config import settings
>>> settings().horizon
5
>>> settings().portfolio.top_n
20

Errors name the file, the key (dotted), the value and what is allowed::

    ConfigError: /x.toml [portfolio] top_n = -3: must be an integer >= 1
"""

from __future__ import annotations

import json
import os
import sys
import tomllib
from functools import cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

__all__ = ["ROOT_FILE", "ENV_VAR", "Config", "ConfigError", "load_config", "settings", "describe",
           "setting", "value"]

ROOT_FILE = Path(__file__).resolve().parents[1] / "tradepipe.toml"
ENV_VAR = "TRADEPIPE_CONFIG"

MODEL_TYPES = ("elastic_net", "lasso", "lightgbm", "mlp", "random_forest", "ridge")
OPTIMIZERS = ("equal_weight", "inverse_vol", "hrp", "min_variance")
CANDIDATES = ("ridge", "random_forest", "lightgbm", "lightgbm_tuned", "mlp", "ensemble")

# A comparison threshold, or false to switch it off (TOML has no null).
Threshold = float | Literal[False]


class ConfigError(ValueError):
    """A configuration file that cannot be used: names the file, the key and the value."""


class _Table(BaseModel):
    # strict: TOML values are typed, so "5" is not an integer; no defaults: the root file has them
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Training(_Table):
    """[training]: what the champion is trained on and how it is judged."""

    model_type: Literal["champion", *MODEL_TYPES] = Field(description=(
        "'champion' (retrain the current champion's model type and parameters; LightGBM when there is "
        "none), or ridge, lasso, elastic_net, random_forest, lightgbm, mlp."))
    params: dict[str, Any] = Field(description=(
        "Model parameters over the model's defaults, e.g. {num_leaves = 15}; "
        "in the Dagster config a JSON string."))
    target: Literal["rank", "zscore", "raw"] = Field(
        description="Per-date transform of fwd_excess_return the model is fitted on: rank, zscore or raw.")
    label_price: Literal["open", "close"] = Field(description=(
        "The label a model is fitted and judged on: 'open' (next open to the open horizon days later, "
        "the price orders execute at: fwd_return) or 'close' (next close to close: fwd_return_close)."))
    normalize: Literal["none", "rank", "robust_zscore"] = Field(description=(
        "Per-date cross-sectional transform of every feature, from the date's in-universe rows: "
        "none, rank (to [-0.5, 0.5]) or robust_zscore (median / MAD, clipped to +-3)."))
    feature_selection: Literal["none", "mutual_info", "lightgbm"] = Field(description=(
        "How each training window chooses max_features columns from its own labelled rows: none, "
        "mutual_info (mutual information with the target) or lightgbm (split gain of a small model)."))
    max_features: int = Field(ge=0, description="Columns feature_selection keeps (0: every column).")
    expanding: bool = Field(description=(
        "Train on every date before the test window instead of the last train_days."))
    date_stride: int = Field(ge=1, description=(
        "Fit on every date_stride-th date of a training window (counted from the data's first date): the "
        "labels of neighbouring dates share horizon - 1 days of return, so up to the horizon this drops mostly "
        "repeated rows and divides the rows a fit learns from by the stride (LightGBM's early-stopping slice "
        "keeps every date). 1: every date."))
    feature_set: Literal["base", "alpha158", "all"] = Field(description=(
        "Feature columns a new model is trained on (and then scored with): 'base' (the columns of "
        "marts.fct_features), 'alpha158' (the 158 of marts.fct_alpha158) or 'all' (both)."))
    train_days: int = Field(ge=1, description="Training window in trading days (rolling).")
    test_days: int = Field(ge=1, description="Test window and retrain step in trading days (63 = quarterly).")
    champion_tolerance: float = Field(ge=0, description=(
        "A new model becomes champion unless its walk-forward rank IC is below the champion's by more than this."))
    min_new_rows: int = Field(ge=0, description=(
        "Retrain only when at least this many panel rows have labels known after the champion's train_end."))


class Regimes(_Table):
    """[regimes]: the market-regime detector (HMM) and its walk-forward refits."""

    n_states: int = Field(ge=2, description="Hidden states (labels: risk_on / neutral / risk_off for 3).")
    refit: str = Field(description="Refit calendar (pandas frequency, anchored at the data start): QS = quarterly.")
    min_train_days: int = Field(ge=1, description="Trading days of features before the first model.")
    max_ffill_days: int = Field(ge=0, description=(
        "Longest gap in a regime feature that is forward-filled; longer gaps are an error."))
    risk_feature: str = Field(description="Feature whose state means order the labels (lowest = risk_on).")
    seed: int = Field(ge=0, description="Seed of the EM restarts.")


class Signals(_Table):
    """[signals]: predictions to buy signals (ml.signals)."""

    signal_method: Literal["rank", "threshold", "zscore"] = Field(
        description="rank, threshold or zscore (ml.signals).")
    top_pct: float = Field(gt=0, le=1, description="rank: share of names with a buy signal each day.")
    threshold: float = Field(description="threshold: score at or above which a name is a buy.")


class Portfolio(_Table):
    """[portfolio]: signals to target weights (ml.portfolio.PortfolioSpec)."""

    optimizer: Literal["champion", *OPTIMIZERS] = Field(description=(
        "'champion' (the optimizer the model comparison chose with the champion; equal_weight when none "
        "was chosen), or equal_weight, inverse_vol, hrp, min_variance."))
    top_n: int = Field(ge=1, description="Names held (top-K).")
    max_replace: int = Field(ge=0, description=(
        "Held names replaced per day at most (dropout buffer; 2 of 20 = 10% a day, the ratio of Qlib's "
        "TopkDropout defaults 5 of 50)."))
    max_weight: float = Field(gt=0, le=1, description="Largest weight of one name.")
    max_sector: float = Field(gt=0, le=1, description="Largest weight of one sector.")
    min_names: int = Field(ge=1, description="Fewer selected names than this blocks the day's trades.")
    cov_window: int = Field(ge=2, description="Trailing trading days of returns for volatility and covariance.")
    min_history: int = Field(ge=2, description=(
        "Returns a name needs in the covariance window to be bought (a held name with fewer may be kept)."))
    exposure_risk_on: float = Field(ge=0, le=1, description="Gross exposure in the risk_on regime (rest in cash).")
    exposure_neutral: float = Field(ge=0, le=1, description="Gross exposure in the neutral regime.")
    exposure_risk_off: float = Field(ge=0, le=1, description="Gross exposure in the risk_off regime.")


class Trades(_Table):
    """[trades]: target weights to orders on the paper book (ml.trades)."""

    mode: Literal["paper"] = Field(description="paper (dry run): approved trades move the paper book only.")
    capital: float = Field(gt=0, description="Starting cash of the paper book and the backtest.")
    min_trade_notional: float = Field(ge=0, description="Smallest order kept (exits always trade).")
    no_trade_band: float = Field(ge=0, description=(
        "Held names within this weight distance of their target are not traded."))
    reasons_per_trade: int = Field(ge=1, description=(
        "Features recorded per traded name in trading.trade_reasons and the report's 'Why these trades': "
        "the largest LightGBM contributions (SHAP) to its prediction."))


class Costs(_Table):
    """[costs]: the cost estimate of an order."""

    commission_bps: float = Field(ge=0, description="Commission estimate, basis points of notional.")
    slippage_bps: float = Field(ge=0, description="Slippage estimate, basis points of notional.")


class Limits(_Table):
    """[limits]: the safety gate on a day's orders (ml.trades.check_trades); a breach blocks the day."""

    max_adv_share: float = Field(gt=0, description=(
        "An order above this share of 20-day volume is flagged and blocks the day."))
    max_turnover: float = Field(gt=0, description="Largest one-way turnover of a day's orders.")
    max_trade_share: float = Field(gt=0, description="Largest single order as a share of the portfolio.")
    max_cost_share: float = Field(ge=0, description=(
        "Largest estimated cost of a day's orders as a share of the portfolio."))
    max_trades: int = Field(ge=0, description="Most orders in a day.")
    weight_tolerance: float = Field(ge=0, description=(
        "Slack allowed over the name and sector caps when the target weights are checked."))


class KillSwitch(_Table):
    """[kill_switch]: the book's loss rules and what a breach does (ml.trades.kill_switch, ml.trades.switch)."""

    max_daily_loss: float = Field(gt=0, description="Kill switch: a daily loss of the book beyond this is a breach.")
    sharpe_window_days: int = Field(ge=2, description=(
        "Kill switch: trailing window (trading days, ~6 weeks) of the Sharpe rule."))
    min_sharpe: float = Field(description="Kill switch: trailing annualised Sharpe below this is a breach.")
    mode: Literal["derisk", "freeze"] = Field(description=(
        "What a breach does. 'derisk': the switch halts -- no buys (no new name, no increase), while sells "
        "(exits, trims, the regime exposure cut) are approved and their proceeds stay cash -- until it re-arms "
        "(cooldown_days, rearm_sharpe, max_halt_days, rearm_grace_days). 'freeze': every order of a day on which "
        "a rule fails is blocked, sells included, re-evaluated every day with no memory."))
    cooldown_days: int = Field(ge=1, description=(
        "derisk: the fewest halted days before the switch may re-arm on a recovered Sharpe."))
    rearm_sharpe: float = Field(description=(
        "derisk: after cooldown_days the switch re-arms once the trailing Sharpe is at least this (and no daily "
        "loss beyond the limit that day)."))
    max_halt_days: int = Field(ge=1, description=(
        "derisk: after this many halted days the switch re-arms whatever the Sharpe (not on a day with a daily "
        "loss beyond the limit); at least cooldown_days."))
    rearm_grace_days: int = Field(ge=0, description=(
        "derisk: days after a re-arm, that day included, on which the Sharpe rule is not applied (its window "
        "still holds the halt's returns); the daily-loss rule always applies."))

    @field_validator("max_halt_days")
    @classmethod
    def _at_least_the_cooldown(cls, value: int, info: ValidationInfo) -> int:
        """At load, not when trading starts: the switch cannot re-arm before its cool-down ends."""
        cooldown = info.data.get("cooldown_days")
        if cooldown is not None and value < cooldown:
            raise PydanticCustomError("below_cooldown", "must be at least cooldown_days ({cooldown})",
                                      {"cooldown": cooldown})
        return value


class Monitoring(_Table):
    """[monitoring]: model drift (rolling IC) and feature drift (PSI)."""

    ic_window: int = Field(ge=1, description="Rolling window (dates) of the IC.")
    drift_threshold: float = Field(description="A rolling IC below this counts as a bad day.")
    drift_max_share: float = Field(ge=0, le=1, description=(
        "review_model when more than this share of recent days are bad."))
    drift_lookback: int = Field(ge=1, description="Recent days the share is taken over.")
    psi_warn: float = Field(ge=0, description="Feature PSI from which a feature is 'warn'.")
    psi_alert: float = Field(ge=0, description="Feature PSI from which a feature is 'alert'.")
    train_sample_rows: int = Field(ge=1, description="Rows of the training span sampled (seeded) for PSI.")
    history_days: int = Field(ge=1, description=(
        "Trailing calendar span (days) of matured predictions the IC history covers; enough for the "
        "drift rule's window and lookback."))


class Quality(_Table):
    """[quality]: data-quality gates on the prices (asset checks)."""

    min_coverage: float = Field(ge=0, le=1, description=(
        "Blocks trading: share of recently traded tickers that must have a valid bar on the latest date."))
    max_quarantined_share: float = Field(ge=0, le=1, description=(
        "Blocks trading: largest share of the latest date's bars that may be quarantined."))
    warn_quarantined_share: float = Field(ge=0, le=1, description=(
        "Warns: largest share of all bars (the whole history) that may be quarantined; above it the "
        "input is more likely broken than glitchy."))
    max_repeated_share: float = Field(ge=0, le=1, description=(
        "Blocks trading: largest share of the latest date's bars that repeat the ticker's previous bar "
        "exactly (open, high, low, close, volume); above it the feed is more likely stale than quiet."))


class Ingest(_Table):
    """[ingest]: where the raw tables come from."""

    source: Literal["files", "synthetic"] = Field(description=(
        "'files': the TRADEPIPE_PRICES/MACRO/SECTORS files (default: the bundled sample). "
        "'synthetic': a seeded synthetic market, for scale tests and benchmarks."))
    synthetic_tickers: int = Field(ge=1, description="Synthetic market: number of tickers.")
    synthetic_years: float = Field(gt=0, description="Synthetic market: years of trading days.")
    synthetic_seed: int = Field(ge=0, description="Synthetic market: random seed.")
    first_partition: str = Field(pattern=r"^(\d{4}-\d{2}-\d{2})?$", description=(
        "First daily partition (YYYY-MM-DD). '' = the first price date of the last ingest "
        "(before any ingest: 2000-01-03)."))


class Comparison(_Table):
    """[comparison]: the model comparison (compare_job) and how it chooses the champion."""

    candidates: list[Literal[CANDIDATES]] = Field(min_length=1, description=(
        "Candidates by name: ridge, random_forest, lightgbm, lightgbm_tuned, mlp, ensemble."))
    optimizers: list[Literal[OPTIMIZERS]] = Field(min_length=1, description=(
        "Portfolio optimizers each candidate is backtested with."))
    compare_days: int = Field(ge=2, description=(
        "Trading days compared, ending at the last labelled date (validation + final). Each day costs one "
        "walk-forward prediction per candidate and 24 backtest steps (bench/README.md has the timings)."))
    final_days: int = Field(ge=1, description=(
        "The untouched final window: the last trading days of the span, never used to choose."))
    ensemble_size: int = Field(ge=1, description=(
        "Members of the rank ensemble: the candidates with the best validation rank IC."))
    tuning_iter: int = Field(ge=1, description="Random-search trials of a tuned candidate.")
    tuning_splits: int = Field(ge=2, description=(
        "Purged K-fold splits of the tuner, inside the span before the compared dates."))
    weight_sharpe: float = Field(ge=0, description="Score weight of the Sharpe ratio.")
    weight_max_drawdown: float = Field(ge=0, description="Score weight of the maximum drawdown.")
    weight_calmar: float = Field(ge=0, description="Score weight of the Calmar ratio.")
    weight_turnover: float = Field(ge=0, description="Score weight of the turnover (lower is better).")
    weight_regime_consistency: float = Field(ge=0, description="Score weight of the worst regime's Sharpe.")
    min_sharpe: Threshold = Field(description="Threshold: validation Sharpe at least this (false: no threshold).")
    min_max_drawdown: Threshold = Field(description=(
        "Threshold: maximum drawdown no deeper than this (false: no threshold)."))
    min_calmar: Threshold = Field(description="Threshold: Calmar ratio at least this (false: no threshold).")
    max_turnover: Threshold = Field(description=(
        "Threshold: mean daily one-way turnover at most this (false: no threshold)."))
    promote: bool = Field(description="Make the winner the champion (false: compare and report only).")


class Parallel(_Table):
    """[parallel]: where the comparison's and the tuner's independent fits and backtests run (ml.parallel)."""

    backend: Literal["local", "dask"] = Field(description=(
        "'local' (processes on this machine) or 'dask' (a Dask distributed cluster; needs the optional "
        "'distributed' package: pip install 'tradepipe[dask]')."))
    n_jobs: int = Field(ge=1, description=(
        "local: fits or backtests at once, each in its own process with its share of the CPUs "
        "(1: one after the other in the run's own process). dask: ignored, the cluster's worker "
        "threads set it."))
    scheduler: str = Field(description=(
        "dask: the scheduler's address, e.g. 'tcp://10.0.0.5:8786' (started with `dask scheduler`, "
        "workers with `dask worker ADDRESS`); '' uses a Dask client already created in the process."))


class Tracking(_Table):
    """[tracking]: optional experiment tracking of training and comparison runs in MLflow (ml.tracking)."""

    enabled: bool = Field(description=(
        "Log each training run and each model comparison to MLflow (params, metrics, and the model or "
        "selection report files) in a local store under $TRADEPIPE_HOME/mlruns; needs the optional "
        "'mlflow-skinny' package: pip install 'tradepipe[tracking]'. false: nothing is logged."))
    experiment: str = Field(min_length=1, description="MLflow experiment the runs are logged under.")


class Dbt(_Table):
    """[dbt]: the dbt vars, passed to every dbt build (dbt_project.yml repeats them for standalone dbt)."""

    label_horizons: list[int] = Field(min_length=1, description=(
        "Label horizons in trading days; the top-level horizon is always added."))
    macro_publication_lag_days: int = Field(ge=0, description=(
        "Business days after its observation date before a macro value may be used."))
    macro_max_staleness_days: int = Field(ge=0, description=(
        "An as-of macro value older than this many calendar days is missing, not carried."))
    regime_warmup_days: int = Field(ge=0, description=(
        "Index (^GSPC) trading days before the first price date kept to warm up the regime windows."))
    close_jump_max_ratio: float = Field(gt=1, description=(
        "Quarantine: a close above this multiple of the reference close (median of the last 5 valid closes)."))
    close_jump_min_ratio: float = Field(gt=0, lt=1, description=(
        "Quarantine: a close below this multiple of the reference close."))
    universe_min_history_days: int = Field(ge=1, description="Training universe: minimum valid days of history.")
    universe_min_price: float = Field(ge=0, description="Training universe: minimum close.")
    universe_min_dollar_volume_20d: float = Field(ge=0, description=(
        "Training universe: minimum 20-day mean dollar volume."))


class Config(_Table):
    """Every tunable setting of tradepipe (see tradepipe.toml for the defaults)."""

    horizon: int = Field(ge=1, description=(
        "Label horizon in trading days of the champion: trained, scored, traded, backtested and compared "
        "(always one of the dbt label horizons)."))
    training: Training
    regimes: Regimes
    signals: Signals
    portfolio: Portfolio
    trades: Trades
    costs: Costs
    limits: Limits
    kill_switch: KillSwitch
    monitoring: Monitoring
    quality: Quality
    ingest: Ingest
    comparison: Comparison
    parallel: Parallel
    tracking: Tracking
    dbt: Dbt

    def get(self, path: str) -> Any:
        """The value at a dotted path, e.g. ``config.get("portfolio.top_n")``."""
        node: Any = self
        for part in path.split("."):
            node = getattr(node, part)
        return node

    def dbt_vars(self) -> dict[str, Any]:
        """The dbt vars, with ``horizon`` added to ``label_horizons`` when it is not there, and
        ``alpha158`` (build marts.fct_alpha158) true when ``training.feature_set`` needs it."""
        dbt_vars = self.dbt.model_dump()
        dbt_vars["label_horizons"] = label_horizons(self.dbt.label_horizons, self.horizon)
        dbt_vars["alpha158"] = uses_alpha158(self.training.feature_set)
        return dbt_vars


def uses_alpha158(feature_set: str) -> bool:
    """Whether the feature set ``feature_set`` needs marts.fct_alpha158 (the dbt var ``alpha158``
    enables the model only then: a build with the base features does not pay for it)."""
    return feature_set != "base"


def label_horizons(horizons: list[int], horizon: int) -> list[int]:
    """``horizons`` with ``horizon`` added, sorted and without repeats."""
    return sorted({*horizons, horizon})


# --------------------------------------------------------------------------- #
# loading
# --------------------------------------------------------------------------- #


def load_config(path: str | os.PathLike | None = None) -> Config:
    """The root file, overridden key by key by ``path`` (default: the file ``TRADEPIPE_CONFIG``
    names; none when it is unset or empty).

    Raises
    ------
    ConfigError
        For a missing or unreadable file, an unknown key, a missing key (root file) or a bad
        value; the message names the file, the dotted key, the value and what is allowed.
    """
    if path is None:
        path = os.environ.get(ENV_VAR) or None
        if path is not None and not Path(path).is_file():
            raise ConfigError(f"{ENV_VAR}={path}: no such file ({Path(path).resolve()})")
    root = _read(ROOT_FILE)
    _check_keys(root, ROOT_FILE)
    override: dict[str, Any] = {}
    override_file = None
    if path is not None:
        override_file = Path(path).resolve()
        if not override_file.is_file():
            raise ConfigError(f"config file {override_file}: no such file")
        override = _read(override_file)
        _check_keys(override, override_file)
    merged = _merge(root, override)
    try:
        return Config.model_validate(merged)
    except ValidationError as error:
        lines = [_describe_error(e, override, override_file) for e in error.errors()]
        # a union (a Threshold) fails once per branch with the same message: keep one per key
        first = {line.split(": ")[0]: line for line in reversed(lines)}
        raise ConfigError("\n".join(reversed(first.values()))) from None


@cache
def settings() -> Config:
    """The project configuration, loaded once per process (``load_config()``)."""
    return load_config()


def _read(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``override``'s keys; tables merge key by key, anything else is replaced."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _check_keys(raw: dict[str, Any], path: Path) -> None:
    """Unknown keys (and a value where a table belongs) name the key, the file and the known keys."""
    tables = {name: f.annotation for name, f in Config.model_fields.items()
              if isinstance(f.annotation, type) and issubclass(f.annotation, _Table)}
    for key, value in raw.items():
        if key not in Config.model_fields:
            raise ConfigError(f"unknown key {key!r} in {path}; known top-level keys: "
                              f"{', '.join(Config.model_fields)}")
        if key in tables:
            if not isinstance(value, dict):
                raise ConfigError(f"{path} {key} = {_toml(value)}: must be a table [{key}]")
            known = tables[key].model_fields
            for inner in value:
                if inner not in known:
                    raise ConfigError(f"unknown key '{key}.{inner}' in {path}; known keys in [{key}]: "
                                      f"{', '.join(known)}")


_TYPES = {"int_type": "must be an integer", "float_type": "must be a number", "bool_type": "must be true or false",
          "string_type": "must be a string", "list_type": "must be a list", "dict_type": "must be a table",
          "missing": "missing: every key must be set in the root file"}
_BOUNDS = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<=", "less_than": "<"}


def _describe_error(error: dict[str, Any], override: dict[str, Any], override_file: Path | None) -> str:
    loc = [str(part) for part in error["loc"] if isinstance(part, str)]
    # a Threshold reports a branch per type ("float", "literal[False]"): keep the field's path only
    loc = [part for part in loc if part in _known_names()]
    index = next((part for part in error["loc"] if isinstance(part, int)), None)
    section, key = (loc[0], ".".join(loc[1:])) if len(loc) > 1 else (None, loc[0] if loc else "?")
    node: Any = override
    for part in loc:
        node = node.get(part) if isinstance(node, dict) else None
    source = override_file if node is not None and override_file is not None else ROOT_FILE
    shown = f"{key}[{index}]" if index is not None else key
    where = f"{source} [{section}] {shown}" if section else f"{source} {shown}"
    field = _field(".".join(loc)) if loc else None
    if error["type"] == "missing":
        return f"{where}: {_TYPES['missing']}"
    return f"{where} = {_toml(error['input'])}: {_allowed(error, field)}"


@cache
def _known_names() -> frozenset[str]:
    names = set(Config.model_fields)
    for f in Config.model_fields.values():
        if isinstance(f.annotation, type) and issubclass(f.annotation, _Table):
            names |= set(f.annotation.model_fields)
    return frozenset(names)


def _allowed(error: dict[str, Any], field: FieldInfo | None) -> str:
    kind, ctx = error["type"], error.get("ctx", {})
    annotation = field.annotation if field is not None else None
    if kind in _BOUNDS:
        noun = "an integer" if annotation is int or annotation == list[int] else "a number"
        limit = next(iter(ctx.values()))
        return f"must be {noun} {_BOUNDS[kind]} {limit}"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected')}"
    if kind in ("too_short", "too_long"):
        return error["msg"].lower()
    if annotation == Threshold:
        return "must be a number, or false for no threshold"
    return _TYPES.get(kind, error["msg"])


def _field(path: str) -> FieldInfo | None:
    parts = path.split(".")
    model: Any = Config
    info = None
    for part in parts:
        if not (isinstance(model, type) and issubclass(model, BaseModel)) or part not in model.model_fields:
            return None
        info = model.model_fields[part]
        model = info.annotation
    return info


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + "}"
    return repr(value)


# --------------------------------------------------------------------------- #
# for Config classes and resources
# --------------------------------------------------------------------------- #


def describe(path: str) -> str:
    """The one description of the setting at a dotted path."""
    field = _field(path)
    if field is None or field.description is None:
        raise KeyError(f"no setting {path!r}")
    return field.description


def value(path: str) -> Any:
    """The configured value at a dotted path, as a Dagster config default: a switched-off
    threshold (false) is None, the model parameters are a JSON string."""
    current = settings().get(path)
    field = _field(path)
    if field is not None and field.annotation == Threshold and current is False:
        return None
    if path == "training.params":
        return json.dumps(current)
    return current


def setting(path: str, **kwargs: Any) -> Any:
    """A pydantic ``Field`` whose default is the configured value and whose description is the
    schema's: ``top_n: int = setting("portfolio.top_n")`` in a Dagster Config or resource."""
    return Field(default=value(path), description=describe(path), **kwargs)


def _main(argv: list[str]) -> int:
    """``python -m ml.config`` prints the effective configuration as JSON;
    ``python -m ml.config dbt-vars`` the dbt vars every build passes."""
    try:
        config = settings()
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if argv[:1] == ["dbt-vars"]:
        print(json.dumps(config.dbt_vars(), sort_keys=True))
    else:
        print(json.dumps(config.model_dump(), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
