"""Trades for a market date: whole-share orders from the paper book to the target weights, the
safety gate (every rule and the kill switch), the approval and the paper book after it
(ml.trades, the same functions the backtest calls).

The kill switch has a state (ml.trades.switch): each date's decision starts from the state of the
latest earlier date in trading.kill_switch and writes its own row there, with the trades; so a
halt persists from one daily run to the next, and a re-run of a date starts from the same state.
While it is halted in 'derisk' mode the sells are approved and the buys blocked: the
``kill_switch_clear`` check then fails as a warning (the book may de-risk: positions still run);
in 'freeze' mode, or with any other rule failed, it fails as an error and the book does not move.

Orders are sized at the decision close (an estimate: they would execute at the next open). Each
order's reasons (trading.trade_reasons) are the largest feature contributions to the prediction it
was decided on: the model in force that day on that day's features (LightGBM only).
Every row carries the date, and each step replaces the date's decision from its stage on, so a
re-run is idempotent and a blocked re-decision leaves no positions of an earlier one: the book
a date starts from is always the one of the latest earlier date.
"""

from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd

from assets import metadata
from assets.checks import DAILY_FRESHNESS
from assets.dbt import FCT_FEATURES, FCT_PRICES
from assets.partitions import MARKET_DATES
from assets.portfolio import TARGET_WEIGHTS
from assets.predictions import DAILY_PREDICTIONS
from assets.resources import TradepipeSettings, TradingSettings
from assets.signals import market_date
from assets.warehouse import marts
from assets.warehouse import preds as preds_table
from assets.warehouse import registry as registry_table
from assets.warehouse import trading as decisions
from assets.warehouse.connection import transaction
from ml.config import setting
from ml.trades import (
    KILL_SWITCH_RULES,
    Book,
    CheckResult,
    KillSwitchState,
    apply_trades,
    make_trades,
    no_reasons,
    trade_reasons,
    unexplained,
)
from ml.training import FittedModel

TRADES = dg.AssetKey(["trading", "trades"])
TRADE_APPROVAL = dg.AssetKey(["trading", "trade_approval"])
POSITIONS = dg.AssetKey(["trading", "positions"])

# Which safety rules each blocking check reports (rule names from ml.trades).
GATE_CHECKS = {
    "portfolio_within_limits": (("portfolio_valid", "weights_valid", "max_weight", "max_sector"),
                                "Target weights valid: enough names, weights >= 0 summing to <= 1, name and sector caps."),
    "trades_within_limits": (("prices_valid", "turnover", "max_trade_share", "max_cost_share", "max_trades", "liquidity"),
                             "Orders pass safety: valid prices, turnover, single-order size, total cost, count, liquidity."),
    "kill_switch_clear": (KILL_SWITCH_RULES,
                          "Kill switch armed: no daily loss beyond the limit, trailing Sharpe above the floor, no halt "
                          "in force. A 'derisk' halt is a warning (sells de-risk the book, buys are blocked; positions "
                          "still run); a 'freeze' halt is an error (nothing moves)."),
}


def book_returns(history: pd.DataFrame, day: pd.Timestamp, book: Book, close: pd.Series) -> pd.Series:
    """The paper book's daily returns known at the close of ``day``: the recorded ones of earlier
    dates (``history``: date, daily_return, equity) plus the move from the last recorded equity
    to the book marked at ``day``'s close."""
    if history.empty:
        return pd.Series(dtype=float)
    returns = history.set_index("date")["daily_return"].dropna()
    today = (book.cash + book.holdings_value(close)) / float(history["equity"].iloc[-1]) - 1.0
    return pd.concat([returns, pd.Series({day: today})])


def _unpriced(book: Book, px: pd.DataFrame) -> list[str]:
    return [t for t in book.shares.index if not px["close"].get(t, float("nan")) > 0]


class TradesConfig(dg.Config):
    """How the date's orders are explained."""

    reasons_per_trade: int = setting("trades.reasons_per_trade")


def explain(home: Path, model_id: str, scorer: dict[str, Any] | None, features: pd.DataFrame, preds: pd.DataFrame,
            orders: pd.DataFrame, k: int) -> tuple[pd.DataFrame, str]:
    """trading.trade_reasons of ``orders``: the top ``k`` contributions to each traded name's
    recorded prediction by ``model_id`` (the model in force, ``scorer`` its registry row) on the
    date's ``features``; with a line saying what was explained, or why nothing was."""
    if scorer is None:
        raise ValueError(f"model {model_id}, in force on the date (ml.predictions_in_force), is not in "
                         f"ml.model_registry: materialize ml/daily_predictions for the date again")
    why = unexplained(scorer["model_type"], model_id)
    if why is not None:
        return no_reasons(), why
    if orders.empty:
        return no_reasons(), "no orders"
    model = FittedModel.load(registry_table.artifact(home, scorer["artifact_path"]))
    reasons = trade_reasons(model, features, orders, preds.set_index("ticker")["yhat"], k)
    return reasons, f"{reasons['ticker'].nunique()} of {len(orders)} traded names explained by model {model_id}"


@dg.asset(key=TRADES, deps=[TARGET_WEIGHTS, FCT_PRICES, DAILY_PREDICTIONS, FCT_FEATURES], group_name="trading",
          kinds={"duckdb"}, partitions_def=MARKET_DATES, freshness_policy=DAILY_FRESHNESS)
def trades(context: dg.AssetExecutionContext, config: TradesConfig, settings: TradepipeSettings,
           trading: TradingSettings) -> dg.MaterializeResult:
    """trading.trades: whole-share orders from the paper book to the target weights, sells first,
    with cost estimates and liquidity flags; every safety rule and the kill switch are evaluated
    (trading.safety_checks) and the gate marks all orders approved, or all blocked with the reasons.
    trading.trade_reasons: for each order, the features that moved its prediction most (LightGBM's
    SHAP values, from the model in force and the features it scored that day)."""
    spec = trading.spec()
    day = market_date(context)
    with settings.warehouse(read_only=True) as con:
        model_id, preds = preds_table.predictions_on(con, day, trading.horizon)
        scorer = registry_table.model(con, model_id)
        features = marts.features_on(con, day)
        weights = decisions.weights_on(con, day)
        signals = decisions.signals_on(con, day)  # a held name without a score is a forced exit
        verdict = decisions.portfolio_on(con, day)
        if verdict is None:
            raise ValueError(f"trading.portfolios has no row for {day.date()}: materialize trading/target_weights first")
        book, _ = decisions.book_before(con, day, spec.capital)
        switch_before, halt_start = decisions.kill_switch_before(con, day)
        px = marts.prices_on(con, day)
        history = decisions.book_history_before(con, day)
        sector = marts.sectors(con)
    known = book_returns(history, day, book, px["close"]) if not _unpriced(book, px) else pd.Series(dtype=float)
    weight = weights.set_index("ticker")["weight"] if len(weights) else pd.Series(dtype=float)
    decision = make_trades(weight, CheckResult("portfolio_valid", bool(verdict["valid"]), verdict["detail"]), book,
                           px["close"], px["adv_20d_shares"], known, sector, spec, mode=trading.mode,
                           kill_switch=switch_before, scored=signals.loc[signals["score"].notna(), "ticker"])
    rows = decision.trades.assign(mode=trading.mode)
    checks = pd.DataFrame([{"check": c.name, "passed": c.passed, "detail": c.detail} for c in decision.checks])
    switch = switch_row(decision.kill_switch, day, halt_start, spec.kill_switch_mode, decision.checks)
    reasons, explained = explain(settings.home_path, model_id, scorer, features, preds, rows,
                                 config.reasons_per_trade)
    with settings.warehouse() as con, transaction(con):
        decisions.write_stage(con, "trades", day, {"trading.trades": rows, "trading.safety_checks": checks,
                                                   "trading.kill_switch": switch, "trading.trade_reasons": reasons})
    failed = [f"{c.name}: {c.detail}" for c in decision.checks if not c.passed]
    allowed = rows["status"] == "approved" if len(rows) else pd.Series(dtype=bool)
    status = ("approved" if decision.approved else "sells only (kill switch halted)" if allowed.any() and
              decision.kill_switch.halted else "blocked")
    return dg.MaterializeResult(metadata=metadata.entries({
        "date": str(day.date()), "status": status,
        "reason": "; ".join(failed) or "all checks passed", "orders": len(rows),
        "approved_orders": int(allowed.sum()), "blocked_orders": int((~allowed).sum()),
        **kill_switch_metadata(switch.iloc[0]),
        "turnover": float(decision.turnover), "estimated_cost": float(decision.costs),
        "book_value": float(decision.value),
        "trades": metadata.table(rows.set_index("ticker")[["side", "shares", "price", "notional", "status"]]
                                 if len(rows) else pd.DataFrame({"orders": []})),
        "safety_checks": metadata.table(checks.set_index("check")[["passed", "detail"]]),
        "reasons": explained,
    }))


def switch_row(state: KillSwitchState, day: pd.Timestamp, halt_start: pd.Timestamp | None, mode: str,
               checks: list[CheckResult]) -> pd.DataFrame:
    """The date's row of trading.kill_switch: the state, the mode it was decided in, the first date
    of the halt in force (a new one on a 'fired' date) and the kill_switch rule's detail."""
    start = (day if state.event == "fired" or halt_start is None else halt_start) if state.halted else None
    detail = next((c.detail for c in checks if c.name == "kill_switch"), "")
    return pd.DataFrame([{"mode": mode, **state.record(), "halt_start": start, "detail": detail}])


def kill_switch_metadata(row: pd.Series) -> dict[str, Any]:
    """What the UI shows of the kill switch on a date: its state, the halt's start and length, the event."""
    start = row["halt_start"]
    return {"kill_switch": f"{row['status']} ({row['mode']})", "kill_switch_event": row["event"] or "none",
            "kill_switch_halt_start": "" if start is None or pd.isna(start) else str(pd.Timestamp(start).date()),
            "kill_switch_halt_days": int(row["halt_days"]), "kill_switch_detail": row["detail"]}


def gate_check(name: str, day: pd.Timestamp, checks: pd.DataFrame, derisk_halt: bool = False) -> dg.AssetCheckResult:
    """One blocking check of the gate, judged on ``day``'s safety rules. ``derisk_halt``: the date's
    only failures are the kill switch's, halted in 'derisk' mode (sells approved): its check fails
    as a warning, which does not stop the positions."""
    rules = GATE_CHECKS[name][0]
    mine = checks[checks["check"].isin(rules)]
    missing = sorted(set(rules) - set(mine["check"]))
    failed = mine[~mine["passed"].astype(bool)]
    reason = "; ".join([f"{r.check}: {r.detail}" for r in failed.itertuples()]
                       + [f"{m}: not evaluated" for m in missing])
    warn = derisk_halt and name == "kill_switch_clear" and not missing
    return dg.AssetCheckResult(
        check_name=name, passed=failed.empty and not missing, description=reason or "all rules passed",
        severity=dg.AssetCheckSeverity.WARN if warn else dg.AssetCheckSeverity.ERROR,
        metadata=metadata.entries({"date": str(day.date()), "reason": reason or "all rules passed",
                                   "rules": metadata.table(mine.set_index("check")[["passed", "detail"]])}),
    )


@dg.asset(key=TRADE_APPROVAL, deps=[TRADES], group_name="trading", kinds={"duckdb"}, partitions_def=MARKET_DATES,
          check_specs=[dg.AssetCheckSpec(name, asset=TRADE_APPROVAL, blocking=True, description=description)
                       for name, (_, description) in GATE_CHECKS.items()])
def trade_approval(context: dg.AssetExecutionContext, settings: TradepipeSettings):
    """The date's gate decision (trading.trade_approvals): approved only when every safety rule
    passed. Its blocking checks, judged on this date's rules, stop the paper book from moving
    otherwise, with the reason; the date's positions of an earlier decision are removed. A kill
    switch halted in 'derisk' mode with every other rule passed is the exception: its check warns
    and the approved sells move the book."""
    day = market_date(context)
    with settings.warehouse(read_only=True) as con:
        checks = decisions.safety_checks_on(con, day)
        orders = decisions.trades_on(con, day)
        switch = decisions.kill_switch_on(con, day)
    if checks.empty:
        raise ValueError(f"no safety checks for {day.date()}: materialize trading/trades first")
    if switch is None:
        raise ValueError(f"trading.kill_switch has no row for {day.date()}: materialize trading/trades first")
    failed = checks[~checks["passed"].astype(bool)]
    derisk_halt = (switch["mode"] == "derisk" and switch["status"] == "halted"
                   and failed["check"].isin(KILL_SWITCH_RULES).all())
    row = pd.DataFrame([{
        "approved": failed.empty, "orders": len(orders),
        "approved_orders": int((orders["status"] == "approved").sum()) if len(orders) else 0,
        "failed_checks": "; ".join(f"{r.check}: {r.detail}" for r in failed.itertuples()),
        "kill_switch": switch["status"], "kill_switch_mode": switch["mode"],
        "decided_at": pd.Timestamp.now(tz="UTC").tz_localize(None),
    }])
    with settings.warehouse() as con, transaction(con):
        decisions.write_stage(con, "approval", day, {"trading.trade_approvals": row})
    yield dg.MaterializeResult(metadata=metadata.entries({
        "date": str(day.date()), "approved": bool(failed.empty), "orders": len(orders),
        "failed_checks": dg.MetadataValue.json(failed[["check", "detail"]].to_dict("records")),
        **kill_switch_metadata(pd.Series(switch)),
    }))
    for name in GATE_CHECKS:
        yield gate_check(name, day, checks, derisk_halt)


@dg.asset(key=POSITIONS, deps=[TRADE_APPROVAL], group_name="trading", kinds={"duckdb"},
          partitions_def=MARKET_DATES, freshness_policy=DAILY_FRESHNESS)
def positions(context: dg.AssetExecutionContext, settings: TradepipeSettings, trading: TradingSettings) -> dg.MaterializeResult:
    """trading.positions and trading.paper_book after the date's approved trades (paper mode:
    filled at the decision close with the estimated costs). Runs only when the gate's blocking
    checks passed, or failed only as a warning (a 'derisk' kill-switch halt: its approved sells
    de-risk the book, its blocked buys change nothing)."""
    spec = trading.spec()
    day = market_date(context)
    with settings.warehouse(read_only=True) as con:
        book, last = decisions.book_before(con, day, spec.capital)
        orders = decisions.trades_on(con, day)
        close = marts.prices_on(con, day)["close"]
        prev_equity = decisions.equity_on(con, last) if last is not None else None
    if orders.empty:
        orders = orders.assign(status=pd.Series(dtype=str))
    after = apply_trades(book, orders, mode=trading.mode)
    marked_before = book.cash + book.holdings_value(close)
    holdings = after.holdings_value(close)
    equity = after.cash + holdings
    rows = after.shares.rename("shares").rename_axis("ticker").reset_index()
    rows = rows.assign(price=rows["ticker"].map(close),
                       value=lambda f: f["shares"] * f["price"], weight=lambda f: f["value"] / equity)
    paper = pd.DataFrame([{
        "cash": after.cash, "holdings_value": holdings, "equity": equity,
        "daily_return": (marked_before / prev_equity - 1.0) if prev_equity else float("nan"), "mode": trading.mode,
    }])
    with settings.warehouse() as con, transaction(con):
        decisions.write_stage(con, "positions", day, {"trading.positions": rows, "trading.paper_book": paper})
    return dg.MaterializeResult(metadata=metadata.entries({
        "date": str(day.date()), "names": len(rows), "cash": float(after.cash), "equity": float(equity),
        "positions": metadata.table(rows.set_index("ticker")[["shares", "price", "value", "weight"]]
                                    if len(rows) else pd.DataFrame({"positions": []})),
    }))
