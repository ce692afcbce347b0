"""Model comparison and champion selection: every candidate walked forward on the same folds,
backtested with every optimizer through the daily run's code, scored on a validation window,
reported on the untouched final window with the winner's Deflated Sharpe Ratio, and the winner
(model and optimizer) promoted to champion. The logic is ml.comparison (candidates, evaluation,
selection, tuning); this module loads, calls, writes and reports."""

import json
import time
from dataclasses import replace
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd

from assets import metadata
from assets.backtest import backtest_inputs
from assets.dbt import DIM_INSTRUMENTS, FCT_PRICES, FCT_TRAINING_PANEL
from assets.regimes import REGIMES
from assets.resources import DEFAULT_OPTIMIZER, TradepipeSettings, TradingSettings
from assets.training import CHAMPION_MODEL, fit_windows, save_training
from assets.warehouse import comparison as comparison_tables
from assets.warehouse import marts
from assets.warehouse import regimes as regime_tables
from assets.warehouse import registry as registry_table
from assets.warehouse.connection import transaction
from ml import training, tracking
from ml.comparison import (
    DEFAULT_WEIGHTS,
    ENSEMBLE,
    SelectionReport,
    SelectionSpec,
    backtest_candidates,
    default_candidates,
    deflated_sharpe_ratio,
    regime_consistency,
    select_champion,
    sharpe_matrix,
    train_candidates,
    window_split,
    write_selection_report,
)
from ml.config import setting, value
from ml.parallel import Parallelism
from ml.reports import charts
from ml.training import registry

MODEL_COMPARISON = dg.AssetKey(["ml", "model_comparison"])
REGIME_NAMES = ("risk_on", "neutral", "risk_off")


class ComparisonConfig(dg.Config):
    """What to compare, over which span, and how to choose (defaults: tradepipe.toml, the horizon and [comparison])."""

    horizon: int = setting("horizon")
    candidates: list[str] = setting("comparison.candidates")
    optimizers: list[str] = setting("comparison.optimizers")
    compare_days: int = setting("comparison.compare_days")
    final_days: int = setting("comparison.final_days")
    ensemble_size: int = setting("comparison.ensemble_size")
    tuning_iter: int = setting("comparison.tuning_iter")
    tuning_splits: int = setting("comparison.tuning_splits")
    weight_sharpe: float = setting("comparison.weight_sharpe")
    weight_max_drawdown: float = setting("comparison.weight_max_drawdown")
    weight_calmar: float = setting("comparison.weight_calmar")
    weight_turnover: float = setting("comparison.weight_turnover")
    weight_regime_consistency: float = setting("comparison.weight_regime_consistency")
    min_sharpe: float | None = setting("comparison.min_sharpe")
    min_max_drawdown: float | None = setting("comparison.min_max_drawdown")
    min_calmar: float | None = setting("comparison.min_calmar")
    max_turnover: float | None = setting("comparison.max_turnover")
    n_jobs: int = setting("parallel.n_jobs")
    parallel_backend: str = setting("parallel.backend")
    scheduler: str = setting("parallel.scheduler")
    promote: bool = setting("comparison.promote")
    tracking: bool = setting("tracking.enabled")
    experiment: str = setting("tracking.experiment")

    def parallelism(self) -> Parallelism:
        return Parallelism(n_jobs=self.n_jobs, backend=self.parallel_backend, scheduler=self.scheduler)

    def selection_spec(self) -> SelectionSpec:
        weights = {name: getattr(self, f"weight_{name}") for name in DEFAULT_WEIGHTS}
        return SelectionSpec(weights=weights, min_sharpe=self.min_sharpe, min_max_drawdown=self.min_max_drawdown,
                             min_calmar=self.min_calmar, max_turnover=self.max_turnover)


def _final_start(compared: np.ndarray, final_days: int) -> pd.Timestamp:
    """The first date of the untouched final window, or an error that says what to change."""
    try:
        return window_split(compared, final_days)
    except ValueError as error:
        if compared.size == 0:
            raise ValueError("nothing to compare: no date of the training panel has a regime yet") from error
        span = f"{pd.Timestamp(compared[0]).date()}..{pd.Timestamp(compared[-1]).date()}"
        raise ValueError(
            f"too little history to compare: {compared.size} dates with a regime ({span}), fewer than the "
            f"final window ([comparison] final_days = {final_days}) plus 126 dates of validation. Lower "
            f"final_days, or give the pipeline a longer history (the regimes start after [regimes] "
            f"min_train_days of features)") from error


def _candidates(names: list[str]):
    known = {c.name: c for c in default_candidates()}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown candidates {unknown}; known: {', '.join(known)}")
    chosen = [known[n] for n in names]
    # the ensemble picks from the models before it
    return [c for c in chosen if c.model_type != ENSEMBLE] + [c for c in chosen if c.model_type == ENSEMBLE]


def _deployable(choice, validation: pd.DataFrame, spec: SelectionSpec) -> tuple[dict | None, str]:
    """The row to promote: the winner, or -- when the winner is the rank ensemble, which cannot
    score a day on its own -- the winner of the same selection run without the ensemble (so
    the ensemble's row does not move the others' scaled scores)."""
    winner = choice.winner
    if winner is None or winner["model"] != ENSEMBLE:
        return winner, ""
    singles = select_champion(validation[validation["model"] != ENSEMBLE].reset_index(drop=True), spec)
    head = (f"the winner is the rank ensemble ({winner['optimizer']}, score {winner['score']:.3f}), which cannot "
            "be promoted (the daily run scores with one model)")
    if singles.winner is None:
        return None, f"{head}; no single model passes the thresholds"
    best = singles.winner
    return best, (f"{head}; promoted instead the best single model, {best['model']} x {best['optimizer']} "
                  f"(score {best['score']:.3f} among the single models)")


def _deflated(returns: pd.DataFrame, row: dict | None, validation: pd.DataFrame):
    """Deflated Sharpe of ``row`` on the validation window, given every combination tried (the
    variance of their per-day Sharpe ratios); None when it cannot be computed."""
    if row is None:
        return None
    daily_sharpe = (validation["sharpe"] / np.sqrt(252)).to_numpy(dtype=float)
    finite = daily_sharpe[np.isfinite(daily_sharpe)]
    picked = returns[(returns["model"] == row["model"]) & (returns["optimizer"] == row["optimizer"])
                     & (returns["window"] == "validation")]
    try:
        return deflated_sharpe_ratio(picked["net_return"].to_numpy(), n_trials=max(1, finite.size),
                                     sharpe_variance=float(np.var(finite, ddof=1)) if finite.size > 1 else 0.0)
    except ValueError:  # e.g. constant returns: no Sharpe to deflate
        return None


@dg.asset(key=MODEL_COMPARISON, deps=[FCT_TRAINING_PANEL, CHAMPION_MODEL, REGIMES, FCT_PRICES, DIM_INSTRUMENTS],
          group_name="selection", kinds={"lightgbm", "scikitlearn", "duckdb"})
def model_comparison(context: dg.AssetExecutionContext, config: ComparisonConfig, settings: TradepipeSettings,
                     trading: TradingSettings) -> dg.MaterializeResult:
    """ml.model_comparison (one row per candidate x optimizer x window), ml.model_comparison_predictions
    (IC, rank IC, ICIR, spread, hit rate per candidate and window), ml.model_selection (one row per
    comparison: the choice and why) and, when a candidate passes, its promotion to champion with its
    optimizer. The selection report goes to $TRADEPIPE_HOME/reports/model_selection/<date>/."""
    started = time.perf_counter()
    # the champion's training recipe: windows (lowered for a short panel as model_training does),
    # target, label, normalization, feature selection and feature set
    spec = training.TrainingSpec(
        horizon=config.horizon, train_days=value("training.train_days"), test_days=value("training.test_days"),
        target=value("training.target"), label_price=value("training.label_price"),
        normalize=value("training.normalize"), feature_selection=value("training.feature_selection"),
        max_features=value("training.max_features"), expanding=value("training.expanding"),
        date_stride=value("training.date_stride"))
    candidates = _candidates(config.candidates)
    with settings.warehouse(read_only=True) as con:
        panel = marts.training_panel(con, config.horizon, feature_set=value("training.feature_set"),
                                     label_price=spec.label_price)
        regimes_first = regime_tables.first_date(con)
        dates = np.sort(pd.to_datetime(panel["date"]).unique())
        compared = dates[dates >= np.datetime64(pd.Timestamp(regimes_first))][-config.compare_days:]
        if compared.size < config.compare_days:
            context.log.warning(f"only {compared.size} dates with a regime to compare (asked {config.compare_days})")
        test_from = pd.Timestamp(compared[0])
        prices, regimes, sector, index_close = backtest_inputs(con, test_from)
        reg = registry_table.load(con)
    final_start = _final_start(compared, config.final_days)
    spec, _ = fit_windows(spec, panel, context)

    run = train_candidates(panel, candidates, spec, test_from=test_from, final_start=final_start,
                           ensemble_size=config.ensemble_size, tuning_iter=config.tuning_iter,
                           tuning_splits=config.tuning_splits, log=context.log.info,
                           parallelism=config.parallelism())
    preds = {name: p[pd.to_datetime(p["date"]) >= test_from] for name, p in run.predictions.items()}
    backtest_started = time.perf_counter()
    comparison = backtest_candidates(preds, config.optimizers, prices, regimes, sector, trading.spec(),
                                     index_close=index_close, final_start=final_start,
                                     log=context.log.info, parallelism=config.parallelism())
    backtest_seconds = time.perf_counter() - backtest_started
    context.log.info(f"{len(comparison.table.drop_duplicates(['model', 'optimizer']))} backtests: "
                     f"{backtest_seconds:.1f}s")
    for note in comparison.notes:
        context.log.info(note)
    table = comparison.table.copy()
    table["regime_consistency"] = [regime_consistency({r: row.get(f"sharpe_{r}") for r in REGIME_NAMES})
                                   for _, row in table.iterrows()]
    validation = table[table["window"] == "validation"].reset_index(drop=True)
    choice = select_champion(validation, config.selection_spec())
    promoted, substitution = _deployable(choice, validation, config.selection_spec())
    reason = choice.reason + (f"; {substitution}" if substitution else "")
    # the Deflated Sharpe of the model deployed (the winner when nothing can be deployed)
    dsr = _deflated(comparison.returns, promoted or choice.winner, validation)
    final_rows = table[table["window"] == "final"]

    as_of = pd.Timestamp(dates[-1]).date()
    promoted_id = None
    if promoted is not None and config.promote:
        promoted_id = _promote(context, settings, reg, panel, spec, run.params[promoted["model"]],
                               candidates, promoted, config, as_of, reason, dsr)
    elif config.promote:
        _record_kept_optimizer(settings, reg, config.horizon, trading, as_of, reason)
    scored = choice.table[["model", "optimizer", "passes", "failed", "score", "rank"]].assign(window="validation")
    table = table.merge(scored, on=["model", "optimizer", "window"], how="left")
    selection_row = pd.DataFrame([{
        "selected_at": pd.Timestamp.now(tz="UTC").tz_localize(None), "as_of": as_of, "horizon": config.horizon,
        "winner_model": None if choice.winner is None else choice.winner["model"],
        "winner_optimizer": None if choice.winner is None else choice.winner["optimizer"],
        "promoted_model": None if promoted is None else promoted["model"],
        "promoted_optimizer": None if promoted is None else promoted["optimizer"],
        "promoted_model_id": promoted_id, "reason": reason,
        "n_trials": len(validation), "deflated_sharpe": None if dsr is None else dsr.dsr,
        "validation_start": pd.Timestamp(test_from).date(), "final_start": pd.Timestamp(final_start).date(),
        "final_end": as_of, "spec": json.dumps({**config.selection_spec().__dict__,
                                                 "weights": dict(config.selection_spec().weights)}),
        "params": json.dumps(run.params, default=str),
        "seconds": json.dumps({**{k: round(v, 1) for k, v in run.seconds.items()},
                               "backtests": round(backtest_seconds, 1),
                               "total": round(time.perf_counter() - started, 1)}),
    }])
    with settings.warehouse() as con, transaction(con):
        comparison_tables.write(con, table.assign(as_of=as_of), run.metrics.assign(as_of=as_of), selection_row)

    matrix = sharpe_matrix(table, "validation")
    top5 = choice.table[choice.table["passes"]].head(5) if choice.winner is not None else choice.table.head(5)
    equity = _equity_curves(comparison.returns, top5)
    report = SelectionReport(as_of=as_of, horizon=config.horizon, reason=reason, winner=choice.winner,
                             promoted=promoted, promoted_id=promoted_id, deflated=dsr,
                             table=table, prediction_metrics=run.metrics, sharpe_matrix=matrix,
                             final_matrix=sharpe_matrix(table, "final"), equity=equity,
                             benchmarks=comparison.benchmarks, folds=run.folds, params=run.params,
                             tuning={k: v.summary() for k, v in run.tuning.items()},
                             seconds={**run.seconds, "total": time.perf_counter() - started},
                             validation_start=test_from, final_start=final_start)
    paths = write_selection_report(settings.home_path / "reports" / "model_selection" / str(as_of), report)
    track_comparison(settings.home_path, config, report, list(paths.values()))
    shown = ["model", "optimizer", "window", "sharpe", "cagr", "max_drawdown", "calmar", "turnover",
             "win_rate", "score", "rank"]
    return dg.MaterializeResult(metadata=metadata.entries({
        "winner": "none" if choice.winner is None else f"{choice.winner['model']} x {choice.winner['optimizer']}",
        "promoted_model_id": promoted_id or "none", "reason": reason,
        "deflated_sharpe": float("nan") if dsr is None else float(dsr.dsr), "n_trials": len(validation),
        "sharpe_matrix_validation": metadata.table(matrix),
        "comparison": metadata.table(table[shown].sort_values(["window", "rank", "sharpe"],
                                                              ascending=[False, True, False])),
        "final_window": metadata.table(final_rows[["model", "optimizer", "sharpe", "cagr", "max_drawdown"]]),
        "equity_top5": metadata.chart(charts.equity_chart(equity, "Equity, top five (validation + final)"),
                                      settings.home_path / "charts" / "model_selection_equity.png"),
        "report": dg.MetadataValue.path(str(paths["report.html"])),
        "seconds": round(time.perf_counter() - started, 1),
    }))


def track_comparison(home: Path, config: ComparisonConfig, report: SelectionReport,
                     files: list[Path]) -> str | None:
    """Log the comparison to MLflow when ``config.tracking`` (ml.tracking.log_run; nothing
    otherwise): what was compared and how it chooses (candidates, optimizers, windows, weights,
    thresholds, each candidate's parameters), the winner's validation metrics, the Deflated Sharpe,
    the Sharpe matrices of both windows and each candidate's rank IC and rank ICIR, the choice
    as tags, and the selection report's ``files``. Returns the MLflow run id, or None."""
    spec = config.selection_spec()
    params = {name: getattr(config, name) for name in (
        "horizon", "candidates", "optimizers", "compare_days", "final_days", "ensemble_size", "tuning_iter",
        "tuning_splits", "min_sharpe", "min_max_drawdown", "min_calmar", "max_turnover", "promote")}
    params |= {"weights": dict(spec.weights), "validation_start": report.validation_start,
               "final_start": report.final_start}
    params |= {f"params.{name}": value for name, value in report.params.items()}
    validation = report.table[report.table["window"] == "validation"]
    metrics = {"n_trials": len(validation), "seconds": report.seconds.get("total")}
    if report.winner is not None:
        metrics |= {f"winner.{k}": report.winner.get(k) for k in (
            "sharpe", "cagr", "max_drawdown", "calmar", "turnover", "win_rate", "regime_consistency", "score")}
    if report.deflated is not None:
        metrics |= {"deflated_sharpe": report.deflated.dsr,
                    **{f"deflated_sharpe.{k}": v for k, v in report.deflated.__dict__.items() if k != "dsr"}}
    for window, matrix in (("validation", report.sharpe_matrix), ("final", report.final_matrix)):
        metrics |= {f"sharpe.{window}.{model}.{optimizer}": value
                    for (model, optimizer), value in matrix.stack().items()}
    for row in report.prediction_metrics.to_dict("records"):
        metrics |= {f"{name}.{row['window']}.{row['model']}": row[name] for name in ("rank_ic", "rank_icir")}
    pair = "none" if report.winner is None else f"{report.winner['model']} x {report.winner['optimizer']}"
    promoted = "none" if report.promoted is None else f"{report.promoted['model']} x {report.promoted['optimizer']}"
    return tracking.log_run(
        home, "comparison", f"comparison {report.as_of}", enabled=config.tracking, experiment=config.experiment,
        params=params, metrics=metrics, artifacts=files,
        tags={"as_of": str(report.as_of), "horizon": report.horizon, "winner": pair, "promoted": promoted,
              "promoted_model_id": report.promoted_id or "none", "reason": report.reason})


def _equity_curves(returns: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    """Growth of 1 over validation and final windows for the given (model, optimizer) rows."""
    curves = {}
    for _, row in rows.iterrows():
        r = returns[(returns["model"] == row["model"]) & (returns["optimizer"] == row["optimizer"])]
        r = r.assign(date=pd.to_datetime(r["date"])).sort_values("date").set_index("date")["net_return"]
        curves[f"{row['model']} x {row['optimizer']}"] = (1 + r).cumprod()
    return pd.DataFrame(curves)


def _record_kept_optimizer(settings, reg: pd.DataFrame, horizon: int, trading: TradingSettings, as_of, reason) -> None:
    """No candidate passed: the champion stays, and the optimizer it trades with (its own, or the
    trading resource's) is written on its registry row with the selection's reason."""
    champion = registry.current_champion(reg, horizon)
    if champion is None:
        return
    kept = champion.get("optimizer")
    if not isinstance(kept, str) or not kept:
        kept = DEFAULT_OPTIMIZER if trading.optimizer == "champion" else trading.optimizer
    row = {**champion, "optimizer": kept,
           "selection": json.dumps({"selected_on": str(as_of), "kept": True, "optimizer": kept, "reason": reason})}
    reg = registry.register(reg, row)
    with settings.warehouse() as con, transaction(con):
        registry_table.write(con, reg)


def _promote(context, settings, reg, panel, spec, params, candidates, promoted, config, as_of, reason, dsr) -> str:
    """Walk the promoted candidate forward over all history (as model_training does, with the
    windows of ``spec``) and register its final model as champion with the optimizer and the
    selection record."""
    candidate = next(c for c in candidates if c.name == promoted["model"])
    spec = replace(spec, model_type=candidate.model_type, params=params)
    context.log.info(f"promoting {candidate.name} x {promoted['optimizer']}: walking it forward over all history")
    result = training.walk_forward(panel, spec, log=context.log.info)
    final = training.train_final(panel, spec)
    selection = {"selected_on": str(as_of), "candidate": candidate.name, "optimizer": promoted["optimizer"],
                 "weights": dict(config.selection_spec().weights),
                 "metrics": {k: promoted.get(k) for k in ("sharpe", "cagr", "max_drawdown", "calmar",
                                                          "turnover", "win_rate", "regime_consistency", "score")},
                 "deflated_sharpe": None if dsr is None else dsr.dsr, "reason": reason}
    save_training(settings, reg, result, final, "champion",
                  f"model comparison {as_of}: {candidate.name} x {promoted['optimizer']}",
                  {"optimizer": promoted["optimizer"], "selection": json.dumps(selection, default=str)})
    context.log.info(f"promoted {final.model_id} ({candidate.name}) with {promoted['optimizer']}")
    return final.model_id
