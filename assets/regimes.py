"""Regimes: the walk-forward market-regime history (ml.regimes), the model in force, today's regime."""

import json
import pickle

import dagster as dg
import numpy as np
import pandas as pd

from assets import metadata
from assets.dbt import FCT_REGIME_FEATURES
from assets.resources import TradepipeSettings
from assets.warehouse import adapted as adapted_table
from assets.warehouse import marts
from assets.warehouse import regimes as regime_tables
from assets.warehouse.connection import transaction
from assets.warehouse.registry import relative_artifact
from ml.adapt import Adapted, regime_min_train
from ml.common import atomic_write
from ml.config import setting
from ml.regimes import (
    DEFAULT_FEATURES,
    RegimeDetector,
    prepare_regime_features,
    walk_forward_regimes,
)
from ml.reports import charts

REGIMES = dg.AssetKey(["ml", "regimes"])
REGIME_MODEL = dg.AssetKey(["ml", "regime_model"])
CURRENT_REGIME = dg.AssetKey(["ml", "current_regime"])


class RegimeConfig(dg.Config):
    """Settings of the regime detector and its walk-forward refits."""

    n_states: int = setting("regimes.n_states")
    refit: str = setting("regimes.refit")
    min_train_days: int = setting("regimes.min_train_days")
    max_ffill_days: int = setting("regimes.max_ffill_days")
    risk_feature: str = setting("regimes.risk_feature")
    seed: int = setting("regimes.seed")


def _usable_features(frame: pd.DataFrame, context: dg.AssetExecutionContext, span: int) -> list[str]:
    """The default features with data in the first ``span`` rows; a series absent there is left
    out, loudly. Only the start of the history decides, so later rows never change the set."""
    head = frame.head(span)
    present = [f for f in DEFAULT_FEATURES if f in head.columns and head[f].notna().any()]
    missing = sorted(set(DEFAULT_FEATURES) - set(present))
    if missing:
        context.log.warning(f"regime features without data in the first {span} dates, "
                            f"left out of the model: {missing}")
    if len(present) < 2:
        raise ValueError(f"regime detection needs at least 2 features with data; only {present} have any "
                         f"in the first {span} dates (is the macro file missing series? see marts.fct_regime_features)")
    return present


def _fit_min_train(raw: pd.DataFrame, config: RegimeConfig,
                   context: dg.AssetExecutionContext) -> tuple[int, list[Adapted]]:
    """``min_train_days`` the regime features have room for (ml.adapt.regime_min_train): counted
    on the rows from the first one where every default feature with data is present."""
    usable = [f for f in DEFAULT_FEATURES if f in raw.columns and raw[f].notna().any()]
    complete = raw[usable].notna().all(axis=1).to_numpy() if usable else np.zeros(len(raw), bool)
    n_rows = len(raw) - int(np.argmax(complete)) if complete.any() else 0
    days, adapted = regime_min_train(n_rows, config.min_train_days,
                                     RegimeDetector(n_states=config.n_states).min_train_rows)
    for a in adapted:
        context.log.info(f"adapted to the data: {a}")
    return days, adapted


@dg.multi_asset(
    specs=[
        dg.AssetSpec(REGIMES, deps=[FCT_REGIME_FEATURES], group_name="regimes", kinds={"duckdb", "hmmlearn"},
                     description="Filtered regime probabilities per date from the model in force that day."),
        dg.AssetSpec(REGIME_MODEL, deps=[FCT_REGIME_FEATURES], group_name="regimes", kinds={"hmmlearn"},
                     description="The latest walk-forward regime model: the one in force for the newest dates."),
    ],
)
def regime_history(context: dg.AssetExecutionContext, config: RegimeConfig, settings: TradepipeSettings):
    """Refit the HMM at each refit date on the expanding window before it, filter forward, and
    replace ml.regimes and ml.regime_models in one transaction."""
    with settings.warehouse(read_only=True) as con:
        raw = marts.regime_features(con)
    min_train_days, adapted = _fit_min_train(raw, config, context)
    # The first model's window plus a year of warm-up decides the feature set (point-in-time).
    features = _usable_features(raw, context, span=min_train_days + 260)
    risk_feature = config.risk_feature if config.risk_feature in features else "vix"
    prepared = prepare_regime_features(raw.set_index("date"), features, max_ffill=config.max_ffill_days)
    folder = settings.home_path / "models" / "regime"
    folder.mkdir(parents=True, exist_ok=True)
    # Saved models whose parameters and training rows are unchanged are loaded, not refitted:
    # a daily run fits only when a new quarter starts (results are identical either way).
    history, models = walk_forward_regimes(
        prepared, refit=config.refit, min_train_days=min_train_days, return_models=True,
        model_dir=folder, n_states=config.n_states, features=features, risk_feature=risk_feature,
        random_state=config.seed,
    )
    first_use = history.groupby("model_id", sort=False)["date"].min()
    rows = []
    for model_id, detector in models.items():
        path = folder / f"{model_id}.npz"
        if not path.exists():
            detector.save(path)
        diagnostics = detector.diagnostics()
        rows.append({
            "model_id": model_id, "first_date": first_use.get(model_id), "train_start": detector.train_start_,
            "train_end": detector.train_end_, "n_states": detector.n_states, "features": json.dumps(features),
            "converged": bool(diagnostics["converged"]), "persistence": float(diagnostics["persistence"]),
            "log_likelihood": float(diagnostics["log_likelihood"]),
            "artifact_path": relative_artifact(settings.home_path, path),
        })
    registry = pd.DataFrame(rows).sort_values("first_date")
    with settings.warehouse() as con, transaction(con):
        regime_tables.write(con, history, registry)
        adapted_table.write(con, "regimes", adapted)
    latest = models[registry.iloc[-1]["model_id"]]
    counts = history["regime"].value_counts()
    chart_png = _index_chart(settings, history)
    yield dg.MaterializeResult(asset_key=REGIMES, metadata=metadata.entries({
        "dagster/row_count": len(history),
        "first_date": str(history["date"].min().date()),
        "last_date": str(history["date"].max().date()),
        "models": len(models),
        "days_by_regime": dg.MetadataValue.json({k: int(v) for k, v in counts.items()}),
        "features": dg.MetadataValue.json(features),
        "min_train_days": min_train_days,
        "adapted_settings": dg.MetadataValue.json([str(a) for a in adapted]),
        "index_with_regimes": metadata.chart(chart_png, settings.home_path / "charts" / "regimes.png"),
    }))
    yield dg.MaterializeResult(asset_key=REGIME_MODEL,
                               metadata=metadata.entries(_model_metadata(latest, prepared, config, folder)))


def _index_chart(settings: TradepipeSettings, history: pd.DataFrame) -> bytes:
    with settings.warehouse(read_only=True) as con:
        level = marts.index_level(con)
    regimes = history.set_index("date")["regime"]
    return charts.regime_chart(level.loc[regimes.index.min():], regimes)


def _n_states_table(detector: RegimeDetector, prepared: pd.DataFrame, config: RegimeConfig, folder) -> pd.DataFrame:
    """AIC/BIC of 2-5 states on the model's training span: four fits, done once per model and
    kept beside its artifact (the latest model changes once a quarter, the daily run reads it)."""
    path = folder / f"{detector.model_id}.n_states.pkl"
    if path.exists():
        return pd.read_pickle(path)
    training = prepared.loc[detector.train_start_:detector.train_end_]
    selection = RegimeDetector.select_n_states(
        training, candidates=(2, 3, 4, 5), features=detector.features_, risk_feature=detector.risk_feature_,
        n_restarts=1, random_state=config.seed,
    )
    atomic_write(path, pickle.dumps(selection))
    return selection


def _model_metadata(detector: RegimeDetector, prepared: pd.DataFrame, config: RegimeConfig, folder) -> dict:
    diagnostics = detector.diagnostics()
    selection = _n_states_table(detector, prepared, config, folder)
    return {
        "model_id": detector.model_id,
        "train_start": str(pd.Timestamp(detector.train_start_).date()),
        "train_end": str(pd.Timestamp(detector.train_end_).date()),
        "transition_matrix": metadata.table(detector.transition_matrix),
        "expected_durations_days": metadata.table(detector.expected_durations.to_frame("days"), floatfmt=".1f"),
        "state_characteristics": metadata.table(detector.state_characteristics()),
        "feature_importance": metadata.table(detector.feature_importance().to_frame("importance")),
        "aic_bic_by_n_states": metadata.table(selection, floatfmt=".1f"),
        "converged": bool(diagnostics["converged"]),
        "persistence": float(diagnostics["persistence"]),
        "log_likelihood": float(diagnostics["log_likelihood"]),
    }


@dg.asset(key=CURRENT_REGIME, deps=[REGIMES, REGIME_MODEL], group_name="regimes", kinds={"duckdb"})
def current_regime(settings: TradepipeSettings) -> dg.MaterializeResult:
    """The regime of the latest date, with its confidence and the inputs it was computed from."""
    with settings.warehouse(read_only=True) as con:
        latest = regime_tables.latest(con)
        if latest is None:
            raise ValueError("ml.regimes is empty: no date has a regime yet (is the history shorter "
                             "than the regime warm-up?)")
        inputs = marts.regime_features(con, latest["date"]).iloc[0]
    probabilities = {c.removeprefix("prob_"): float(latest[c]) for c in latest.index if c.startswith("prob_")}
    record = {
        "date": str(pd.Timestamp(latest["date"]).date()),
        "regime": latest["regime"],
        "confidence": max(probabilities.values()),
        "probabilities": probabilities,
        "model_id": latest["model_id"],
        "inputs": {k: (None if pd.isna(v) else float(v)) for k, v in inputs.items() if k != "date"},
    }
    path = settings.home_path / "regime" / "current.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2))
    return dg.MaterializeResult(metadata=metadata.entries({
        "date": record["date"], "regime": record["regime"], "confidence": record["confidence"],
        "probabilities": dg.MetadataValue.json(probabilities), "model_id": record["model_id"],
        "path": dg.MetadataValue.path(str(path)),
    }))


@dg.asset_check(asset=REGIMES, description="Every date's probabilities sum to 1 within 1e-6.")
def regime_probabilities_sum_to_one(settings: TradepipeSettings) -> dg.AssetCheckResult:
    with settings.warehouse(read_only=True) as con:
        frame = regime_tables.history(con)
    probs = frame[[c for c in frame.columns if c.startswith("prob_")]]
    error = np.abs(probs.sum(axis=1) - 1.0)
    return dg.AssetCheckResult(passed=bool((error <= 1e-6).all()),
                               metadata=metadata.entries({"max_abs_error": float(error.max()), "rows": len(frame)}))


@dg.asset_check(asset=REGIMES, description="Every regime-feature date after the warm-up has a regime.")
def regime_every_date_after_warmup(settings: TradepipeSettings) -> dg.AssetCheckResult:
    with settings.warehouse(read_only=True) as con:
        missing = marts.dates_without_regime(con)
    return dg.AssetCheckResult(passed=missing == 0, metadata=metadata.entries({"dates_without_regime": missing}))


@dg.asset_check(asset=REGIME_MODEL, description="Regimes persist: mean of the transition-matrix diagonal >= 0.8.")
def regime_persistence(settings: TradepipeSettings) -> dg.AssetCheckResult:
    model = _latest_model_row(settings)
    return dg.AssetCheckResult(passed=bool(model["persistence"] >= 0.8), severity=dg.AssetCheckSeverity.WARN,
                               metadata=metadata.entries({"persistence": float(model["persistence"]),
                                                          "model_id": model["model_id"]}))


@dg.asset_check(asset=REGIME_MODEL, description="EM converged for the model in force.")
def regime_em_converged(settings: TradepipeSettings) -> dg.AssetCheckResult:
    model = _latest_model_row(settings)
    return dg.AssetCheckResult(passed=bool(model["converged"]), severity=dg.AssetCheckSeverity.WARN,
                               metadata=metadata.entries({"log_likelihood": float(model["log_likelihood"]),
                                                          "model_id": model["model_id"]}))


def _latest_model_row(settings: TradepipeSettings) -> pd.Series:
    with settings.warehouse(read_only=True) as con:
        return regime_tables.latest_model(con)
